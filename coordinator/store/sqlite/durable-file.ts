import { open, rename } from 'node:fs/promises';
import path from 'node:path';
import { PRIVATE_FILE_MODE } from '../private-files.js';

/** Writes a file so that it is either whole on disk or absent, even across a crash. */
export async function writeDurably(file: string, bytes: Uint8Array): Promise<void> {
  const partial = `${file}.partial`;
  const handle = await open(partial, 'w', PRIVATE_FILE_MODE);
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(partial, file);
  // The rename is durable only once the directory entry is.
  const dir = await open(path.dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
