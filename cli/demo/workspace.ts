import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  formatLabelledCsv,
  formatTextJsonl,
  formatUnlabelledCsv,
  type LabelledTable,
} from '../../protocol/index.js';
import type { PruningConfigInput } from '../../coordinator/compression/pruning-config.js';
import type { DpConfigInput } from '../../coordinator/privacy/privacy-config.js';
import type { CoordinatorConfigInput } from '../../coordinator/config/coordinator-config.js';
import type { SiteConfigInput } from '../../client/site-config.js';
import { generateKeySet, type KeySet } from '../keys.js';
import type { LabelledTexts } from '../../client/data-sources/private-texts.js';
import { splitScenario, type ScenarioSplit } from './scenario-split.js';
import { SCENARIOS, type Scenario } from './scenarios.js';

export interface WorkspacePlan {
  /** The data, its split and the run's settings; hospitals (breast cancer) by default. */
  readonly scenario?: Scenario;
  readonly sites: number;
  readonly rounds: number;
  readonly seed: number;
  /** Teacher cache, shared between runs. */
  readonly cacheDir: string;
  readonly blobChunkBytes?: number;
  /** The run's `compression.pruning`; without it the student stays dense. */
  readonly pruning?: PruningConfigInput;
  /** The run's `privacy.dp`; without it the run is not differentially private. */
  readonly dp?: DpConfigInput;
  /** Secure aggregation (SecAgg+) for every round. */
  readonly secureAggregation?: boolean;
}

export interface DemoWorkspace {
  readonly dir: string;
  readonly coordinatorConfigFile: string;
  readonly reportFile: string;
  readonly siteNames: readonly string[];
  readonly keys: KeySet;
  readonly split: ScenarioSplit;
  readonly scenario: Scenario;
  /**
   * With an outside teacher: where its logits on the transfer set go, in the coordinator's
   * imports folder, for the run's `teacher` to import.
   */
  readonly teacherLogitsFile?: string;
}

/** The imported teacher's file, relative to the coordinator's config (its operatorFiles.dir). */
const OUTSIDE_TEACHER_LOGITS = path.join('imports', 'outside-teacher.bin');

/** Every JSON file the demo writes: indented for people to read, ending in a newline. */
export const formatJson = (value: unknown): string => JSON.stringify(value, null, 2) + '\n';

/** A site's private data beside its config: rows as CSV, or texts as JSONL. */
const PRIVATE_ROWS = { kind: 'csv', path: 'private.csv', label: 'label' } as const;
const PRIVATE_TEXTS = {
  kind: 'jsonl',
  path: 'private.jsonl',
  label: 'label',
  text: 'text',
} as const;

const privateData = (split: ScenarioSplit) => (split.texts ? PRIVATE_TEXTS : PRIVATE_ROWS);

/** A site's config: the coordinator it pins, its own key, its private data beside the config. */
export function siteConfigFor(site: {
  readonly url: string;
  /** Standby coordinator processes, tried in turn after `url`. */
  readonly fallbackUrls?: readonly string[];
  readonly coordinatorPublicKey: string;
  readonly identityFile: string;
  /** The federation's allow-list as the site pins it. */
  readonly allowListFile: string;
  /** Its private data; rows in private.csv unless said. */
  readonly data?: SiteConfigInput['data'];
}): SiteConfigInput {
  return {
    coordinator: {
      url: site.url,
      ...(site.fallbackUrls?.length ? { fallbackUrls: [...site.fallbackUrls] } : {}),
      publicKey: site.coordinatorPublicKey,
    },
    identityFile: site.identityFile,
    federation: { allowListFile: site.allowListFile },
    data: site.data ?? PRIVATE_ROWS,
    cacheDir: 'cache',
    backend: 'auto',
  };
}

/**
 * Lays out one run as separate parties would hold it: keys, the coordinator's public and
 * held-out splits and config, and one folder per site with only its own private partition.
 */
