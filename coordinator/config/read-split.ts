import { readFile } from 'node:fs/promises';
import {
  checkLabels,
  FedistillError,
  parseCsvTable,
  unwrap,
  type LabelledTable,
} from '../../protocol/index.js';

/** Reads a labelled CSV split the config names; its bytes come along for cache keys. */
export async function readSplit(
  file: string,
  classes: number,
  what: string,
): Promise<{ table: LabelledTable; bytes: Uint8Array }> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    throw new FedistillError({
      code: 'config.invalid',
      message: `cannot read the ${what} ${file}: ${(error as Error).message}`,
    });
  }
  const source = `${what} ${file}`;
  const table = unwrap(parseCsvTable(bytes.toString('utf8'), { label: 'label', source }));
  unwrap(checkLabels(table, classes, source));
  return { table, bytes };
}
