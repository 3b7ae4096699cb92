import type { SessionKeys } from './handshake.js';
import { fail, ok, type Result } from './errors.js';
import { FINAL_MESSAGE_TYPES } from './messages.js';
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
export class SecureSession<Out extends { type: string }, In extends { type: string }> {
  private readonly sender: FrameSender;
  private receiver: FrameReceiver | undefined;

  constructor(
    private readonly sodium: Sodium,
    readonly keys: SessionKeys,
    private readonly encode: (message: Out) => Uint8Array,
    private readonly decode: (bytes: Uint8Array) => Result<In>,
    rekeyAfterBytes?: number,
  ) {
    this.sender = new FrameSender(sodium, keys.sendKey, rekeyAfterBytes);
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

  /** Seals a message; the types that end a session go out with the final tag. */
  seal(message: Out): Uint8Array {
    return this.sender.seal(this.encode(message), FINAL_MESSAGE_TYPES.includes(message.type));
  }

  /**
   * Opens, decodes and validates one frame. The final tag must sit on exactly the messages
   * that end a session, so a stream cut short is told apart from one that ended.
   */
  open(frame: unknown): Result<In> {
    if (!this.receiver) return fail('frame.malformed', 'a frame arrived before the stream header');
    const opened = this.receiver.open(frame);
    if (!opened.ok) return opened;
    const decoded = this.decode(opened.value.message);
    if (!decoded.ok) return decoded;
    if (opened.value.final !== FINAL_MESSAGE_TYPES.includes(decoded.value.type)) {
      return fail(
        'frame.final_mismatch',
        `${decoded.value.type} arrived ${opened.value.final ? 'with' : 'without'} the final tag`,
      );
    }
    return ok(decoded.value);
  }
}
