import { Logger } from '@nestjs/common';
import type { Socket } from 'socket.io';
import {
  CoordinatorHandshake,
  decodeSiteMessage,
  encodeMessage,
  isErrorCode,
  SecureSession,
  SOCKET_EVENTS,
  toHex,
  type CoordinatorMessage,
  type ErrorCode,
  type IdentityKeyPair,
  type Result,
  type SiteMessage,
  type Sodium,
} from '../../protocol/index.js';
import { CoordinatorEvents } from '../events/coordinator-events.js';
import type { SiteChannel } from '../runs/site-channel.js';
import type { SiteSessionHost } from './site-session-host.js';

export interface SiteSessionDeps {
  readonly sodium: Sodium;
  readonly identity: IdentityKeyPair;
  readonly admitSite: (publicKey: Uint8Array) => Result<string>;
  readonly host: SiteSessionHost;
  readonly events: CoordinatorEvents;
  readonly handshakeTimeoutMs: number;
  /** Takes one handshake from the peer address's rate; false when it is over. */
  readonly admitHandshake: () => boolean;
  /** The handshake completed: the connection's pre-authentication limits no longer apply. */
  readonly authenticated: () => void;
}

const byteLength = (value: unknown): number => (value instanceof Uint8Array ? value.length : 0);

/**
 * One socket's session on the coordinator: the responder's side of the handshake, then the
 * encrypted frame stream. Any failure refuses this socket with a code and leaves every other
 * session untouched.
 */
export class SiteSession implements SiteChannel {
  private readonly logger = new Logger('SiteSession');
  private readonly handshake: CoordinatorHandshake;
  private secure: SecureSession<CoordinatorMessage, SiteMessage> | undefined;
  private siteName: string | undefined;
  /** The authenticated Ed25519 key, once the handshake has finished. */
  siteKey: Uint8Array | undefined;
  private joined = false;
  private closed = false;
  /** The site's final frame (site.leave) arrived: its stream ended, it was not cut. */
  private ended = false;
  private readonly closeListeners: (() => void)[] = [];
  private readonly handshakeTimer: NodeJS.Timeout;

  constructor(
    private readonly socket: Socket,
    private readonly deps: SiteSessionDeps,
  ) {
    this.handshake = new CoordinatorHandshake(deps.sodium, deps.identity, deps.admitSite);
    this.handshakeTimer = setTimeout(
      () => this.refuse('handshake.timeout', `no handshake within ${deps.handshakeTimeoutMs} ms`),
      deps.handshakeTimeoutMs,
    );
  }

  get site(): string {
    return this.siteName ?? `socket:${this.socket.id}`;
  }

  private record(direction: 'in' | 'out', kind: string, bytes: number, code?: ErrorCode): void {
    this.deps.events.protocol({
      peer: this.site,
      authenticated: this.siteKey !== undefined,
      direction,
      kind,
      outcome: code ? 'refused' : 'ok',
      bytes,
      ...(code ? { code } : {}),
    });
  }

  onInitiation(message: unknown): void {
    if (this.closed) return;
    this.record('in', SOCKET_EVENTS.initiation, byteLength(message));
    if (!this.deps.admitHandshake()) {
      return this.refuse('handshake.rate_limited', 'too many handshakes from this address');
    }
    const response = this.handshake.consumeInitiation(message);
    if (!response.ok) return this.refuse(response.error.code, response.error.message);
    this.record('out', SOCKET_EVENTS.response, response.value.length);
    this.socket.emit(SOCKET_EVENTS.response, response.value);
  }

  onFinish(message: unknown): void {
    if (this.closed) return;
    this.record('in', SOCKET_EVENTS.finish, byteLength(message));
    const finished = this.handshake.consumeFinish(message);
    if (!finished.ok) return this.refuse(finished.error.code, finished.error.message);
    this.siteName = finished.value.siteName;
    this.siteKey = finished.value.siteKey;
    this.deps.authenticated();
    this.secure = new SecureSession(
      this.deps.sodium,
      finished.value.keys,
      encodeMessage,
      decodeSiteMessage,
    );
    this.logger.log(
      `${this.site} authenticated, session ${toHex(finished.value.keys.transcriptHash).slice(0, 16)}`,
    );
  }

