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

/**
 * The store's one pool and its fence: every part's statements and transactions go through it.
 * Changes run one at a time, in the order asked (the pool would otherwise let a later change
 * commit first: a run's state set twice in a row could end at the first), and a read waits for
 * the changes asked before it. Lease statements take neither turn: a renewal must not wait
 * behind a queue of writes while its lease runs out.
 */
export class PostgresDatabase {
  private fenced: FenceLease | undefined;
  private closing: Promise<void> | undefined;
  /** The last change asked for, settled or not. */
  private tail: Promise<unknown> = Promise.resolve();

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
    return this.inTurn(() => this.unordered<Row>(what, text, values));
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
   * Runs `work` in one transaction. A fenced one (changes to runs, rounds, updates and the
   * audit log) first takes the fence's lease row FOR SHARE: a successor's takeover waits until
   * this commits, and once it has taken over, this is refused with `store.fenced`.
   */
  transaction<T>(
    what: string,
    options: { fenced: boolean },
    work: (client: Queryable) => Promise<T>,
  ): Promise<T> {
    return this.inTurn(() => this.runTransaction(what, options, work));
  }

  private inTurn<T>(work: () => Promise<T>): Promise<T> {
    const run = this.tail.then(work);
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async runTransaction<T>(
    what: string,
    options: { fenced: boolean },
    work: (client: Queryable) => Promise<T>,
  ): Promise<T> {
    const fence = options.fenced ? this.fenced : undefined;
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw storeError(what, error);
    }
    // A connection lost mid-transaction fails the statement in flight, and is not reused; its
    // error event, with no listener, would also end the process.
    let broken: Error | undefined;
    const onError = (error: Error) => (broken = error);
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      if (fence) await checkFence(client, fence);
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      // A connection that cannot even roll back is dropped from the pool, not reused.
      await client.query('ROLLBACK').catch((rollback: Error) => (broken = rollback));
      throw storeError(what, error);
    } finally {
      client.removeListener('error', onError);
      client.release(broken);
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
