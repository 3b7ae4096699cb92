import { Logger } from '@nestjs/common';
import {
  decodeSiteMessage,
  fail,
  ok,
  encodeMessage,
  toHex,
  type BlobManifest,
  type CoordinatorMessage,
  type Result,
  type ErrorCode,
} from '../../protocol/index.js';
import type { SiteSessionHost } from '../gateway/site-session-host.js';
import type { SiteChannel } from '../runs/site-channel.js';
import type {
  AttemptRef,
  EdgePartials,
  FoldAttempt,
  RawPartial,
} from '../runs/round/edge-partials.js';
import type { EdgeFolded } from '../runs/round/round-fold.js';
import type { Envelope, NodeBus } from './node-bus.js';

const logger = new Logger('EdgeSessions');

/** Messages queued for one edge beyond which a blob transfer waits for the bus to catch up. */
const BACKLOG_MESSAGES = 64;

/** A site session an edge node holds, as the leader's runs see it. */
class RemoteChannel implements SiteChannel {
  private closed = false;
  private readonly closeListeners: (() => void)[] = [];
  /**
   * The update blob the edge pulled last, or the attempt it folded it into, until the runs take
   * it (a site has one update at a time).
   */
  private pulled: { hash: string; blob: Result<Uint8Array> | { folded: number } } | undefined;

  constructor(
    private readonly bus: NodeBus,
    readonly edge: string,
    private readonly session: string,
    readonly site: string,
    private readonly left: (channel: RemoteChannel) => void,
  ) {}

  send(message: CoordinatorMessage): void {
    if (this.closed) return;
    this.bus.send(this.edge, { t: 'send', session: this.session, body: encodeMessage(message) });
  }

  refuse(code: ErrorCode, detail: string): void {
    if (this.closed) return;
    logger.warn(`refusing ${this.site} on ${this.edge}: ${code} (${detail})`);
    this.bus.send(this.edge, { t: 'refuse', session: this.session, code });
    this.close();
  }

  /** Keeps what the edge did with the site's update blob, for the update it comes with. */
  prefetch(hash: Uint8Array, blob: Extract<Envelope, { t: 'update' }>['pulled']): void {
    this.pulled = { hash: toHex(hash), blob };
  }

  prefetched(manifest: BlobManifest): Result<Uint8Array> | undefined {
    const pulled = this.pulled;
    if (pulled?.hash !== toHex(manifest.hash) || 'folded' in pulled.blob) return undefined;
    this.pulled = undefined;
    return pulled.blob;
  }

  foldedAtEdge(manifest: BlobManifest): EdgeFolded | undefined {
    const pulled = this.pulled;
    if (pulled?.hash !== toHex(manifest.hash) || !('folded' in pulled.blob)) return undefined;
    this.pulled = undefined;
    return { edge: this.edge, attempt: pulled.blob.folded };
  }

  backlogged(): boolean {
    return this.bus.pending(this.edge) > BACKLOG_MESSAGES;
  }

  onDrain(resume: () => void): void {
    if (!this.closed) this.bus.onFlushed(resume);
  }

  onClose(closed: () => void): void {
    if (this.closed) closed();
    else this.closeListeners.push(closed);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pulled = undefined;
    this.left(this);
    for (const listener of this.closeListeners.splice(0)) listener();
  }
}

/**
 * The leader's side of the sessions edge nodes hold: each becomes a channel of the runs here,
 * exactly as a socket on this node would. An edge that has not beaten for `silentMs` is taken
 * for dead, and its sessions end as dropped connections do: the sites reconnect elsewhere.
 * It is also how the runs reach the edges' partial sums: it announces each plain attempt's
 * terms to every live edge, and gathers an edge's sum at the attempt's close, giving up after
 * `silentMs` or when the edge is taken for dead (the runs then refold from the store).
 */
