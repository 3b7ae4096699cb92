import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  decodeTransferSet,
  toHex,
  type Sodium,
  type TransferManifest,
  type TransferSet,
} from '../protocol/index.js';

/**
 * Verified transfer sets on the site's disk, one file per content hash. A cached file is
 * re-verified on every load, so a corrupted cache is refetched rather than trusted.
 */
export class TransferCache {
  constructor(
    private readonly sodium: Sodium,
    private readonly dir: string,
  ) {}

  private file(manifest: TransferManifest): string {
    return path.join(this.dir, `${toHex(manifest.hash)}.transfer`);
  }

  async load(manifest: TransferManifest): Promise<TransferSet | undefined> {
    let bytes: Uint8Array;
    try {
      bytes = await readFile(this.file(manifest));
    } catch {
      return undefined;
    }
    const decoded = decodeTransferSet(this.sodium, bytes, manifest);
    return decoded.ok ? decoded.value : undefined;
  }

  async store(manifest: TransferManifest, bytes: Uint8Array): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const target = this.file(manifest);
    const partial = `${target}.${process.pid}.partial`;
    await writeFile(partial, bytes);
    await rename(partial, target);
  }
}
