import { z } from 'zod';
import { hashSchema } from './binary.js';
import { contentHash } from './content-hash.js';
import { fail, ok, type Result } from './errors.js';
import type { Sodium } from './sodium.js';

/**
 * Large payloads (the transfer set, a global model, a site's update) travel as blobs: the
 * sender announces a manifest (content hash, size, chunk size, one hash per chunk) and the
 * receiver pulls windows of chunks with blob.request. Pulling gives the receiver control of
 * the rate (backpressure) and of the order: after a dropped connection it asks again from the
 * first chunk it lacks (resumption). Every chunk is verified on arrival, the whole on completion.
 */

export const MIN_CHUNK_BYTES = 1024;
export const MAX_CHUNK_BYTES = 4 * 1024 * 1024;
export const MAX_BLOB_CHUNKS = 4096;
/** How many chunks one blob.request may ask for. */
export const MAX_CHUNKS_PER_REQUEST = 8;

export const blobManifestSchema = z
  .object({
    hash: hashSchema,
    bytes: z
      .number()
      .int()
      .min(1)
      .max(MAX_CHUNK_BYTES * MAX_BLOB_CHUNKS),
    chunkBytes: z.number().int().min(MIN_CHUNK_BYTES).max(MAX_CHUNK_BYTES),
    chunkHashes: z.array(hashSchema).min(1).max(MAX_BLOB_CHUNKS),
  })
  .strict()
  .superRefine((m, ctx) => {
    const chunks = Math.ceil(m.bytes / m.chunkBytes);
    if (m.chunkHashes.length !== chunks) {
      ctx.addIssue({
        code: 'custom',
        message: `${m.bytes} bytes in chunks of ${m.chunkBytes} need ${chunks} chunk hashes, got ${m.chunkHashes.length}`,
        path: ['chunkHashes'],
      });
    }
  });
export type BlobManifest = z.infer<typeof blobManifestSchema>;

export function describeBlob(sodium: Sodium, bytes: Uint8Array, chunkBytes: number): BlobManifest {
  const chunkHashes: Uint8Array[] = [];
  for (let start = 0; start < bytes.length; start += chunkBytes) {
    chunkHashes.push(contentHash(sodium, bytes.subarray(start, start + chunkBytes)));
  }
  return { hash: contentHash(sodium, bytes), bytes: bytes.length, chunkBytes, chunkHashes };
}

export function chunkRange(manifest: BlobManifest, index: number): [number, number] {
  const start = index * manifest.chunkBytes;
  return [start, Math.min(start + manifest.chunkBytes, manifest.bytes)];
}

/** Checks a blob.request against a manifest: the range must lie inside the blob. */
export function checkRequest(manifest: BlobManifest, from: number, count: number): Result<true> {
  if (from + count > manifest.chunkHashes.length) {
    return fail(
      'blob.bad_range',
      `chunks ${from}..${from + count - 1} asked for, the blob has ${manifest.chunkHashes.length}`,
    );
  }
  return ok(true);
}

/**
 * The receiving end of one blob: verifies each chunk against its hash as it lands and hands
 * out the next window to ask for. Chunks may arrive again (a repeated request after a
 * reconnect); a chunk that was not asked for, or does not match, is refused.
 */
export class BlobAssembler {
  private readonly buffer: Uint8Array;
  private readonly received: boolean[];
  private receivedCount = 0;
  private asked: boolean[];

  constructor(
    private readonly sodium: Sodium,
    readonly manifest: BlobManifest,
  ) {
    this.buffer = new Uint8Array(manifest.bytes);
    this.received = new Array<boolean>(manifest.chunkHashes.length).fill(false);
    this.asked = new Array<boolean>(manifest.chunkHashes.length).fill(false);
  }

  get complete(): boolean {
    return this.receivedCount === this.received.length;
  }

  /** True when every chunk asked for so far has arrived: time to ask for the next window. */
  get idle(): boolean {
    return this.asked.every((asked, i) => !asked || this.received[i]);
  }

