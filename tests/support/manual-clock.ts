import type { Clock } from '../../coordinator/runs/clock.js';

interface Timer {
  readonly at: number;
  /** Order of arming: timers due at the same moment fire in the order they were armed. */
  readonly seq: number;
  readonly fire: () => void;
}

/**
 * A clock that only moves when a test moves it: `advance` fires every timer that falls due,
 * in order of its due time, with `now()` set to that time while it fires. Timers armed by a
 * firing timer fire in the same `advance` if they fall due within it. Nothing here ever waits.
 */
export class ManualClock implements Clock {
  private time: number;
  private seq = 0;
  private timers: Timer[] = [];

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  after(ms: number, fire: () => void): () => void {
    const timer: Timer = { at: this.time + Math.max(0, ms), seq: this.seq++, fire };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((t) => t !== timer);
    };
  }

  /** Moves time forward by `ms`, firing what falls due on the way. */
  advance(ms: number): void {
    const until = this.time + ms;
    for (;;) {
      const due = this.timers
        .filter((t) => t.at <= until)
        .sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.time = due.at;
      due.fire();
    }
    this.time = until;
  }

  /** Timers armed and not yet fired or cancelled. */
  get pending(): number {
    return this.timers.length;
  }
}
