import { fail, ok, type LabelledTable, type Result } from '../../protocol/index.js';
import type { PrivateSplit } from './private-split.js';

/**
 * The site's columns in the order the student reads them: run.welcome names the features
 * (PROTOCOL.md 5.2), and a site maps its own columns by name, so its files may order them
 * differently or hold more. A feature the site lacks is refused by name: a guess would train on
 * the wrong column silently.
 */
export function orderFeatures(
  table: LabelledTable,
  names: readonly string[],
): Result<LabelledTable> {
  const index = names.map((name) => table.featureNames.indexOf(name));
  const missing = names.find((_, i) => index[i]! < 0);
  if (missing !== undefined) {
    return fail(
      'data.invalid',
      `the run's student reads feature "${missing}", which this site's data does not have`,
      [missing],
    );
  }
  if (index.every((c, i) => c === i) && names.length === table.features) return ok(table);
  const inputs = new Float32Array(table.rows * names.length);
  for (let r = 0; r < table.rows; r++) {
    const row = r * table.features;
    for (let c = 0; c < names.length; c++)
      inputs[r * names.length + c] = table.inputs[row + index[c]!]!;
  }
  return ok({ ...table, featureNames: [...names], features: names.length, inputs });
}

/** Both parts of a site's split, in the run's feature order. */
export function orderSplit(split: PrivateSplit, names: readonly string[]): Result<PrivateSplit> {
  const train = orderFeatures(split.train, names);
  if (!train.ok) return train;
  if (!split.validation) return ok({ train: train.value, validation: undefined });
  const validation = orderFeatures(split.validation, names);
  return validation.ok ? ok({ train: train.value, validation: validation.value }) : validation;
}
