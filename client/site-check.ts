import { identityFileSchema, readJsonFile, type Result, fail, ok } from '../protocol/index.js';
import {
  isTextSource,
  labelBalance,
  loadPrivateData,
  loadPrivateTexts,
} from './data-sources/private-data.js';
import { splitPrivate } from './data-sources/private-split.js';
import { splitPrivateTexts } from './data-sources/private-texts.js';
import type { SiteConfig } from './site-config.js';

export interface SiteCheck {
  readonly site: string;
  readonly coordinator: string;
  readonly rows: number;
  readonly trainingRows: number;
  readonly validationRows: number;
  readonly columns: readonly string[];
  readonly labels: ReadonlyMap<number, number>;
}

/**
 * What `fedistill site check` verifies without connecting: the config (already parsed), the
 * identity file, and the private data (readable, numeric or texts, labelled). The summary is printed
 * on the site's own console and sent nowhere.
 */
export async function checkSite(config: SiteConfig): Promise<Result<SiteCheck>> {
  const identity = await readJsonFile(config.identityFile, identityFileSchema);
  if (!identity.ok) return identity;
  const data = await checkedData(config);
  if (!data.ok) return data;
  const { rows, trainingRows, columns, labels } = data.value;
  if (rows < 2) return fail('data.invalid', 'the private data needs at least 2 rows');
  return ok({
    site: identity.value.name,
    coordinator: config.coordinator.url,
    rows,
    trainingRows,
    validationRows: rows - trainingRows,
    columns,
    labels: labelBalance({ labels }),
  });
}

/** The rows (or texts) as the site would train on them; texts have one column, the text's. */
async function checkedData(
  config: SiteConfig,
): Promise<
  Result<{ rows: number; trainingRows: number; columns: readonly string[]; labels: Int32Array }>
> {
  const { data, validationFraction, seed } = config;
  if (isTextSource(data)) {
    const texts = await loadPrivateTexts(data);
    if (!texts.ok) return texts;
    const split = splitPrivateTexts(texts.value, validationFraction, seed);
    return ok({
      rows: texts.value.labels.length,
      trainingRows: split.train.labels.length,
      columns: [data.kind === 'csv' || data.kind === 'jsonl' ? data.text! : 'text (files)'],
      labels: texts.value.labels,
    });
  }
  const table = await loadPrivateData(data);
  if (!table.ok) return table;
  const split = splitPrivate(table.value, validationFraction, seed);
  return ok({
    rows: table.value.rows,
    trainingRows: split.train.rows,
    columns: table.value.featureNames,
    labels: table.value.labels,
  });
}
