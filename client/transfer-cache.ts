import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  contentHash,
  decodeTeacherKnowledge,
  toHex,
  type Sodium,
  type TeacherKnowledge,
  type TeacherDescriptor,
} from '../protocol/index.js';

/**
 * Verified transfer sets on the site's disk, one file per content hash. A cached file is
 * re-verified against the announced hash on every load, so a corrupted cache is fetched
 * again rather than trusted.
 */
export class TransferCache {
  constructor(
    private readonly sodium: Sodium,
    private readonly dir: string,
  ) {}

  private file(descriptor: TeacherDescriptor): string {
    return path.join(this.dir, `${toHex(descriptor.blob.hash)}.transfer`);
  }

  async load(descriptor: TeacherDescriptor): Promise<TeacherKnowledge | undefined> {
    let bytes: Uint8Array;
    try {
      bytes = await readFile(this.file(descriptor));
    } catch {
      return undefined;
    }
    if (!this.sodium.memcmp(contentHash(this.sodium, bytes), descriptor.blob.hash))
      return undefined;
    const decoded = decodeTeacherKnowledge(bytes, descriptor);
    return decoded.ok ? decoded.value : undefined;
  }

  async store(descriptor: TeacherDescriptor, bytes: Uint8Array): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const target = this.file(descriptor);
    const partial = `${target}.${process.pid}.partial`;
    await writeFile(partial, bytes);
    await rename(partial, target);
  }
}
