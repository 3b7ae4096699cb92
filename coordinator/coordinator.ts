import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { NestFactory } from '@nestjs/core';
import type { LogLevel } from '@nestjs/common';
import {
  allowListSchema,
  FedistillError,
  fitNormalizer,
  identityFileSchema,
  identityKeyPair,
  loadSodium,
  readJsonFile,
  selectBackend,
  unwrap,
} from '../protocol/index.js';
import { AppModule } from './app.module.js';
import type { CoordinatorConfig } from './config/coordinator-config.js';
import { readSplit } from './config/read-split.js';
import type { CoordinatorSetup } from './coordinator-setup.js';
import { CoordinatorEvents } from './events/coordinator-events.js';
import { PinoLogger } from './logging/pino-logger.js';
import type { RunReport } from './runs/run-report.js';
import { RunsService } from './runs/runs.service.js';
import { TeacherService, type TeacherSummary } from './teacher/teacher.service.js';

export interface CoordinatorHandle {
  /** The URL sites connect to. */
  readonly url: string;
  readonly runId: string;
  readonly events: CoordinatorEvents;
  readonly teacher: TeacherSummary;
  /** Resolves with the report once the last round is evaluated and the report is written. */
  readonly finished: Promise<RunReport>;
  close(): Promise<void>;
}

export interface CoordinatorOptions {
  /** Nest log levels; false silences the coordinator (tests). */
  readonly logLevels?: LogLevel[] | false;
}

/** Reads and checks everything the coordinator needs before any socket opens. */
async function prepareSetup(
  config: CoordinatorConfig,
  startedAt: number,
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
  const { table: publicSplit, bytes: publicSplitBytes } = await readSplit(
    config.data.publicSplit,
    config.data.classes,
    'public split',
  );
  const { table: heldOut } = await readSplit(
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
  return {
    config,
    runId: config.run.id ?? randomUUID(),
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
  const setup = await prepareSetup(config, startedAt);
  const levels = options.logLevels ?? ['log', 'warn', 'error'];
  const app = await NestFactory.create(AppModule.forSetup(setup), {
    logger: levels === false ? false : new PinoLogger(levels),
  });
  // Modules prepare (the teacher among them) as the app starts; one that fails must not leave
  // the others' watchers and timers running.
  await app.listen(config.listen.port, config.listen.host).catch(async (error: unknown) => {
    await app.close();
    throw error;
  });
  const address = app.getHttpServer().address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    runId: setup.runId,
    events: app.get(CoordinatorEvents),
    teacher: app.get(TeacherService).summary,
    finished: app.get(RunsService).finished,
    close: () => app.close(),
  };
}