  onStreamHeader(header: unknown): void {
    if (this.closed) return;
    this.record('in', SOCKET_EVENTS.streamHeader, byteLength(header));
    if (!this.secure)
      return this.refuse(
        'handshake.unexpected_step',
        'a stream header before the handshake finished',
      );
    const accepted = this.secure.acceptPeerHeader(header);
    if (!accepted.ok) return this.refuse(accepted.error.code, accepted.error.message);
    // Admission comes before the coordinator's header: a refused site never gets a stream.
    const joined = this.deps.host.siteJoined(this);
    if (!joined.ok) return this.refuse(joined.error.code, joined.error.message);
    clearTimeout(this.handshakeTimer);
    this.joined = true;
    this.record('out', SOCKET_EVENTS.streamHeader, this.secure.header.length);
    this.socket.emit(SOCKET_EVENTS.streamHeader, this.secure.header);
    // No welcome while no run is active: the site waits until one starts.
    if (joined.value) this.send(joined.value);
  }

  onFrame(frame: unknown): void {
    if (this.closed) return;
    if (!this.secure || !this.joined) {
      return this.refuse('handshake.unexpected_step', 'a frame before the session was established');
    }
    const opened = this.secure.open(frame);
    if (!opened.ok) {
      this.record('in', SOCKET_EVENTS.frame, byteLength(frame), opened.error.code);
      return this.refuse(opened.error.code, opened.error.message);
    }
    const message = opened.value;
    this.record('in', message.type, byteLength(frame));
    this.deps.events.emit('siteMessage', { site: this.site, message });
    const handled = this.deps.host.handle(this, message);
    if (!handled.ok) return this.refuse(handled.error.code, handled.error.message);
    if (message.type === 'site.leave') {
      this.ended = true;
      this.close();
      this.socket.disconnect(true);
    }
  }

  /** engine.io queues packets here while the websocket has not taken the previous ones. */
  backlogged(): boolean {
    const conn = this.socket.conn as unknown as { writeBuffer?: unknown[] };
    return (conn.writeBuffer?.length ?? 0) > 0;
  }

  onDrain(resume: () => void): void {
    if (this.closed) return;
    this.socket.conn.once('drain', resume);
  }

  onClose(closed: () => void): void {
    if (this.closed) closed();
    else this.closeListeners.push(closed);
  }

  /** The site told us why it is leaving. */
  onPeerRefusal(reason: unknown): void {
    const code = isErrorCode(reason) ? reason : 'session.closed';
    this.logger.warn(`${this.site} ended its session: ${code}`);
    this.record('in', SOCKET_EVENTS.refuse, 0, code);
    this.ended = true;
    this.close();
    this.socket.disconnect(true);
  }

  send(message: CoordinatorMessage): void {
    if (this.closed || !this.secure) return;
    const frame = this.secure.seal(message);
    this.record('out', message.type, frame.length);
    this.socket.emit(SOCKET_EVENTS.frame, frame);
  }

  refuse(code: ErrorCode, detail: string): void {
    if (this.closed) return;
    this.logger.warn(`refusing ${this.site}: ${code} (${detail})`);
    this.record('out', SOCKET_EVENTS.refuse, 0, code);
    if (!this.siteKey) this.deps.events.emit('unauthenticatedRefusal', { kind: 'handshake', code });
    this.ended = true;
    // The code goes out before the namespace disconnect packet, in order on the same socket.
    this.socket.emit(SOCKET_EVENTS.refuse, code);
    this.close();
    // true: also close the connection; engine.io flushes the refusal before it closes.
    this.socket.disconnect(true);
  }

  /** The socket is gone (or being closed): leave the run, stop timers. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.handshakeTimer);
    if (this.joined && !this.ended) {
      // The stream stopped without the site's final frame: recorded, then treated as a dropout.
      this.record('in', SOCKET_EVENTS.frame, 0, 'frame.truncated');
    }
    if (this.joined) this.deps.host.siteLeft(this);
    for (const listener of this.closeListeners.splice(0)) listener();
  }
}
