import {
  chunkRange,
  contentHash,
  fail,
  MAX_CHUNKS_PER_REQUEST,
  ok,
  type Result,
  type Sodium,
  type TransferManifest,
} from '../protocol/index.js';

/**
 * Assembles a transfer set from chunks, verifying each against the manifest as it lands.
 * The site asks for a window of chunks at a time, which is its backpressure on the stream.
 */
export class TransferDownload {
  private readonly buffer: Uint8Array;
  private readonly received: boolean[];
  private receivedCount = 0;
  private nextToRequest = 0;

  constructor(
    private readonly sodium: Sodium,
    readonly manifest: TransferManifest,
  ) {
    this.buffer = new Uint8Array(manifest.bytes);
    this.received = new Array<boolean>(manifest.chunkHashes.length).fill(false);
  }

  get complete(): boolean {
    return this.receivedCount === this.received.length;
  }

  get bytes(): Uint8Array {
    return this.buffer;
  }

  /** The next window to ask for, or undefined when every chunk has been asked for. */
  nextRequest(): { from: number; count: number } | undefined {
    if (this.nextToRequest >= this.received.length) return undefined;
    const from = this.nextToRequest;
    const count = Math.min(MAX_CHUNKS_PER_REQUEST, this.received.length - from);
    this.nextToRequest += count;
    return { from, count };
  }

  /** True when the window that contains `index` is fully received. */
  windowDone(index: number): boolean {
    const start = index - (index % MAX_CHUNKS_PER_REQUEST);
    const end = Math.min(start + MAX_CHUNKS_PER_REQUEST, this.received.length);
    return this.received.slice(start, end).every(Boolean);
  }

  accept(chunk: { hash: Uint8Array; index: number; data: Uint8Array }): Result<true> {
    const { sodium, manifest } = this;
    if (!sodium.memcmp(chunk.hash, manifest.hash)) {
      return fail('protocol.unexpected_message', 'a chunk of another transfer set arrived');
    }
    const expectedHash = manifest.chunkHashes[chunk.index];
    if (expectedHash === undefined || chunk.index >= this.nextToRequest) {
      return fail('protocol.unexpected_message', `chunk ${chunk.index} was not requested`);
    }
    const [start, end] = chunkRange(manifest, chunk.index);
    if (chunk.data.length !== end - start) {
      return fail('transfer.hash_mismatch', `chunk ${chunk.index} should be ${end - start} bytes`);
    }
    if (!sodium.memcmp(contentHash(sodium, chunk.data), expectedHash)) {
      return fail('transfer.hash_mismatch', `chunk ${chunk.index} does not match its hash`);
    }
    if (!this.received[chunk.index]) {
      this.buffer.set(chunk.data, start);
      this.received[chunk.index] = true;
      this.receivedCount++;
    }
    return ok(true);
  }
}
