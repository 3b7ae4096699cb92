import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import {
  decodeCoordinatorMessage,
  encodeMessage,
  maxUpdateBytes,
  ok,
  toHex,
  type BlobManifest,
  type FedistillIssue,
  type Result,
  type RoundUpdate,
  type RunWelcome,
  type SiteMessage,
} from '../../protocol/index.js';
import { SiteSessionHost } from '../gateway/site-session-host.js';
import type { SiteChannel } from '../runs/site-channel.js';
import type { TransferService } from '../transfer/transfer.service.js';
import type { EdgeFolds } from './edge-folds.js';
import type { Envelope, NodeBus } from './node-bus.js';

/** Blobs served from the store at once: a round's model and mask, and the previous round's. */
const SERVED_BLOBS = 4;
/**
 * An update pull with no chunk for this long ends as `update.withheld`, which the leader refuses
 * and logs: the default of a run's `updateIdleMs`, which an edge does not learn.
 */
const EDGE_PULL_IDLE_MS = 30_000;

/**
 * An edge node's side of its sessions: sites complete the handshake here and their messages
 * are relayed to the leader, which runs the federation; what the leader sends back is sealed
 * and sent here. The leader is whoever holds the lease now. When that changes, every session
 * held for the old one is closed with `session.closed`, which sites retry: they join the new
 * leader through here or another node, as they would after a restart. A session that joins
 * while no node leads waits and is announced once one does.
 */
export class EdgeRelay extends SiteSessionHost {
  private readonly logger = new Logger('EdgeRelay');
  private readonly sessions = new Map<string, SiteChannel>();
  private readonly ids = new Map<SiteChannel, string>();
  /** Per session: the largest update blob the site may send, from its welcome. */
  private readonly limits = new Map<string, number>();
  /**
   * Per session with an update being pulled here: what the site sent since (in order), and how
   * to end the pull.
   */
  private readonly pulling = new Map<
    string,
    { readonly held: SiteMessage[]; readonly stop: (issue: FedistillIssue) => void }
  >();
  /** Sessions that joined while no node led: announced when one does. */
  private readonly waiting = new Set<string>();
  private current: string | undefined;
  private readonly timer: NodeJS.Timeout;

  /** Blobs this edge serves from the store, oldest first. */
  private readonly served: BlobManifest[] = [];
  private readonly loading = new Set<string>();

  constructor(
    private readonly bus: NodeBus,
    private readonly transfer: TransferService,
    private readonly folds: EdgeFolds,
    /** A stored blob by content hash (hex); it rejects when the store has none. */
    private readonly readBlob: (hash: string) => Promise<Uint8Array>,
    private readonly findLeader: () => Promise<string | undefined>,
    beatMs: number,
  ) {
    super();
    bus.onMessage((from, envelope) => this.fromNode(from, envelope));
    this.timer = setInterval(() => void this.beat(), beatMs);
    this.timer.unref();
    void this.beat();
  }

  /** Looks at who leads, and tells it this node and its sessions are still here. */
  private async beat(): Promise<void> {
    let leader: string | undefined;
    try {
      leader = await this.findLeader();
    } catch (error) {
      this.logger.warn(`could not read who leads: ${(error as Error).message}`);
      return;
    }
    if (leader !== this.current) {
      if (this.current !== undefined) {
        this.logger.warn(`the leader changed (${this.current} to ${leader ?? 'none'})`);
        for (const channel of [...this.sessions.values()]) {
          channel.refuse('session.closed', 'the leader changed; join again');
        }
      }
      this.current = leader;
      // Sums made under the old leader's terms are its own; the new one announces afresh.
      this.folds.reset();
      if (leader) this.logger.log(`relaying sessions to ${leader}`);
    }
    if (!this.current) return;
    this.bus.send(this.current, { t: 'beat' });
    for (const id of this.waiting) {
      const channel = this.sessions.get(id);
      if (channel) this.bus.send(this.current, { t: 'join', session: id, site: channel.site });
    }
    this.waiting.clear();
  }

  siteJoined(channel: SiteChannel): Result<RunWelcome | undefined> {
    const id = randomUUID();
    this.sessions.set(id, channel);
    this.ids.set(channel, id);
    if (this.current) this.bus.send(this.current, { t: 'join', session: id, site: channel.site });
    else this.waiting.add(id);
    // The welcome comes from the leader, relayed like any other message.
    return ok(undefined);
  }

  handle(channel: SiteChannel, message: SiteMessage): Result<true> {
    const id = this.ids.get(channel);
    if (!id || !this.current || this.waiting.has(id)) return ok(true);
    if (message.type === 'blob.request' && this.transfer.offers(message.hash)) {
      return this.transfer.serve(channel, message);
    }
    const pulling = this.pulling.get(id);
    if (message.type === 'blob.chunk' && this.transfer.expects(channel, message.hash)) {
      // A bad chunk ends the pull, and the leader refuses the update (and logs it) for it.
      const accepted = this.transfer.accept(channel, message);
      if (!accepted.ok) pulling?.stop(accepted.error);
      return ok(true);
    }
    if (pulling) pulling.held.push(message);
    else if (message.type === 'round.update' && this.limits.has(id))
      this.pullUpdate(id, channel, message);
    else this.bus.send(this.current, { t: 'site', session: id, body: encodeMessage(message) });
    return ok(true);
  }

