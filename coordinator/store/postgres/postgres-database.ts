import pg from 'pg';
import { FedistillError } from '../../../protocol/index.js';

/** What a statement runs on: the pool (one statement) or a transaction's client. */
export type Queryable = Pick<pg.ClientBase, 'query'>;

/** The lease a fenced change must still be at (`CoordinatorStore.fence`). */
export interface FenceLease {
  readonly name: string;
  readonly epoch: number;
}

/**
 * The time now, by the server's clock, as ISO-8601 UTC text with milliseconds: the format of
 * the SQLite store's times, so that both compare as text in time order. `now()` is the
 * transaction's start, so one transaction's rows share one time.
 */
export const NOW_ISO = `to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/** Changes one commit holds at most. */
const MAX_BATCH = 512;

/** A change asked for and not yet committed. */
interface Change {
  readonly what: string;
  readonly fenced: boolean;
  readonly work: (client: Queryable) => Promise<unknown>;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: FedistillError) => void;
}

/**
 * The store's one pool and its fence: every part's statements and transactions go through it.
 * Changes run in the order asked (the pool would otherwise let a later change commit first: a
 * run's state set twice in a row could end at the first), and a read waits for the changes
 * asked before it. The changes asked while the previous commit was in flight, or in one tick,
 * commit together (group commit): one transaction, each change in a savepoint of its own so
 * that one that fails is rejected alone, and each settled only once the whole has committed.
 * Lease statements take no turn: a renewal must not wait behind a queue of writes while its
 * lease runs out.
 */
export class PostgresDatabase {
  private fenced: FenceLease | undefined;
  private closing: Promise<void> | undefined;
  /** The last change asked for, settled or not. */
  private tail: Promise<unknown> = Promise.resolve();
  private queue: Change[] = [];
  private committing = false;

  constructor(private readonly pool: pg.Pool) {}

  fence(lease: FenceLease | undefined): void {
    this.fenced = lease && { name: lease.name, epoch: lease.epoch };
  }

  /** A read: one statement, once the changes asked before it are done; `what` names it in errors. */
  async query<Row>(what: string, text: string, values: unknown[] = []): Promise<Row[]> {
    await this.tail;
    return this.unordered(what, text, values);
  }

  /** One change of one statement, in its turn. */
  change<Row>(what: string, text: string, values: unknown[] = []): Promise<Row[]> {
    return this.inTurn(
      what,
      false,
      async (client) => (await client.query(text, values)).rows as Row[],
    );
  }

  /** One statement now, whatever else is asked or in flight (leases). */
  async unordered<Row>(what: string, text: string, values: unknown[] = []): Promise<Row[]> {
    try {
      return (await this.pool.query(text, values)).rows as Row[];
    } catch (error) {
      throw storeError(what, error);
    }
  }

  /**
   * Runs `work` as one change: all of it commits or none. A fenced one (changes to runs,
   * rounds, updates and the audit log) first takes the fence's lease row FOR SHARE: a
   * successor's takeover waits until this commits, and once it has taken over, this is refused
   * with `store.fenced`.
   */
  transaction<T>(
    what: string,
    options: { fenced: boolean },
    work: (client: Queryable) => Promise<T>,
  ): Promise<T> {
    return this.inTurn(what, options.fenced, work);
  }

  private inTurn<T>(
    what: string,
    fenced: boolean,
    work: (client: Queryable) => Promise<T>,
  ): Promise<T> {
    const done = new Promise<T>((resolve, reject) =>
      this.queue.push({ what, fenced, work, resolve: resolve as (value: unknown) => void, reject }),
    );
    this.tail = done.catch(() => undefined);
    if (!this.committing) {
      this.committing = true;
      // What the rest of this tick asks for joins the first commit.
      setImmediate(() => void this.commitQueued());
    }
    return done;
  }

  private async commitQueued(): Promise<void> {
    while (this.queue.length > 0) await this.commit(this.queue.splice(0, MAX_BATCH));
    this.committing = false;
  }

  /** Commits `batch` in one transaction; settles each change once the commit is known. */
  private async commit(batch: Change[]): Promise<void> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      for (const change of batch) change.reject(storeError(change.what, error));
      return;
    }
    // A connection lost mid-transaction fails the statement in flight, and is not reused; its
    // error event, with no listener, would also end the process.
    let broken: Error | undefined;
    const onError = (error: Error) => (broken = error);
    client.on('error', onError);
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: FedistillError })[] = [];
    // The fence checked in this transaction: its lease row is held FOR SHARE until the commit
    // (a lock taken in a savepoint rolled back to is let go, so only a kept change's counts).
    let held: FenceLease | undefined;
    const alone = batch.length === 1;
    try {
      await client.query('BEGIN');
      for (const change of batch) {
        const fence = change.fenced ? this.fenced : undefined;
        if (!alone) await client.query('SAVEPOINT change');
        try {
          const check = fence && (held?.name !== fence.name || held.epoch !== fence.epoch);
          if (check) await checkFence(client, fence);
          const value = await change.work(client);
          if (!alone) await client.query('RELEASE SAVEPOINT change');
          if (check) held = fence;
          outcomes.push({ ok: true, value });
        } catch (error) {
          if (alone) throw error;
          await client.query('ROLLBACK TO SAVEPOINT change');
          outcomes.push({ ok: false, error: storeError(change.what, error) });
        }
      }
      await client.query('COMMIT');
    } catch (error) {
      // A connection that cannot even roll back is dropped from the pool, not reused.
      await client.query('ROLLBACK').catch((rollback: Error) => (broken = rollback));
      for (const change of batch) change.reject(storeError(change.what, error));
      return;
    } finally {
      client.removeListener('error', onError);
      client.release(broken);
    }
    for (const [i, change] of batch.entries()) {
      const outcome = outcomes[i]!;
      if (outcome.ok) change.resolve(outcome.value);
      else change.reject(outcome.error);
    }
  }

  /** One change to runs, rounds, updates or the audit log: fenced when a fence is set. */
  async fencedQuery<Row>(what: string, text: string, values: unknown[] = []): Promise<Row[]> {
    if (!this.fenced) return this.change(what, text, values);
    return this.transaction(
      what,
      { fenced: true },
      async (client) => (await client.query(text, values)).rows as Row[],
    );
  }

  /** Ends the pool once, however often it is asked (the pool refuses a second end). */
  close(): Promise<void> {
    return (this.closing ??= this.pool.end());
  }
}

async function checkFence(client: Queryable, fence: FenceLease): Promise<void> {
  const { rows } = await client.query<{ epoch: number }>(
    'SELECT epoch FROM leases WHERE name = $1 FOR SHARE',
    [fence.name],
  );
  const epoch = rows[0]?.epoch;
  if (epoch !== fence.epoch) {
    throw new FedistillError({
      code: 'store.fenced',
      message: `lease ${fence.name} is at epoch ${epoch ?? 'none'}, not ${fence.epoch}: another node holds it`,
    });
  }
}

/** Our own errors as they are; the driver's as `store.unavailable`, naming what failed. */
export function storeError(what: string, error: unknown): FedistillError {
  if (error instanceof FedistillError) return error;
  return new FedistillError({
    code: 'store.unavailable',
    message: `${what} failed: ${error instanceof Error ? error.message : String(error)}`,
  });
}
