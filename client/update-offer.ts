import {
  BlobOutbox,
  ok,
  type BlobChunk,
  type BlobManifest,
  type BlobRequest,
  type Result,
  type Sodium,
} from '../protocol/index.js';

/** Chunk size of the update blobs a site offers. */
const UPDATE_CHUNK_BYTES = 256 * 1024;

/**
 * The one update blob this site offers the coordinator to pull; nothing else is offered. A new
 * offer replaces the last, and an answered round (accepted or rejected) withdraws it.
 */
export class UpdateOffer {
  private readonly outbox: BlobOutbox;
  private offered: BlobManifest | undefined;

  constructor(sodium: Sodium) {
    this.outbox = new BlobOutbox(sodium);
  }

  offer(bytes: Uint8Array): BlobManifest {
    this.withdraw();
    this.offered = this.outbox.offer(bytes, UPDATE_CHUNK_BYTES);
    return this.offered;
  }

  withdraw(): void {
    if (this.offered) this.outbox.withdraw(this.offered.hash);
    this.offered = undefined;
  }

  /** The chunks a request asks for; refused (blob.unknown, …) when it is not for the offer. */
  chunks(request: BlobRequest): Result<BlobChunk[]> {
    const planned = this.outbox.plan(request.hash, request.from, request.count);
    if (!planned.ok) return planned;
    return ok(
      planned.value.map((index) => ({
        type: 'blob.chunk',
        hash: request.hash,
        index,
        data: this.outbox.chunk(request.hash, index)!,
      })),
    );
  }
}
