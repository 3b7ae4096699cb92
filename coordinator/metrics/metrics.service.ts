import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { CoordinatorEvents } from '../events/coordinator-events.js';

/**
 * Prometheus metrics of the coordinator, fed from its events: rounds closed and their
 * duration, sites connected, bytes in and out, refusals by code, unauthenticated refusals. One registry per
 * coordinator, so several in one process (tests) do not collide.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  private roundOpenedAt: number | undefined;

  constructor(events: CoordinatorEvents) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'fedistill_process_' });
    const rounds = new Counter({
      name: 'fedistill_rounds_total',
      help: 'Rounds closed with a new model',
      registers,
    });
    const roundSeconds = new Histogram({
      name: 'fedistill_round_duration_seconds',
      help: 'Time from one round closing to the next (the first: from coordinator start)',
      buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 1800],
      registers,
    });
    const sites = new Gauge({
      name: 'fedistill_sites_connected',
      help: 'Sites with an open session in the run',
      registers,
    });
    const bytes = new Counter({
      name: 'fedistill_bytes_total',
      help: 'Protocol bytes (handshake and frames)',
      labelNames: ['direction'],
      registers,
    });
    const refusals = new Counter({
      name: 'fedistill_refusals_total',
      help: 'Sessions refused, by error code',
      labelNames: ['code'],
      registers,
    });
    const unauthenticated = new Counter({
      name: 'fedistill_unauthenticated_refusals_total',
      help: 'Traffic refused before authentication (the audit log holds only samples), by kind and code',
      labelNames: ['kind', 'code'],
      registers,
    });
    const student = new Gauge({
      name: 'fedistill_student_accuracy',
      help: 'Held-out accuracy of the global student after the last round',
      registers,
    });

    events.on('site', (presence) => sites.set(presence.connected));
    events.on('protocol', (event) => {
      bytes.inc({ direction: event.direction }, event.bytes);
      if (event.outcome === 'refused' && event.direction === 'out' && event.code)
        refusals.inc({ code: event.code });
    });
    events.on('unauthenticatedRefusal', ({ kind, code }) => unauthenticated.inc({ kind, code }));
    events.on('round', (summary) => {
      const now = performance.now();
      roundSeconds.observe((now - (this.roundOpenedAt ?? 0)) / 1000);
      this.roundOpenedAt = now;
      rounds.inc();
      student.set(summary.student_accuracy);
    });
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }
}