export class EdgeSessions implements EdgePartials {
  private readonly channels = new Map<string, RemoteChannel>();
  private readonly lastBeat = new Map<string, number>();
  /** Gathers waiting for an edge's answer, by edge and attempt. */
  private readonly gathering = new Map<
    string,
    { readonly edge: string; readonly answer: (partial: Result<RawPartial>) => void }
  >();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly bus: NodeBus,
    private readonly host: SiteSessionHost,
    private readonly silentMs: number,
  ) {
    bus.onMessage((from, envelope) => this.fromEdge(from, envelope));
    this.timer = setInterval(() => this.dropSilentEdges(), Math.max(50, silentMs / 3));
    this.timer.unref();
  }

  private fromEdge(edge: string, envelope: Envelope): void {
    this.lastBeat.set(edge, Date.now());
    const key = `${edge} ${'session' in envelope ? envelope.session : ''}`;
    switch (envelope.t) {
      case 'join': {
        const channel = new RemoteChannel(this.bus, edge, envelope.session, envelope.site, (c) =>
          this.left(key, c),
        );
        this.channels.set(key, channel);
        const joined = this.host.siteJoined(channel);
        if (!joined.ok) return channel.refuse(joined.error.code, joined.error.message);
        if (joined.value) channel.send(joined.value);
        return;
      }
      case 'site':
      case 'update': {
        const channel = this.channels.get(key);
        if (!channel) return;
        const message = decodeSiteMessage(envelope.body);
        if (!message.ok) return channel.refuse(message.error.code, message.error.message);
        if (envelope.t === 'update' && message.value.type === 'round.update') {
          channel.prefetch(message.value.delta.hash, envelope.pulled);
        }
        const handled = this.host.handle(channel, message.value);
        if (!handled.ok) return channel.refuse(handled.error.code, handled.error.message);
        if (message.value.type === 'site.leave') channel.close();
        return;
      }
      case 'left':
        return this.channels.get(key)?.close();
      case 'beat':
        return;
      case 'partial':
        return this.gathering.get(`${edge} ${gatherKey(envelope)}`)?.answer(partialOf(envelope));
      default:
        logger.error(`an edge sent the leader ${envelope.t}`);
    }
  }

  private left(key: string, channel: RemoteChannel): void {
    if (this.channels.get(key) === channel) this.channels.delete(key);
    this.host.siteLeft(channel);
  }

  private dropSilentEdges(): void {
    const now = Date.now();
    for (const [edge, at] of this.lastBeat) {
      if (now - at < this.silentMs) continue;
      this.lastBeat.delete(edge);
      const held = [...this.channels.values()].filter((c) => c.edge === edge);
      logger.warn(`edge ${edge} is silent; its ${held.length} sessions end`);
      for (const channel of held) channel.close();
      for (const waiting of this.gathering.values()) {
        if (waiting.edge === edge) waiting.answer(fail('session.closed', `edge ${edge} is silent`));
      }
    }
  }

  announce(fold: FoldAttempt): void {
    for (const edge of this.lastBeat.keys()) this.bus.send(edge, { t: 'fold', ...fold });
  }

  gather(edge: string, attempt: AttemptRef, sites: readonly string[]): Promise<Result<RawPartial>> {
    const key = `${edge} ${gatherKey(attempt)}`;
    if (!this.lastBeat.has(edge)) {
      return Promise.resolve(fail('session.closed', `edge ${edge} is gone`));
    }
    return new Promise((resolve) => {
      const timer = setTimeout(
        () => answer(fail('session.closed', `edge ${edge} did not answer`)),
        this.silentMs,
      );
      const answer = (partial: Result<RawPartial>): void => {
        clearTimeout(timer);
        this.gathering.delete(key);
        resolve(partial);
      };
      this.gathering.set(key, { edge, answer });
      const { runId, round, attempt: n } = attempt;
      this.bus.send(edge, { t: 'gather', runId, round, attempt: n, sites: [...sites] });
    });
  }

  close(): void {
    clearInterval(this.timer);
    for (const waiting of this.gathering.values()) {
      waiting.answer(fail('session.closed', 'this node stops leading'));
    }
  }
}

function gatherKey({ runId, round, attempt }: AttemptRef): string {
  return `${runId} ${round} ${attempt}`;
}

/** An edge's answer to a gather; the fold that asked decodes the sum. */
function partialOf(envelope: Extract<Envelope, { t: 'partial' }>): Result<RawPartial> {
  const { partial } = envelope;
  if ('missing' in partial) return fail('session.closed', partial.missing);
  return ok({ bytes: partial.sum, entries: partial.entries });
}
