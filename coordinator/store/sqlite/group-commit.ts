import type Database from 'better-sqlite3';
import { FedistillError } from '../../../protocol/index.js';

interface Change {
  readonly apply: () => unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/** Changes one commit holds at most. */
const MAX_BATCH = 128;

/**
 * Group commit: the changes asked for in one tick of the event loop commit in one transaction,
 * so a round's hundreds of updates and audit entries cost one fsync, not one each, and the
 * event loop is not held by a queue of synchronous commits. Each change runs in a savepoint
 * of its own: one that throws is rolled back and rejected alone. None settles before the
 * transaction commits, so whatever a caller acknowledges after awaiting is on disk.
 */
export class GroupCommit {
  private pending: Change[] = [];
  private fenceCheck: (() => void) | undefined;
  /** Reads asked for while changes were pending: run once those commit. */
  private waiting: (() => void)[] = [];

  constructor(private readonly db: Database.Database) {}

  /** Queues a change to the next commit; settles with its result once committed. */
  change<T>(apply: () => T, options: { fenced?: boolean } = {}): Promise<T> {
    if (this.pending.length === 0) setImmediate(() => this.commit());
    return new Promise<T>((resolve, reject) => {
      const fenced = options.fenced ?? false;
      this.pending.push({
        apply: () => {
          if (fenced) this.fenceCheck?.();
          return apply();
        },
        resolve: resolve as (value: unknown) => void,
        reject,
      });
    });
  }

  /**
   * Runs a read once the changes asked for before it are committed, so that a caller reads
   * its own writes whether or not it waited for them.
   */
  read<T>(query: () => T): Promise<T> {
    if (this.pending.length === 0) return Promise.resolve().then(query);
    return new Promise<T>((resolve, reject) => {
      this.waiting.push(() => {
        try {
          resolve(query());
        } catch (error) {
          reject(error);
        }
      });
    });
  }

  /** Fenced changes from now on commit only while `name` is still at `epoch`. */
  fence(lease: { name: string; epoch: number } | undefined): void {
    if (!lease) {
      this.fenceCheck = undefined;
      return;
    }
    const read = this.db.prepare('SELECT epoch FROM leases WHERE name = ?').pluck();
    this.fenceCheck = () => {
      const epoch = read.get(lease.name) as number | undefined;
      if (epoch !== lease.epoch) {
        throw new FedistillError({
          code: 'store.fenced',
          message: `lease ${lease.name} is at epoch ${epoch ?? 'none'}, not ${lease.epoch}: another node holds it`,
        });
      }
    };
  }

  /** Commits everything queued now (at close). */
  flush(): void {
    do this.commit();
    while (this.pending.length > 0);
  }

  /**
   * Commits what is queued, MAX_BATCH at a time: run by the tick that queued the first change,
   * and again by the next tick while changes remain. Each commit holds the event loop (the
   * driver is synchronous) for its statements and one fsync, so a capped batch caps the stall.
   */
  private commit(): void {
    const batch = this.pending.splice(0, MAX_BATCH);
    if (this.pending.length > 0) setImmediate(() => this.commit());
    // Reads wait until every change asked before them has committed.
    const reads = this.pending.length === 0 ? this.waiting.splice(0) : [];
    if (batch.length === 0) return reads.forEach((read) => read());
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    try {
      // IMMEDIATE: take the write lock first, so a read inside never meets another process's
      // newer commit (a deferred transaction would fail to upgrade then).
      this.db
        .transaction(() => {
          for (const change of batch) {
            try {
              outcomes.push({ ok: true, value: this.db.transaction(change.apply)() });
            } catch (error) {
              outcomes.push({ ok: false, error });
            }
          }
        })
        .immediate();
    } catch (error) {
      const failed = new FedistillError({
        code: 'store.unavailable',
        message: `the store could not commit: ${(error as Error).message}`,
      });
      for (const change of batch) change.reject(failed);
      return reads.forEach((read) => read());
    }
    batch.forEach((change, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) change.resolve(outcome.value);
      else change.reject(outcome.error);
    });
    reads.forEach((read) => read());
  }
}
