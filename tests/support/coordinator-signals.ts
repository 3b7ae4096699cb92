import type { AuditEvent, CoordinatorEvents } from '../../coordinator/events/coordinator-events.js';

/**
 * Resolves once each of `sites` has been marked ready in the run: the coordinator audits
 * `softlabels.served` for it. It does so in the same synchronous step that would open a round,
 * so whoever awaits this resumes after the coordinator has decided whether one opens. Call it
 * before the sites start: it sees only events emitted after the call.
 */
export function sitesReady(events: CoordinatorEvents, sites: readonly string[]): Promise<void> {
  const waiting = new Set(sites);
  return new Promise((resolve) => {
    const check = (event: AuditEvent): void => {
      if (event.event !== 'softlabels.served' || typeof event.site !== 'string') return;
      waiting.delete(event.site);
      if (waiting.size > 0) return;
      events.off('audit', check);
      resolve();
    };
    events.on('audit', check);
  });
}

/** Every audit event the coordinator emits from now on, in order. */
export function auditTrail(events: CoordinatorEvents): AuditEvent[] {
  const trail: AuditEvent[] = [];
  events.on('audit', (event) => trail.push(event));
  return trail;
}
