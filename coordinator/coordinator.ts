import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { NestFactory } from '@nestjs/core';
import type { INestApplication, LogLevel } from '@nestjs/common';
import {
  allowListSchema,
  contentHash,
  FedistillError,
  fitNormalizer,
  identityFileSchema,
  identityKeyPair,
  loadSodium,
  checkLabels,
  parseCsvTable,
  readJsonFile,
  selectBackend,
  toHex,
  unwrap,
  type LabelledTable,
  type Sodium,
} from '../protocol/index.js';
import { AppModule } from './app.module.js';
import type { CoordinatorConfig } from './config/coordinator-config.js';
import type { CoordinatorSetup } from './coordinator-setup.js';
import { CoordinatorEvents } from './events/coordinator-events.js';
import { PinoLogger } from './logging/pino-logger.js';
import type { RunReport } from './runs/run-report.js';
import { RunsService } from './runs/runs.service.js';
import { SqliteStore } from './store/sqlite-store.js';
import type { CoordinatorStore, StoredRun } from './store/store.js';
import { TeacherService } from './teacher/teacher.service.js';

export interface CoordinatorHandle {
  /** The URL sites connect to. */
  readonly url: string;
  readonly runId: string;
  readonly events: CoordinatorEvents;
  readonly teacher: {
    readonly accuracy: number;
    readonly params: number;
    readonly cached: boolean;
  };
  /** Resolves with the report once the last round is evaluated and the report is written. */
  readonly finished: Promise<RunReport>;
  close(): Promise<void>;
}

export interface CoordinatorOptions {
  /** Nest log levels; false silences the coordinator (tests). */
  readonly logLevels?: LogLevel[] | false;
}

async function readTable(
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

/** What makes a run this run: its settings (not its id) and the data it is evaluated on. */
function specHash(sodium: Sodium, config: CoordinatorConfig, publicSplit: Uint8Array): string {
  const settings = new TextEncoder().encode(
    JSON.stringify({ run: { ...config.run, id: undefined }, data: config.data }),
  );
  return toHex(
    contentHash(sodium, new Uint8Array([...contentHash(sodium, publicSplit), ...settings])),
  );
}

/**
 * The run to continue from the store, if any: the one named by run.id, or else the latest
 * unfinished run with the same settings. A named run with other settings, or one already
 * complete, is refused rather than silently replaced.
 */
function runToResume(
  store: CoordinatorStore,
  config: CoordinatorConfig,
  hash: string,
): StoredRun | undefined {
  const found = store.findRun(hash, config.run.id);
  if (!found) return undefined;
  if (found.specHash !== hash) {
    throw new FedistillError({
      code: 'config.invalid',
      message: `the store ${config.storeFile} holds run ${found.id} with other settings; give this run another id`,
      path: ['run', 'id'],
    });
  }
  if (found.state === 'complete') {
    throw new FedistillError({
      code: 'config.invalid',
      message: `run ${found.id} in ${config.storeFile} is already complete`,
      path: ['run', 'id'],
    });
  }
  return found;
}

/** Reads and checks everything the coordinator needs before any socket opens. */
async function prepareSetup(
  config: CoordinatorConfig,
  startedAt: number,
  store: CoordinatorStore,
): Promise<CoordinatorSetup> {
  const sodium = await loadSodium();
  const identity = unwrap(await readJsonFile(config.identityFile, identityFileSchema));
  const allowList = unwrap(await readJsonFile(config.allowListFile, allowListSchema));
  if (config.run.minSites > allowList.sites.length) {
    throw new FedistillError({
      code: 'config.invalid',
      message: `run.minSites is ${config.run.minSites} but only ${allowList.sites.length} sites are enrolled`,
      path: ['run', 'minSites'],
    });
  }
  const backend = unwrap(await selectBackend(config.backend));
  const { table: publicSplit, bytes: publicSplitBytes } = await readTable(
    config.data.publicSplit,
    config.data.classes,
    'public split',
  );
  const { table: heldOut } = await readTable(
    config.data.heldOut,
    config.data.classes,
    'held-out split',
  );
  if (heldOut.features !== publicSplit.features) {
    throw new FedistillError({
      code: 'data.invalid',
      message: 'the public and held-out splits have different columns',
    });
  }
  const hash = specHash(sodium, config, publicSplitBytes);
  const resumed = runToResume(store, config, hash);
  return {
    config,
    runId: resumed?.id ?? config.run.id ?? randomUUID(),
    specHash: hash,
    ...(resumed ? { resumed } : {}),
    sodium,
    identity: identityKeyPair(identity),
    allowList,
    backend,
    publicSplit,
    heldOut,
    normalizer: fitNormalizer(publicSplit),
    publicSplitBytes,
    startedAt,
  };
}

/** Starts the coordinator: prepares the teacher, then listens for sites on loopback or `listen`. */
export async function startCoordinator(
  config: CoordinatorConfig,
  options: CoordinatorOptions = {},
): Promise<CoordinatorHandle> {
  const startedAt = performance.now();
  const store = new SqliteStore(await loadSodium(), config.storeFile);
  let app: INestApplication | undefined;
  let setup: CoordinatorSetup;
  try {
    setup = await prepareSetup(config, startedAt, store);
    const levels = options.logLevels ?? ['log', 'warn', 'error'];
    app = await NestFactory.create(AppModule.forSetup(setup, store), {
      logger: levels === false ? false : new PinoLogger(levels),
    });
    await app.listen(config.listen.port, config.listen.host);
  } catch (error) {
    await app?.close();
    store.close();
    throw error;
  }
  const teacher = app.get(TeacherService);
  const address = app.getHttpServer().address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    runId: setup.runId,
    events: app.get(CoordinatorEvents),
    teacher: { accuracy: teacher.accuracy, params: teacher.params, cached: teacher.fromCache },
    finished: app.get(RunsService).finished,
    close: async () => {
      await app.close();
      store.close();
    },
  };
}
