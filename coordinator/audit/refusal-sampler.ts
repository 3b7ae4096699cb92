import type { AuditEvent, UnauthenticatedRefusal } from '../events/coordinator-events.js';

/**
 * Turns refusals of unauthenticated traffic into a few audit entries: per window, one entry per
 * kind and code with how many there were. The codes are a closed set, so a flood of any size
 * costs a bounded number of entries (the metrics count each refusal).
 */
export class RefusalSampler {
  private readonly counts = new Map<string, UnauthenticatedRefusal & { count: number }>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly windowMs: number,
    private readonly write: (event: AuditEvent) => void,
  ) {}

  count(refusal: UnauthenticatedRefusal): void {
    const key = `${refusal.kind} ${refusal.code}`;
    const seen = this.counts.get(key);
    if (seen) seen.count += 1;
    else this.counts.set(key, { ...refusal, count: 1 });
    if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.windowMs);
      this.timer.unref();
    }
  }

  /** Writes the window's entries now (its end, or shutdown). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const { kind, code, count } of this.counts.values()) {
      this.write({ event: 'unauthenticated.refused', kind, code, count, windowMs: this.windowMs });
    }
    this.counts.clear();
  }
}
