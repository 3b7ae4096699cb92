import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import {
  decodeCoordinatorMessage,
  encodeMessage,
  ok,
  type Result,
  type RunWelcome,
  type SiteMessage,
} from '../../protocol/index.js';
import { SiteSessionHost } from '../gateway/site-session-host.js';
import type { SiteChannel } from '../runs/site-channel.js';
import type { Envelope, NodeBus } from './node-bus.js';

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
  /** Sessions that joined while no node led: announced when one does. */
  private readonly waiting = new Set<string>();
  private current: string | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly bus: NodeBus,
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
    if (id && this.current && !this.waiting.has(id)) {
      this.bus.send(this.current, { t: 'site', session: id, body: encodeMessage(message) });
    }
    return ok(true);
  }

  siteLeft(channel: SiteChannel): void {
    const id = this.ids.get(channel);
    if (!id) return;
    this.ids.delete(channel);
    this.sessions.delete(id);
    if (!this.waiting.delete(id) && this.current)
      this.bus.send(this.current, { t: 'left', session: id });
  }

  private fromNode(from: string, envelope: Envelope): void {
    // Only the leader speaks to edges; anything from a node that no longer leads is stale.
    if (from !== this.current) return;
    if (envelope.t !== 'send' && envelope.t !== 'refuse') return;
    const channel = this.sessions.get(envelope.session);
    if (!channel) return;
    if (envelope.t === 'refuse') return channel.refuse(envelope.code, 'refused by the leader');
    const message = decodeCoordinatorMessage(envelope.body);
    if (!message.ok) {
      this.logger.error(`the leader sent ${envelope.session} a message that does not parse`);
      return channel.refuse('session.closed', message.error.message);
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
