import type { BlobManifest, NamedTensor } from '../../protocol/index.js';

/** A tensor list with its encoded blob and the content hash (hex) the store named it by. */
export interface StoredTensors {
  readonly tensors: NamedTensor[];
  readonly bytes: Uint8Array;
  readonly hash: string;
}

/** Where sites download a blob from: the transfer service's outbox. */
export interface BlobOutbox {
  offer(bytes: Uint8Array, chunkBytes: number): BlobManifest;
  withdraw(manifest: BlobManifest): void;
}

/**
 * The run's global student: its version, weights (a float32 tensor blob, stored and offered to
 * the round's sites) and, once pruning has pruned anything, its mask (a float16 blob: 0 and 1
 * are exact in it, at half the bytes). Blobs are offered on first use and withdrawn when a new
 * version replaces them.
 */
export class GlobalModel {
  private modelBlob: BlobManifest | undefined;
  private maskBlob: BlobManifest | undefined;

  constructor(
    private readonly outbox: BlobOutbox,
    private readonly chunkBytes: number,
    private current: { version: number; model: StoredTensors; mask?: StoredTensors },
  ) {}

  get version(): number {
    return this.current.version;
  }

  get tensors(): NamedTensor[] {
    return this.current.model.tensors;
  }

  /** The model's content hash: its identity in the audit log. */
  get hash(): string {
    return this.current.model.hash;
  }

  get mask(): StoredTensors | undefined {
    return this.current.mask;
  }

  /** The model and mask as sites download them. */
  offered(): { model: BlobManifest; mask?: BlobManifest } {
    const { model, mask } = this.current;
    this.modelBlob ??= this.outbox.offer(model.bytes, this.chunkBytes);
    if (mask) this.maskBlob ??= this.outbox.offer(mask.bytes, this.chunkBytes);
    return { model: this.modelBlob, ...(this.maskBlob ? { mask: this.maskBlob } : {}) };
  }

  /** The next version replaces this one; sites can no longer download the old blobs. */
  advance(next: { model: StoredTensors; mask?: StoredTensors }): void {
    if (this.modelBlob) this.outbox.withdraw(this.modelBlob);
    if (this.maskBlob) this.outbox.withdraw(this.maskBlob);
    this.modelBlob = this.maskBlob = undefined;
    this.current = { version: this.current.version + 1, ...next };
  }
}
