import { io, type Socket } from 'socket.io-client';
import {
  decodeCoordinatorMessage,
  encodeMessage,
  SecureSession,
  SiteHandshake,
  SOCKET_EVENTS,
  type CoordinatorMessage,
  type IdentityKeyPair,
  type SiteMessage,
  type Sodium,
} from '../../protocol/index.js';

function once(socket: Socket, event: string): Promise<unknown[]> {
  return new Promise((resolve) => socket.once(event, (...args: unknown[]) => resolve(args)));
}

/**
 * A site built by hand from the protocol's public parts, so a test can misbehave at any step:
 * tamper with a handshake message, replay or alter a frame. Each step is the real one.
 */
export class RawPeer {
  readonly refusal: Promise<string>;
  readonly disconnected: Promise<string>;
  private readonly frames: unknown[] = [];

  private constructor(readonly socket: Socket) {
    this.refusal = once(socket, SOCKET_EVENTS.refuse).then(([code]) => String(code));
    this.disconnected = once(socket, 'disconnect').then(([reason]) => String(reason));
    socket.on(SOCKET_EVENTS.frame, (frame: unknown) => this.frames.push(frame));
  }

  static async connect(url: string): Promise<RawPeer> {
    const socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true });
    await once(socket, 'connect');
    return new RawPeer(socket);
  }

  /** Emits `event` and waits for `reply` (or for the session to be refused). */
  async exchange(event: string, payload: Uint8Array, reply: string): Promise<unknown> {
    const answer = once(this.socket, reply).then(([body]) => body as unknown);
    this.socket.emit(event, payload);
    return Promise.race([
      answer,
      this.refusal.then((code) => Promise.reject(new Error(`refused: ${code}`))),
    ]);
  }

  /**
   * Runs the handshake as `identity`; `alterFinish` may change the finish message before it
   * is sent. Returns the established session, or the refusal code.
   */
  async handshake(
    sodium: Sodium,
    identity: IdentityKeyPair,
    coordinatorKey: Uint8Array,
    alterFinish: (finish: Uint8Array) => Uint8Array = (f) => f,
  ): Promise<SecureSession<SiteMessage, CoordinatorMessage> | string> {
    const handshake = new SiteHandshake(sodium, identity, coordinatorKey);
    const response = await this.exchange(
      SOCKET_EVENTS.initiation,
      handshake.createInitiation(),
      SOCKET_EVENTS.response,
    );
    const consumed = handshake.consumeResponse(response);
    if (!consumed.ok) throw new Error(consumed.error.message);
    const session = new SecureSession(
      sodium,
      consumed.value.keys,
      encodeMessage,
      decodeCoordinatorMessage,
    );
    this.socket.emit(SOCKET_EVENTS.finish, alterFinish(consumed.value.finish));
    const header = once(this.socket, SOCKET_EVENTS.streamHeader).then(([h]) => h as unknown);
    this.socket.emit(SOCKET_EVENTS.streamHeader, session.header);
    const outcome = await Promise.race([header, this.refusal]);
    if (typeof outcome === 'string') return outcome;
    session.acceptPeerHeader(outcome);
    return session;
  }

  /** Waits for the next frame and opens it. */
  async nextMessage(
    session: SecureSession<SiteMessage, CoordinatorMessage>,
  ): Promise<CoordinatorMessage> {
    while (this.frames.length === 0) await new Promise((r) => setTimeout(r, 5));
    const opened = session.open(this.frames.shift());
    if (!opened.ok) throw new Error(opened.error.message);
    return opened.value;
  }

  close(): void {
    this.socket.disconnect();
  }
}
