import { identityFileSchema, readJsonFile, type Result, fail, ok } from '../protocol/index.js';
import { labelBalance, loadPrivateData } from './data-sources/private-data.js';
import { splitPrivate } from './data-sources/private-split.js';
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
 * identity file, and the private data (readable, numeric, labelled). The summary is printed
 * on the site's own console and sent nowhere.
 */
export async function checkSite(config: SiteConfig): Promise<Result<SiteCheck>> {
  const identity = await readJsonFile(config.identityFile, identityFileSchema);
  if (!identity.ok) return identity;
  const table = await loadPrivateData(config.data);
  if (!table.ok) return table;
  if (table.value.rows < 2) return fail('data.invalid', 'the private data needs at least 2 rows');
  const split = splitPrivate(table.value, config.validationFraction, config.seed);
  return ok({
    site: identity.value.name,
    coordinator: config.coordinator.url,
    rows: table.value.rows,
    trainingRows: split.train.rows,
    validationRows: split.validation?.rows ?? 0,
    columns: table.value.featureNames,
    labels: labelBalance(table.value),
  });
}
