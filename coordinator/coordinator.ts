import 'reflect-metadata';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { NestFactory } from '@nestjs/core';
import { Logger, type LogLevel } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import {
  allowListSchema,
  FedistillError,
  identityFileSchema,
  identityKeyPair,
  loadSodium,
  readJsonFile,
  selectBackend,
  unwrap,
} from '../protocol/index.js';
import { AppModule } from './app.module.js';
import { normalizerFor, type CoordinatorConfig } from './config/coordinator-config.js';
import { readSplit } from './config/read-split.js';
import type { CoordinatorSetup } from './coordinator-setup.js';
import { applyHttpHeaders } from './http-headers.js';
import { serveDashboard } from './dashboard/static-assets.js';
import { CoordinatorEvents } from './events/coordinator-events.js';
import { limitConnections } from './limits/connection-limits.js';
import { PinoLogger } from './logging/pino-logger.js';
import type { RunReport } from './runs/run-report.js';
import { RunsService } from './runs/runs.service.js';
import { Leadership } from './nodes/leadership.js';
import { openStore } from './store/open-store.js';
import type { TeacherSummary } from './teacher/prepared-teacher.js';

export interface CoordinatorHandle {
  /** The URL sites connect to. */
  readonly url: string;
  /** The run started or resumed at boot (from the config, or found running in the store). */
  readonly runId?: string;
  readonly events: CoordinatorEvents;
  /** That run's teacher. */
  readonly teacher?: TeacherSummary;
  /**
   * Settles with the first run this coordinator starts or resumes: its report once the last
   * round is evaluated and the report written.
   */
  readonly finished: Promise<RunReport>;
  /**
   * On a shared (PostgreSQL) store: settles when another process took the leader lease over
   * (this one paused or lost the store for a lease time). The process must stop: the store
   * refuses its writes from then on.
   */
  readonly lost?: Promise<Error>;
  /** Stops serving, and gives the leader lease up so that a standby takes over at once. */
  close(): Promise<void>;
}

export interface CoordinatorOptions {
  /** Nest log levels; false silences the coordinator (tests). */
  readonly logLevels?: LogLevel[] | false;
}

/** Reads and checks everything the coordinator needs before any socket opens. */
export async function prepareSetup(
  config: CoordinatorConfig,
  startedAt: number,
): Promise<CoordinatorSetup> {
  const sodium = await loadSodium();
  const identity = unwrap(await readJsonFile(config.identityFile, identityFileSchema));
  const allowList = unwrap(await readJsonFile(config.allowListFile, allowListSchema));
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
    sodium,
    identity: identityKeyPair(identity),
    allowList,
    backend,
    publicSplit,
    heldOut,
    normalizer: normalizerFor(config.data, publicSplit),
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
  const store = await openStore(config, await loadSodium());
  let app: NestExpressApplication | undefined;
  let setup: CoordinatorSetup;
  let leadership: Leadership | undefined;
  try {
    // Processes sharing a PostgreSQL store take turns: one leads, the others wait here, before
    // anything reads the store's run, audit log or registry.
    if (config.store.kind === 'postgres') {
      leadership = await Leadership.take(store, { ttlMs: config.store.leaseMs });
    }
    setup = await prepareSetup(config, startedAt);
    const levels = options.logLevels ?? ['log', 'warn', 'error'];
    const httpsOptions = config.tls && {
      cert: await readFile(config.tls.certFile),
      key: await readFile(config.tls.keyFile),
    };
    app = await NestFactory.create<NestExpressApplication>(AppModule.forSetup(setup, store), {
      logger: levels === false ? false : new PinoLogger(levels),
      ...(httpsOptions ? { httpsOptions } : {}),
    });
    applyHttpHeaders(app, { https: httpsOptions !== undefined });
    if (!serveDashboard(app).served) {
      new Logger('Dashboard').warn(
        'the dashboard is not built (npm run build): only the API is served',
      );
    }
    const events = app.get(CoordinatorEvents);
    limitConnections(app.getHttpServer(), config.limits.connections, (code) =>
      events.emit('unauthenticatedRefusal', { kind: 'connection', code }),
    );
    await app.listen(config.listen.port, config.listen.host);
  } catch (error) {
    await app?.close();
    await leadership?.release();
    await store.close();
    throw error;
  }
  const runs = app.get(RunsService);
  const boot = runs.boot;
  const address = app.getHttpServer().address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `${config.tls ? 'https' : 'http'}://${host}:${address.port}`,
    ...(boot
      ? {
          runId: boot.id,
          teacher: boot.teacher.summary,
        }
      : {}),
    events: app.get(CoordinatorEvents),
    finished: runs.firstFinished,
    ...(leadership ? { lost: leadership.lost } : {}),
    close: async () => {
      await app.close();
      await leadership?.release();
      await store.close();
    },
  };
}
