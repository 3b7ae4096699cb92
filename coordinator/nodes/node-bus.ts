import { Logger } from '@nestjs/common';
import { decode, encode } from '@msgpack/msgpack';
import pg from 'pg';
import { z } from 'zod';
import { ERROR_CODES, FedistillError } from '../../protocol/index.js';

/** The one NOTIFY channel: its payload names the node that has messages waiting. */
const CHANNEL = 'fedistill_nodes';
/** Bytes of messages one statement carries; the rest go in the next. */
const MAX_BATCH_BYTES = 4 * 1024 * 1024;
/** Messages taken from the table per statement. */
const TAKE_LIMIT = 500;
/** Messages handled in one turn of the event loop. */
const DELIVER_SLICE = 50;
/** Messages nobody took (their recipient died) are deleted after this long. */
const STALE_AFTER = '10 minutes';

const session = z.string().min(1).max(64);
const body = z.custom<Uint8Array>((value) => value instanceof Uint8Array, 'bytes');
const siteName = z.string().min(1).max(64);
const attemptRef = {
  runId: z.string().min(1).max(64),
  round: z.number().int().min(1),
  attempt: z.number().int().min(0),
};
const termsSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('bounded'),
      reference: z.object({ medianNorm: z.number(), medianExamples: z.number() }).strict(),
      limit: z.discriminatedUnion('kind', [
        z.object({ kind: z.literal('median-ratio'), ratio: z.number() }).strict(),
        z.object({ kind: z.literal('fixed'), maxNorm: z.number() }).strict(),
      ]),
    })
    .strict(),
  z.object({ kind: z.literal('clipped'), clipNorm: z.number() }).strict(),
  z.object({ kind: z.literal('masked'), dimension: z.number().int().min(1) }).strict(),
]);

/**
 * What coordinator nodes tell each other. An edge node holds site sessions for the leader: it
 * reports a session that joined, each message the site sent (encoded as on the wire, and parsed
 * again by the leader), and a session that ended; the leader answers with messages to seal and
 * send, or a refusal. Edges beat so the leader knows their sessions are still there. For a plain
 * attempt the leader sends the terms its updates fold under, and at its close gathers each
 * edge's partial sum.
 */
export const envelopeSchema = z.discriminatedUnion('t', [
  z.object({ t: z.literal('join'), session, site: z.string().min(1).max(64) }).strict(),
  z.object({ t: z.literal('site'), session, body }).strict(),
  /**
   * A round.update with the blob the edge already pulled from its site, or the code of why
   * that pull failed (the leader refuses the update with it, as after a pull of its own).
   */
  z
    .object({
      t: z.literal('update'),
      session,
      body,
      pulled: z.union([
        z.object({ ok: z.literal(true), value: body }).strict(),
        /** Folded into the edge's partial sum of this attempt, its bytes staged in the store. */
        z.object({ ok: z.literal(true), folded: z.number().int().min(0) }).strict(),
        z
          .object({
            ok: z.literal(false),
            error: z.object({ code: z.enum(ERROR_CODES), message: z.string().max(1000) }).strict(),
          })
          .strict(),
      ]),
    })
    .strict(),
  z.object({ t: z.literal('left'), session }).strict(),
  z.object({ t: z.literal('beat') }).strict(),
  z.object({ t: z.literal('send'), session, body }).strict(),
  z.object({ t: z.literal('refuse'), session, code: z.enum(ERROR_CODES) }).strict(),
  /** An attempt's terms: edges fold its updates into partial sums (hierarchical aggregation). */
  z
    .object({
      t: z.literal('fold'),
      ...attemptRef,
      modelVersion: z.number().int().min(0),
      modelHash: z.string().regex(/^[0-9a-f]{64}$/),
      terms: termsSchema,
      maxExamples: z.number().int().min(1).optional(),
    })
    .strict(),
  /** The leader asks for the partial sum of exactly these sites' updates. */
  z.object({ t: z.literal('gather'), ...attemptRef, sites: z.array(siteName) }).strict(),
  /** The partial sum (a float32 tensor blob, or masked uint32 values) and its entries, or why not. */
  z
    .object({
      t: z.literal('partial'),
      ...attemptRef,
      partial: z.union([
        z
          .object({
            sum: body,
            entries: z.array(
              z
                .object({ site: siteName, norm: z.number(), numExamples: z.number().int() })
                .strict(),
            ),
          })
          .strict(),
        z.object({ missing: z.string().max(1000) }).strict(),
      ]),
    })
    .strict(),
]);
export type Envelope = z.infer<typeof envelopeSchema>;

