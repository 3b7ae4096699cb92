import { io, type Socket } from 'socket.io-client';
import {
  decodeCoordinatorMessage,
  encodeMessage,
  FINAL_MESSAGE_TYPES,
  FrameReceiver,
  FrameSender,
  SiteHandshake,
  SOCKET_EVENTS,
  type CoordinatorMessage,
  type IdentityKeyPair,
  type SiteMessage,
  type Sodium,
} from '../protocol/index.js';

function once(socket: Socket, event: string): Promise<unknown[]> {
  return new Promise((resolve) => socket.once(event, (...args: unknown[]) => resolve(args)));
}

/** An established session's two streams, exposed so a test can seal anything at all. */
export interface RawSession {
  readonly sender: FrameSender;
  readonly receiver: FrameReceiver;
}

/**
 * A site built by hand from the protocol's public parts, so a test can misbehave at any step:
 * tamper with a handshake message, replay, reorder or alter a frame, set tags at will.
 */
export class RawPeer {
  readonly refusal: Promise<string>;
  readonly disconnected: Promise<string>;
  /** Frames that arrived before the stream header was processed. */
  private readonly early: unknown[] = [];
  /** Opened messages in arrival order; readers take the first of the type they want. */
  private readonly messages: CoordinatorMessage[] = [];
  private session: RawSession | undefined;

  private constructor(
    readonly socket: Socket,
    private readonly sodium: Sodium,
  ) {
    this.refusal = once(socket, SOCKET_EVENTS.refuse).then(([code]) => String(code));
    this.disconnected = once(socket, 'disconnect').then(([reason]) => String(reason));
    socket.on(SOCKET_EVENTS.frame, (frame: unknown) => {
      if (this.session) this.open(frame);
      else this.early.push(frame);
    });
  }

  /** `localAddress`: another loopback address (127.0.0.2, ...) stands for another peer. */
  static async connect(url: string, sodium: Sodium, localAddress?: string): Promise<RawPeer> {
    const socket = io(url, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      ...(localAddress ? { localAddress } : {}),
    });
    await once(socket, 'connect');
    return new RawPeer(socket, sodium);
  }

  /** Emits `event` and waits for `reply`; rejects if the session is refused first. */
  async exchange(event: string, payload: unknown, reply: string): Promise<unknown> {
    const answer = once(this.socket, reply).then(([body]) => body as unknown);
    this.socket.emit(event, payload);
    return Promise.race([
      answer,
      this.refusal.then((code) => Promise.reject(new Error(`refused: ${code}`))),
    ]);
  }

  /**
   * Runs the handshake as `identity`; `alterFinish` may change the finish before it is sent.
   * Resolves with the session, or with the refusal code.
   */
  async handshake(
    identity: IdentityKeyPair,
    coordinatorKey: Uint8Array,
    alter: { finish?: (finish: Uint8Array) => Uint8Array; header?: Uint8Array } = {},
  ): Promise<RawSession | string> {
    const handshake = new SiteHandshake(this.sodium, identity, coordinatorKey);
    const response = await this.exchange(
      SOCKET_EVENTS.initiation,
      handshake.createInitiation(),
      SOCKET_EVENTS.response,
    );
    const consumed = handshake.consumeResponse(response);
    if (!consumed.ok) throw new Error(consumed.error.message);
    const sender = new FrameSender(this.sodium, consumed.value.keys.sendKey);
    const finish = consumed.value.finish;
    this.socket.emit(SOCKET_EVENTS.finish, alter.finish ? alter.finish(finish) : finish);
    const header = once(this.socket, SOCKET_EVENTS.streamHeader).then(([h]) => h as unknown);
    this.socket.emit(SOCKET_EVENTS.streamHeader, alter.header ?? sender.header);
    const outcome = await Promise.race([header, this.refusal]);
    if (typeof outcome === 'string') return outcome;
    const receiver = FrameReceiver.create(this.sodium, consumed.value.keys.receiveKey, outcome);
    if (!receiver.ok) throw new Error(receiver.error.message);
    this.session = { sender, receiver: receiver.value };
    for (const frame of this.early.splice(0)) this.open(frame);
    return this.session;
  }

  private get established(): RawSession {
    if (!this.session) throw new Error('no session');
    return this.session;
  }

  /** Seals a message as an honest site would (final tag on the final types) without sending it. */
  seal(message: SiteMessage | Record<string, unknown>): Uint8Array {
    const type = String((message as { type?: unknown }).type);
    return this.established.sender.seal(
      encodeMessage(message as SiteMessage),
      FINAL_MESSAGE_TYPES.includes(type),
    );
  }

  /** Seals arbitrary bytes with an arbitrary tag: what no honest site would send. */
  sealRaw(bytes: Uint8Array, final: boolean): Uint8Array {
    return this.established.sender.seal(bytes, final);
  }

  send(message: SiteMessage | Record<string, unknown>): void {
    this.emitFrame(this.seal(message));
  }

  emitFrame(frame: Uint8Array): void {
    this.socket.emit(SOCKET_EVENTS.frame, frame);
  }

  private open(frame: unknown): void {
    const opened = this.established.receiver.open(frame);
    if (!opened.ok) throw new Error(`the coordinator sent a bad frame: ${opened.error.message}`);
    const decoded = decodeCoordinatorMessage(opened.value.message);
    if (!decoded.ok)
      throw new Error(`the coordinator sent a bad message: ${decoded.error.message}`);
    this.messages.push(decoded.value);
  }

  /** Takes the first message of `type` that arrived, waiting for one if need be. */
  nextOf<T extends CoordinatorMessage['type']>(
    type: T,
  ): Promise<Extract<CoordinatorMessage, { type: T }>> {
    return this.nextOfAny([type]);
  }

  /** Takes the first message of any of `types` that arrived, waiting for one if need be. */
  async nextOfAny<T extends CoordinatorMessage['type']>(
    types: readonly T[],
  ): Promise<Extract<CoordinatorMessage, { type: T }>> {
    const wanted: readonly string[] = types;
    for (;;) {
      const at = this.messages.findIndex((m) => wanted.includes(m.type));
      if (at >= 0)
        return this.messages.splice(at, 1)[0] as Extract<CoordinatorMessage, { type: T }>;
      if (!this.socket.connected)
        throw new Error(`the session ended before a ${types.join(' or ')} arrived`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  close(): void {
    this.socket.disconnect();
  }
}
