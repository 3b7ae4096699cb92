import type { SessionKeys } from './handshake.js';
import { fail, ok, type Result } from './errors.js';
import { FrameReceiver, FrameSender } from './secure-channel.js';
import type { Sodium } from './sodium.js';

/** The socket.io event names of the protocol, one per handshake step plus the frame stream. */
export const SOCKET_EVENTS = {
  initiation: 'hs.initiation',
  response: 'hs.response',
  finish: 'hs.finish',
  streamHeader: 'stream.header',
  frame: 'frame',
  /** Plaintext close reason: only an error code, sent just before the connection is closed. */
  refuse: 'refuse',
} as const;

/**
 * Both directions of an established session, typed by what this end sends (Out) and receives
 * (In). Sending needs only the local stream; receiving waits for the peer's stream header.
 */
export class SecureSession<Out, In> {
  private readonly sender: FrameSender;
  private receiver: FrameReceiver | undefined;

  constructor(
    private readonly sodium: Sodium,
    readonly keys: SessionKeys,
    private readonly encode: (message: Out) => Uint8Array,
    private readonly decode: (bytes: Uint8Array) => Result<In>,
  ) {
    this.sender = new FrameSender(sodium, keys.sendKey);
  }

  /** The local stream's header, sent once before any frame. */
  get header(): Uint8Array {
    return this.sender.header;
  }

  get receiving(): boolean {
    return this.receiver !== undefined;
  }

  acceptPeerHeader(header: unknown): Result<true> {
    if (this.receiver) return fail('frame.malformed', 'the peer sent a second stream header');
    const created = FrameReceiver.create(this.sodium, this.keys.receiveKey, header);
    if (!created.ok) return created;
    this.receiver = created.value;
    return ok(true);
  }

  seal(message: Out, final = false): Uint8Array {
    return this.sender.seal(this.encode(message), final);
  }

  open(frame: unknown): Result<{ message: In; final: boolean }> {
    if (!this.receiver) return fail('frame.malformed', 'a frame arrived before the stream header');
    const opened = this.receiver.open(frame);
    if (!opened.ok) return opened;
    const decoded = this.decode(opened.value.message);
    if (!decoded.ok) return decoded;
    return ok({ message: decoded.value, final: opened.value.final });
  }
}