export async function prepareWorkspace(dir: string, plan: WorkspacePlan): Promise<DemoWorkspace> {
  const siteNames = Array.from({ length: plan.sites }, (_, i) => `site-${i + 1}`);
  const scenario = plan.scenario ?? SCENARIOS.hospitals;
  const split = await splitScenario({ scenario, sites: plan.sites, seed: plan.seed });
  const keys = await generateKeySet(path.join(dir, 'keys'), siteNames);
  const coordinatorDir = path.join(dir, 'coordinator');
  await mkdir(coordinatorDir, { recursive: true });
  // An outside teacher's transfer set reaches the coordinator without labels: only the teacher
  // labels it.
  const outside = scenario.teacher.kind === 'outside';
  const { texts } = split;
  // Over text every party holds its texts, never the token rows: the tokenizer is the run's.
  const extension = texts ? 'jsonl' : 'csv';
  const publicFile = `public.${extension}`;
  const heldOutFile = `held-out.${extension}`;
  const formatPart = (rows: LabelledTable, part?: LabelledTexts, labelled = true): string => {
    if (!part) return labelled ? formatLabelledCsv(rows) : formatUnlabelledCsv(rows);
    return formatTextJsonl(part.texts, labelled ? part.labels : undefined);
  };
  await writeFile(
    path.join(coordinatorDir, publicFile),
    formatPart(split.publicSplit, texts?.publicSplit, !outside),
  );
  await writeFile(
    path.join(coordinatorDir, heldOutFile),
    formatPart(split.heldOut, texts?.heldOut),
  );
  const reportFile = path.join(dir, 'report.json');
  const config: CoordinatorConfigInput = {
    listen: { host: '127.0.0.1', port: 0 },
    identityFile: keys.coordinatorIdentity,
    allowListFile: keys.allowList,
    data: {
      name: scenario.dataName,
      classes: scenario.classNames.length,
      publicSplit: publicFile,
      publicLabels: !outside,
      heldOut: heldOutFile,
      normalize: scenario.normalize,
      ...(scenario.text ? { text: { column: 'text', ...scenario.text } } : {}),
    },
    run: {
      ...scenario.run,
      ...(outside ? { teacher: { source: 'logits', file: OUTSIDE_TEACHER_LOGITS } } : {}),
      rounds: plan.rounds,
      minSites: plan.sites,
      seed: plan.seed,
      ...(plan.blobChunkBytes ? { blobChunkBytes: plan.blobChunkBytes } : {}),
      ...(plan.pruning ? { compression: { pruning: plan.pruning } } : {}),
      ...(plan.dp || plan.secureAggregation
        ? {
            privacy: {
              ...(plan.dp ? { dp: plan.dp } : {}),
              ...(plan.secureAggregation ? { secureAggregation: { enabled: true } } : {}),
            },
          }
        : {}),
    },
    cacheDir: plan.cacheDir,
    reportFile,
    exportDir: dir,
    backend: 'auto',
  };
  const coordinatorConfigFile = path.join(coordinatorDir, 'config.json');
  await writeFile(coordinatorConfigFile, formatJson(config));
  for (const [i, name] of siteNames.entries()) {
    const siteDir = path.join(dir, 'sites', name);
    await mkdir(siteDir, { recursive: true });
    await writeFile(
      path.join(siteDir, privateData(split).path),
      formatPart(split.sites[i]!, texts?.sites[i]),
    );
  }
  return {
    dir,
    coordinatorConfigFile,
    reportFile,
    siteNames,
    keys,
    split,
    scenario,
    ...(outside ? { teacherLogitsFile: path.join(coordinatorDir, OUTSIDE_TEACHER_LOGITS) } : {}),
  };
}

/** Where a site's config is written, in the site's own folder. */
export const siteConfigFile = (workspace: DemoWorkspace, site: string): string =>
  path.join(workspace.dir, 'sites', site, 'config.json');

/** Writes a site's config once the coordinator's URL is known; returns its path. */
export async function writeSiteConfig(
  workspace: DemoWorkspace,
  site: string,
  url: string,
): Promise<string> {
  const config = siteConfigFor({
    url,
    coordinatorPublicKey: workspace.keys.coordinatorPublicKey,
    identityFile: workspace.keys.siteIdentities[site]!,
    allowListFile: workspace.keys.allowList,
    data: privateData(workspace.split),
  });
  const file = siteConfigFile(workspace, site);
  await writeFile(file, formatJson(config));
  return file;
}