  /**
   * Pulls an update's blob from the site here and folds it into this edge's partial sum of the
   * attempt; then tells the leader, with the blob only if it was not folded here (no terms for
   * its attempt): one message on the bus rather than a round trip through it per window of
   * chunks. What the site sends meanwhile waits, so the leader sees the session's messages in
   * order. A pull or fold that fails goes to the leader with its code, which refuses the
   * update as after its own pull.
   */
  private pullUpdate(id: string, channel: SiteChannel, update: RoundUpdate): void {
    const held: SiteMessage[] = [];
    let idle: NodeJS.Timeout | undefined;
    let stop!: (issue: FedistillIssue) => void;
    const stopped = new Promise<FedistillIssue>((resolve) => (stop = resolve));
    this.pulling.set(id, { held, stop });
    const progress = (): void => {
      clearTimeout(idle);
      idle = setTimeout(
        () => stop({ code: 'update.withheld', message: 'no chunk arrived at the edge node' }),
        EDGE_PULL_IDLE_MS,
      );
    };
    void this.transfer
      .pull(channel, update.delta, this.limits.get(id)!, { stop: stopped, progress })
      .then(async (pulled) => {
        clearTimeout(idle);
        const folded = pulled.ok
          ? await this.folds.fold(channel.site, update, pulled.value)
          : pulled;
        this.pulling.delete(id);
        const leader = this.current;
        if (!leader || this.sessions.get(id) !== channel) return;
        const outcome = folded ?? pulled;
        this.bus.send(leader, {
          t: 'update',
          session: id,
          body: encodeMessage(update),
          pulled: outcome.ok
            ? typeof outcome.value === 'number'
              ? { ok: true, folded: outcome.value }
              : { ok: true, value: outcome.value }
            : {
                ok: false,
                error: { code: outcome.error.code, message: outcome.error.message.slice(0, 1000) },
              },
        });
        for (const message of held) this.handle(channel, message);
      });
  }

  /**
   * Offers a round's model (or mask) to this edge's sites from the store, where the leader
   * wrote it before announcing it, so that their pulls need not cross the bus. Until it is
   * loaded (or if the store lacks it), requests for it go to the leader. The store checks the
   * bytes against their hash, and the chunking is the leader's, so the manifest is the same.
   */
  private serveFromStore(manifest: BlobManifest): void {
    const key = toHex(manifest.hash);
    if (this.transfer.offers(manifest.hash) || this.loading.has(key)) return;
    this.loading.add(key);
    this.readBlob(key)
      .then(
        (bytes) => {
          this.served.push(this.transfer.offer(bytes, manifest.chunkBytes));
          while (this.served.length > SERVED_BLOBS) this.transfer.withdraw(this.served.shift()!);
        },
        (error: Error) => this.logger.warn(`${key} is relayed: ${error.message}`),
      )
      .finally(() => this.loading.delete(key));
  }

  siteLeft(channel: SiteChannel): void {
    const id = this.ids.get(channel);
    if (!id) return;
    this.ids.delete(channel);
    this.sessions.delete(id);
    this.limits.delete(id);
    this.pulling.delete(id);
    if (!this.waiting.delete(id) && this.current)
      this.bus.send(this.current, { t: 'left', session: id });
  }

  private fromNode(from: string, envelope: Envelope): void {
    // Only the leader speaks to edges; anything from a node that no longer leads is stale.
    if (from !== this.current) return;
    if (envelope.t === 'fold') return this.folds.begin(envelope);
    if (envelope.t === 'gather') {
      void this.folds
        .gather(envelope, envelope.sites)
        .then((answer) => this.bus.send(from, answer));
      return;
    }
    if (envelope.t !== 'send' && envelope.t !== 'refuse') return;
    const channel = this.sessions.get(envelope.session);
    if (!channel) return;
    if (envelope.t === 'refuse') return channel.refuse(envelope.code, 'refused by the leader');
    const message = decodeCoordinatorMessage(envelope.body);
    if (!message.ok) {
      this.logger.error(`the leader sent ${envelope.session} a message that does not parse`);
      return channel.refuse('session.closed', message.error.message);
    }
    // The welcome names the student, and so the largest update this edge pulls for the site.
    if (message.value.type === 'run.welcome') {
      this.limits.set(envelope.session, maxUpdateBytes(message.value.student));
    }
    if (message.value.type === 'round.start') {
      this.serveFromStore(message.value.model);
      if (message.value.mask) this.serveFromStore(message.value.mask);
    }
    channel.send(message.value);
  }

  /** The node this edge relays to: the lease's holder when it last looked. */
  get leader(): string | undefined {
    return this.current;
  }

  close(): void {
    clearInterval(this.timer);
  }
}
