import type { CoordinatorSetup } from '../coordinator-setup.js';
import type { CoordinatorConfig } from './coordinator-config.js';
import { readPublicSplit, readSplit } from './read-split.js';
import { readTextSplits } from './read-text-splits.js';

/** The public and held-out splits as rows: tabular CSVs, or texts as token ids (`data.text`). */
export async function readSplits(
  config: CoordinatorConfig,
): Promise<
  Pick<CoordinatorSetup, 'publicSplit' | 'publicLabels' | 'heldOut' | 'publicSplitBytes' | 'text'>
> {
  const { data } = config;
  if (data.text) return readTextSplits({ ...data, text: data.text });
  const publicSplit = await readPublicSplit(data.publicSplit, {
    classes: data.classes,
    labelled: data.publicLabels,
  });
  const { table: heldOut } = await readSplit(data.heldOut, data.classes, 'held-out split');
  return {
    publicSplit: publicSplit.table,
    publicLabels: publicSplit.labels,
    heldOut,
    publicSplitBytes: publicSplit.bytes,
  };
}