interface Outgoing {
  readonly to: string;
  readonly body: Uint8Array;
}

/**
 * Messages between coordinator nodes through the PostgreSQL they share: each is a row of
 * `node_messages`, inserted in batches (one statement per batch, which also NOTIFYs the
 * recipients at its commit) and taken, in order, by its recipient when it is woken. A sender
 * has one batch in flight at a time, so one sender's messages reach a recipient in the order
 * sent. The table, not the NOTIFY payload, carries the message: payloads are capped at 8,000
 * bytes and lost while a listener is reconnecting, rows are not.
 */
export class NodeBus {
  private readonly logger = new Logger('NodeBus');
  private readonly pool: pg.Pool;
  private readonly listener: pg.Client;
  private readonly queue: Outgoing[] = [];
  /** How many of `queue` go to each node: asked per blob chunk a leader sends, so counted. */
  private readonly queued = new Map<string, number>();
  private flushing: Promise<void> | undefined;
  private readonly flushed: (() => void)[] = [];
  private taking = false;
  private wokenAgain = false;
  private closed = false;
  private handler: (from: string, envelope: Envelope) => void = () => undefined;
  /** Settles when the bus can no longer send or receive: the node must stop. */
  readonly failed: Promise<Error>;
  private fail!: (error: Error) => void;

  private constructor(
    url: string,
    readonly node: string,
  ) {
    this.pool = new pg.Pool({ connectionString: url, max: 2 });
    this.pool.on('error', () => undefined);
    this.listener = new pg.Client({ connectionString: url });
    this.failed = new Promise((resolve) => (this.fail = resolve));
  }

  /** Connects and listens; messages already waiting for `node` are taken at once. */
  static async open(url: string, node: string): Promise<NodeBus> {
    const bus = new NodeBus(url, node);
    try {
      await bus.listener.connect();
      bus.listener.on('error', (error) =>
        bus.stop(`the listening connection failed: ${error.message}`),
      );
      bus.listener.on('end', () => bus.stop('the listening connection ended'));
      bus.listener.on('notification', (note) => {
        if (note.channel === CHANNEL && note.payload === node) bus.take();
      });
      await bus.listener.query(`LISTEN ${CHANNEL}`);
      await bus.pool.query(
        `DELETE FROM node_messages WHERE sent_at < now() - interval '${STALE_AFTER}'`,
      );
    } catch (error) {
      await bus.close();
      throw new FedistillError({
        code: 'store.unavailable',
        message: `the node bus could not start: ${(error as Error).message}`,
      });
    }
    return bus;
  }

  /** Records where this node serves HTTP, for the others to forward requests to it. */
  async announce(url: string): Promise<void> {
    await this.pool.query(
      `INSERT INTO node_addresses (node, url) VALUES ($1, $2)
       ON CONFLICT (node) DO UPDATE SET url = excluded.url, announced_at = now()`,
      [this.node, url],
    );
  }

  /** Where `node` serves HTTP, if it said. */
  async addressOf(node: string): Promise<string | undefined> {
    const { rows } = await this.pool.query<{ url: string }>(
      'SELECT url FROM node_addresses WHERE node = $1',
      [node],
    );
    return rows[0]?.url;
  }

  /** Where envelopes for this node go; set once, before anything is expected. */
  onMessage(handler: (from: string, envelope: Envelope) => void): void {
    this.handler = handler;
    this.take();
  }

  send(to: string, envelope: Envelope): void {
    if (this.closed) return;
    this.queue.push({ to, body: encode(envelope, { ignoreUndefined: true }) });
    this.queued.set(to, (this.queued.get(to) ?? 0) + 1);
    if (!this.flushing) this.flushing = this.flushSoon();
  }

  /** Messages not yet handed to the database for `to`. */
  pending(to: string): number {
    return this.queued.get(to) ?? 0;
  }

