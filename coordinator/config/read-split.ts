import { readFile } from 'node:fs/promises';
import {
  checkLabels,
  FedistillError,
  parseCsvTable,
  parseUnlabelledCsv,
  unwrap,
  type FeatureTable,
  type LabelledTable,
} from '../../protocol/index.js';

async function readSplitBytes(file: string, what: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    throw new FedistillError({
      code: 'config.invalid',
      message: `cannot read the ${what} ${file}: ${(error as Error).message}`,
    });
  }
}

/** Reads a labelled CSV split the config names; its bytes come along for cache keys. */
export async function readSplit(
  file: string,
  classes: number,
  what: string,
): Promise<{ table: LabelledTable; bytes: Uint8Array }> {
  const bytes = await readSplitBytes(file, what);
  const source = `${what} ${file}`;
  const table = unwrap(parseCsvTable(bytes.toString('utf8'), { label: 'label', source }));
  unwrap(checkLabels(table, classes, source));
  return { table, bytes };
}

/**
 * The public split as the config declares it (`data.publicLabels`): a labelled CSV, or features
 * only (an unlabelled transfer set, whose soft labels only the teacher gives); `labels` is null
 * then.
 */
export async function readPublicSplit(
  file: string,
  { classes, labelled }: { readonly classes: number; readonly labelled: boolean },
): Promise<{ table: FeatureTable; labels: Int32Array | null; bytes: Uint8Array }> {
  if (labelled) {
    const { table, bytes } = await readSplit(file, classes, 'public split');
    return { table, labels: table.labels, bytes };
  }
  const bytes = await readSplitBytes(file, 'public split');
  const table = unwrap(
    parseUnlabelledCsv(bytes.toString('utf8'), {
      label: 'label',
      source: `public split ${file}`,
      reason: 'data.publicLabels is false: the public split is unlabelled',
    }),
  );
  return { table, labels: null, bytes };
}
