import {
  BlobAssembler,
  fail,
  ok,
  toHex,
  type BlobChunk,
  type BlobManifest,
  type BlobRequest,
  type Result,
  type Sodium,
} from '../protocol/index.js';

/** What to do with a pulled blob once it is complete and verified. */
export type BlobLanded = (blob: Uint8Array) => Promise<void> | void;

/**
 * The blobs this site is pulling from the coordinator. Each is asked for one window at a time,
 * the next once the previous has landed, so the site never asks for more than it can take.
 */
export class BlobPulls {
  private readonly pulls = new Map<string, BlobAssembler>();
  private readonly landed = new Map<string, BlobLanded>();

  constructor(private readonly sodium: Sodium) {}

  /** Starts pulling; returns the first request to send. `then` gets the verified blob. */
  start(manifest: BlobManifest, then: BlobLanded): BlobRequest {
    const assembler = new BlobAssembler(this.sodium, manifest);
    const key = toHex(manifest.hash);
    this.pulls.set(key, assembler);
    this.landed.set(key, then);
    return { type: 'blob.request', hash: manifest.hash, ...assembler.nextRequest()! };
  }

  /**
   * After a reconnect: forgets the pulls of the old session except `keep`, which continues
   * from the first chunk it lacks, and hands the blob to `then`. Returns that request, or
   * undefined if `keep` is not pulled.
   */
  resume(keep: Uint8Array, then: BlobLanded): BlobRequest | undefined {
    const key = toHex(keep);
    const assembler = this.pulls.get(key);
    this.pulls.clear();
    if (!assembler) return undefined;
    this.pulls.set(key, assembler);
    this.landed.set(key, then);
    assembler.forgetRequests();
    const window = assembler.nextRequest();
    return window ? { type: 'blob.request', hash: keep, ...window } : undefined;
  }

  /**
   * Takes a chunk: returns the whole blob and what to do with it when it completes, or the next
   * request to send.
   */
  accept(
    chunk: BlobChunk,
  ): Result<{ blob?: { bytes: Uint8Array; then: BlobLanded }; next?: BlobRequest }> {
    const key = toHex(chunk.hash);
    const assembler = this.pulls.get(key);
    if (!assembler) return fail('blob.unrequested', 'a chunk of a blob this site is not pulling');
    const accepted = assembler.accept(chunk);
    if (!accepted.ok) return accepted;
    if (assembler.complete) {
      this.pulls.delete(key);
      const then = this.landed.get(key)!;
      this.landed.delete(key);
      const whole = assembler.result();
      return whole.ok ? ok({ blob: { bytes: whole.value, then } }) : whole;
    }
    if (!assembler.idle) return ok({});
    const window = assembler.nextRequest();
    return ok(window ? { next: { type: 'blob.request', hash: chunk.hash, ...window } } : {});
  }
}
