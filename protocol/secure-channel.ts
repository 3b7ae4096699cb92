import {
  REKEY_AFTER_BYTES,
  FRAME_SEQUENCE_BYTES,
  MAX_FRAME_BYTES,
  SECRETSTREAM_ABYTES,
  STREAM_HEADER_BYTES,
} from './constants.js';
import { fail, ok, type Result } from './errors.js';
import type { Sodium } from './sodium.js';

/**
 * One direction of an established session: a libsodium secretstream (XChaCha20-Poly1305) whose
 * header is sent once, then one frame per application message. A frame is
 *
 *   sequence (u64 LE) || secretstream ciphertext, with the sequence bound as associated data.
 *
 * secretstream already refuses replayed, reordered and modified frames; the explicit sequence
 * lets the receiver say which of those happened before it tries to decrypt.
 */

type StreamState = ReturnType<Sodium['crypto_secretstream_xchacha20poly1305_init_push']>['state'];

function sequenceBytes(sequence: bigint): Uint8Array {
  const out = new Uint8Array(FRAME_SEQUENCE_BYTES);
  new DataView(out.buffer).setBigUint64(0, sequence, true);
  return out;
}

export class FrameSender {
  readonly header: Uint8Array;
  private readonly state: StreamState;
  private sequence = 0n;
  private finished = false;
  private sinceRekey = 0;

  constructor(
    private readonly sodium: Sodium,
    key: Uint8Array,
    /** Rekey policy: the frame that brings the count past this is tagged TAG_REKEY. */
    private readonly rekeyAfterBytes = REKEY_AFTER_BYTES,
  ) {
    const { state, header } = sodium.crypto_secretstream_xchacha20poly1305_init_push(key);
    this.state = state;
    this.header = header;
  }

  /** Encrypts one message; `final` marks the last frame, after which the stream is closed. */
  seal(message: Uint8Array, final = false): Uint8Array {
    if (this.finished) throw new Error('seal after the final frame');
    const ad = sequenceBytes(this.sequence);
    const { sodium } = this;
    this.sinceRekey += message.length;
    // TAG_REKEY makes both ends derive a fresh key after this frame (libsodium does it on
    // push and on pull), so no key encrypts more than about rekeyAfterBytes.
    const rekey = !final && this.sinceRekey >= this.rekeyAfterBytes;
    if (rekey) this.sinceRekey = 0;
    const tag = final
      ? sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL
      : rekey
        ? sodium.crypto_secretstream_xchacha20poly1305_TAG_REKEY
        : sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
    const ciphertext = sodium.crypto_secretstream_xchacha20poly1305_push(
      this.state,
      message,
      ad,
      tag,
    );
    const frame = new Uint8Array(FRAME_SEQUENCE_BYTES + ciphertext.length);
    frame.set(ad, 0);
    frame.set(ciphertext, FRAME_SEQUENCE_BYTES);
    this.sequence += 1n;
    this.finished = final;
    return frame;
  }
}

export interface OpenedFrame {
  readonly message: Uint8Array;
  readonly sequence: bigint;
  readonly final: boolean;
  readonly rekeyed: boolean;
}

export class FrameReceiver {
  private readonly state: StreamState;
  private expected = 0n;
  private finished = false;

  private constructor(
    private readonly sodium: Sodium,
    state: StreamState,
  ) {
    this.state = state;
  }

  static create(sodium: Sodium, key: Uint8Array, header: unknown): Result<FrameReceiver> {
    if (!(header instanceof Uint8Array) || header.length !== STREAM_HEADER_BYTES) {
      return fail(
        'frame.malformed',
        `a stream header must be exactly ${STREAM_HEADER_BYTES} bytes`,
      );
    }
    try {
      const state = sodium.crypto_secretstream_xchacha20poly1305_init_pull(header, key);
      return ok(new FrameReceiver(sodium, state));
    } catch {
      return fail('frame.malformed', 'the stream header was refused');
    }
  }

  open(frame: unknown): Result<OpenedFrame> {
    if (!(frame instanceof Uint8Array)) return fail('frame.malformed', 'a frame must be binary');
    if (this.finished) return fail('frame.after_final', 'a frame arrived after the final frame');
    if (frame.length > MAX_FRAME_BYTES) {
      return fail('frame.too_large', `a frame may be at most ${MAX_FRAME_BYTES} bytes`);
    }
    if (frame.length < FRAME_SEQUENCE_BYTES + SECRETSTREAM_ABYTES) {
      return fail('frame.malformed', `a frame of ${frame.length} bytes is too short`);
    }
    const ad = frame.subarray(0, FRAME_SEQUENCE_BYTES);
    const sequence = new DataView(ad.buffer, ad.byteOffset, ad.byteLength).getBigUint64(0, true);
    if (sequence < this.expected) {
      return fail('frame.replay', `frame ${sequence} was already received`);
    }
    if (sequence > this.expected) {
      return fail('frame.out_of_order', `expected frame ${this.expected}, got ${sequence}`);
    }
    const opened = this.sodium.crypto_secretstream_xchacha20poly1305_pull(
      this.state,
      frame.subarray(FRAME_SEQUENCE_BYTES),
      ad,
    );
    if (opened === false) {
      return fail('frame.auth_failed', `frame ${sequence} does not authenticate`);
    }
    this.expected += 1n;
    const final = opened.tag === this.sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL;
    this.finished = final;
    const rekeyed = opened.tag === this.sodium.crypto_secretstream_xchacha20poly1305_TAG_REKEY;
    return ok({ message: opened.message, sequence, final, rekeyed });
  }
}