  /** Calls `done` after the next batch commits. */
  onFlushed(done: () => void): void {
    if (!this.flushing) queueMicrotask(done);
    else this.flushed.push(done);
  }

  private async flushSoon(): Promise<void> {
    // Whatever this tick asks for goes in the same statement.
    await new Promise((resolve) => setImmediate(resolve));
    try {
      while (this.queue.length > 0 && !this.closed) {
        let bytes = 0;
        let count = 0;
        while (count < this.queue.length && (count === 0 || bytes < MAX_BATCH_BYTES)) {
          bytes += this.queue[count]!.body.length;
          count++;
        }
        const batch = this.queue.splice(0, count);
        for (const { to } of batch) {
          const left = this.queued.get(to)! - 1;
          if (left === 0) this.queued.delete(to);
          else this.queued.set(to, left);
        }
        await this.pool.query(
          `WITH sent AS (
             INSERT INTO node_messages (to_node, from_node, body)
             SELECT m.to_node, $3, m.body
             FROM unnest($1::text[], $2::bytea[]) WITH ORDINALITY AS m(to_node, body, n)
             ORDER BY m.n
             RETURNING to_node)
           SELECT pg_notify('${CHANNEL}', to_node) FROM (SELECT DISTINCT to_node FROM sent) AS d`,
          [batch.map((m) => m.to), batch.map((m) => Buffer.from(m.body)), this.node],
        );
        for (const done of this.flushed.splice(0)) done();
      }
    } catch (error) {
      this.stop(`messages could not be sent: ${(error as Error).message}`);
    } finally {
      this.flushing = undefined;
      for (const done of this.flushed.splice(0)) done();
    }
  }

  /** Takes this node's waiting messages, in the order sent; one taker at a time. */
  private take(): void {
    if (this.closed) return;
    if (this.taking) {
      this.wokenAgain = true;
      return;
    }
    this.taking = true;
    void (async () => {
      try {
        do {
          this.wokenAgain = false;
          let rows: { seq: string; from_node: string; body: Buffer }[];
          do {
            ({ rows } = await this.pool.query(
              `DELETE FROM node_messages WHERE seq IN (
                 SELECT seq FROM node_messages WHERE to_node = $1 ORDER BY seq LIMIT ${TAKE_LIMIT})
               RETURNING seq::text, from_node, body`,
              [this.node],
            ));
            rows.sort((a, b) => (BigInt(a.seq) < BigInt(b.seq) ? -1 : 1));
            for (const [i, row] of rows.entries()) {
              // Other work gets the event loop between slices of a large take.
              if (i > 0 && i % DELIVER_SLICE === 0) await new Promise(setImmediate);
              if (this.closed) return;
              this.deliver(row.from_node, row.body);
            }
          } while (rows.length === TAKE_LIMIT && !this.closed);
        } while (this.wokenAgain && !this.closed);
      } catch (error) {
        this.stop(`messages could not be taken: ${(error as Error).message}`);
      } finally {
        this.taking = false;
      }
    })();
  }

  private deliver(from: string, bytes: Buffer): void {
    let envelope: Envelope;
    try {
      const parsed = envelopeSchema.safeParse(decode(bytes));
      if (!parsed.success) throw new Error(parsed.error.issues[0]?.message ?? 'not an envelope');
      envelope = parsed.data;
    } catch (error) {
      // Only coordinator nodes write this table; a message that does not parse is a bug there.
      this.logger.error(`dropped a message from ${from}: ${(error as Error).message}`);
      return;
    }
    this.handler(from, envelope);
  }

  private stop(reason: string): void {
    if (this.closed) return;
    this.logger.error(`node bus stopped: ${reason}`);
    this.fail(new FedistillError({ code: 'store.unavailable', message: reason }));
    void this.close();
  }

  /** Sends what is queued, then disconnects. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.flushing;
    this.closed = true;
    // A node killed leaves its row: names are never reused, so it only costs the row.
    await this.pool
      .query('DELETE FROM node_addresses WHERE node = $1', [this.node])
      .catch(() => undefined);
    await this.listener.end().catch(() => undefined);
    await this.pool.end().catch(() => undefined);
  }
}