  /**
   * The next window: from the first chunk not yet received. After a reconnect the receiver
   * calls `forgetRequests` first, so chunks asked for on the old session are asked again.
   */
  nextRequest(): { from: number; count: number } | undefined {
    const from = this.received.findIndex((got, i) => !got && !this.asked[i]);
    if (from < 0) return undefined;
    let count = 0;
    while (
      count < MAX_CHUNKS_PER_REQUEST &&
      from + count < this.received.length &&
      !this.received[from + count]
    ) {
      this.asked[from + count] = true;
      count++;
    }
    return { from, count };
  }

  forgetRequests(): void {
    this.asked = this.asked.map(() => false);
  }

  accept(chunk: { hash: Uint8Array; index: number; data: Uint8Array }): Result<true> {
    const { sodium, manifest } = this;
    if (!sodium.memcmp(chunk.hash, manifest.hash)) {
      return fail('blob.unknown', 'a chunk of another blob arrived');
    }
    const expectedHash = manifest.chunkHashes[chunk.index];
    if (expectedHash === undefined || !this.asked[chunk.index]) {
      return fail('blob.unrequested', `chunk ${chunk.index} was not asked for`);
    }
    const [start, end] = chunkRange(manifest, chunk.index);
    if (chunk.data.length !== end - start) {
      return fail(
        'blob.hash_mismatch',
        `chunk ${chunk.index} should be ${end - start} bytes, got ${chunk.data.length}`,
      );
    }
    if (!sodium.memcmp(contentHash(sodium, chunk.data), expectedHash)) {
      return fail('blob.hash_mismatch', `chunk ${chunk.index} does not match its hash`);
    }
    if (!this.received[chunk.index]) {
      this.buffer.set(chunk.data, start);
      this.received[chunk.index] = true;
      this.receivedCount++;
    }
    return ok(true);
  }

  /** The whole blob, once complete and matching the announced hash. */
  result(): Result<Uint8Array> {
    if (!this.complete) throw new Error('result() before every chunk arrived');
    if (!this.sodium.memcmp(contentHash(this.sodium, this.buffer), this.manifest.hash)) {
      return fail('blob.hash_mismatch', 'the blob does not match its announced hash');
    }
    return ok(this.buffer);
  }
}

/** Blobs this end offers, by content hash; serving a request is a pure lookup. */
export class BlobOutbox {
  private readonly blobs = new Map<string, { bytes: Uint8Array; manifest: BlobManifest }>();

  constructor(private readonly sodium: Sodium) {}

  offer(bytes: Uint8Array, chunkBytes: number): BlobManifest {
    const manifest = describeBlob(this.sodium, bytes, chunkBytes);
    this.blobs.set(Buffer.from(manifest.hash).toString('hex'), { bytes, manifest });
    return manifest;
  }

  withdraw(hash: Uint8Array): void {
    this.blobs.delete(Buffer.from(hash).toString('hex'));
  }

  has(hash: Uint8Array): boolean {
    return this.blobs.has(Buffer.from(hash).toString('hex'));
  }

  /** Checks a request and returns the chunk indices to send. */
  plan(hash: Uint8Array, from: number, count: number): Result<number[]> {
    const blob = this.blobs.get(Buffer.from(hash).toString('hex'));
    if (!blob) return fail('blob.unknown', 'no blob with that hash is offered');
    const checked = checkRequest(blob.manifest, from, count);
    if (!checked.ok) return checked;
    return ok(Array.from({ length: count }, (_, i) => from + i));
  }

  chunk(hash: Uint8Array, index: number): Uint8Array | undefined {
    const blob = this.blobs.get(Buffer.from(hash).toString('hex'));
    if (!blob) return undefined;
    const [start, end] = chunkRange(blob.manifest, index);
    return blob.bytes.subarray(start, end);
  }
}
