import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { hostname, networkInterfaces } from 'node:os';
import { rootCertificates } from 'node:tls';
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
import { readSplits } from './config/read-splits.js';
import type { CoordinatorSetup } from './coordinator-setup.js';
import { applyHttpHeaders } from './http-headers.js';
import { serveDashboard } from './dashboard/static-assets.js';
import { CoordinatorEvents } from './events/coordinator-events.js';
import { limitConnections } from './limits/connection-limits.js';
import { PinoLogger } from './logging/pino-logger.js';
import type { RunReport } from './runs/run-report.js';
import { RunsService } from './runs/runs.service.js';
import { EdgeModule } from './nodes/edge.module.js';
import { EdgeRelay } from './nodes/edge-relay.js';
import { EdgeFolds } from './nodes/edge-folds.js';
import { EdgeSessions } from './nodes/edge-sessions.js';
import { forwardFeed, forwardRequests, type LeaderAddress } from './nodes/leader-forward.js';
import { LEADER_LEASE, Leadership } from './nodes/leadership.js';
import { NodeBus } from './nodes/node-bus.js';
import { openStore } from './store/open-store.js';
import type { CoordinatorStore } from './store/store.js';
import type { TeacherSummary } from './teacher/prepared-teacher.js';
import { TransferService } from './transfer/transfer.service.js';

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
  const { publicSplit, publicLabels, heldOut, publicSplitBytes, text } = await readSplits(config);
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
    publicLabels,
    heldOut,
    normalizer: normalizerFor(config.data, publicSplit),
    publicSplitBytes,
    ...(text ? { text } : {}),
    startedAt,
  };
}

/** An edge node: it serves sites for the leader until it takes the lease itself. */
export interface EdgeHandle {
  /** The URL sites connect to: the same once this node leads. */
  readonly url: string;
  /** Settles when this node has taken the lease and serves as the leader, on the same port. */
  readonly leading: Promise<CoordinatorHandle>;
  /** Settles when this node must stop: the node bus failed. */
  readonly lost: Promise<Error>;
  close(): Promise<void>;
}

/** This process's name among coordinator nodes: the lease holder and the bus address. */
const nodeName = (): string => `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;

/** Nest's logger for the levels asked for. */
const nestLogger = (options: CoordinatorOptions) => {
  const levels = options.logLevels ?? ['log', 'warn', 'error'];
  return levels === false ? false : new PinoLogger(levels);
};

/** Listens on `port` (the config's, or the one an edge node had) and gives the URL. */
async function listen(
  app: NestExpressApplication,
  config: CoordinatorConfig,
  port: number,
): Promise<string> {
  const events = app.get(CoordinatorEvents);
  limitConnections(app.getHttpServer(), config.limits.connections, (code) =>
    events.emit('unauthenticatedRefusal', { kind: 'connection', code }),
  );
  await app.listen(port, config.listen.host);
  const address = app.getHttpServer().address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${config.tls ? 'https' : 'http'}://${host}:${address.port}`;
}

const httpsOptionsOf = async (config: CoordinatorConfig) =>
  config.tls && {
    cert: await readFile(config.tls.certFile),
    key: await readFile(config.tls.keyFile),
  };

/**
 * Where the other nodes reach this one: the config's `advertiseUrl`, or the listening URL with
 * a wildcard host replaced by this machine's first non-loopback IPv4 address.
 */
function advertisedUrl(config: CoordinatorConfig, listening: string): string {
  if (config.listen.advertiseUrl) return config.listen.advertiseUrl;
  const url = new URL(listening);
  if (url.hostname === '0.0.0.0' || url.hostname === '[::]') {
    const external = Object.values(networkInterfaces())
      .flat()
      .find((a) => a && a.family === 'IPv4' && !a.internal);
    if (external) url.hostname = external.address;
  }
  return url.origin;
}

/** The leader's side of a shared store: its lease and the node bus edge nodes reach it by. */
interface Nodes {
  readonly leadership: Leadership;
  readonly bus: NodeBus;
  /** The lease time: also how long an edge may be silent before its sessions end. */
  readonly leaseMs: number;
  readonly port?: number;
}

/** The conducting coordinator's app on an open store, listening. */
async function openLeader(
  setup: CoordinatorSetup,
  store: CoordinatorStore,
  options: CoordinatorOptions,
  nodes: Nodes | undefined,
): Promise<CoordinatorHandle> {
  const { config } = setup;
  const httpsOptions = await httpsOptionsOf(config);
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forSetup(setup, store), {
    logger: nestLogger(options),
    ...(httpsOptions ? { httpsOptions } : {}),
  });
  let edges: EdgeSessions | undefined;
  let url: string;
  try {
    applyHttpHeaders(app, { https: httpsOptions !== undefined });
    if (!serveDashboard(app).served) {
      new Logger('Dashboard').warn(
        'the dashboard is not built (npm run build): only the API is served',
      );
    }
    url = await listen(app, config, nodes?.port ?? config.listen.port);
    if (nodes) {
      await nodes.bus.announce(advertisedUrl(config, url));
      edges = new EdgeSessions(nodes.bus, app.get(RunsService), nodes.leaseMs);
      app.get(RunsService).attachEdges(edges);
    }
  } catch (error) {
    await app.close();
    throw error;
  }
  const runs = app.get(RunsService);
  const boot = runs.boot;
  return {
    url,
    ...(boot ? { runId: boot.id, teacher: boot.teacher.summary } : {}),
    events: app.get(CoordinatorEvents),
    finished: runs.firstFinished,
    ...(nodes ? { lost: Promise.race([nodes.leadership.lost, nodes.bus.failed]) } : {}),
    close: async () => {
      edges?.close();
      await app.close();
      await nodes?.leadership.release();
      await nodes?.bus.close();
      await store.close();
    },
  };
}

/**
 * Starts the coordinator: prepares the teacher, then listens for sites on loopback or
 * `listen`. On a shared (PostgreSQL) store it waits until it holds the leader lease; use
 * `startNode` for a process that serves as an edge node meanwhile.
 */
export async function startCoordinator(
  config: CoordinatorConfig,
  options: CoordinatorOptions = {},
): Promise<CoordinatorHandle> {
  const started = await startNode(config, options, { edge: false });
  return 'leading' in started ? started.leading : started;
}

/**
 * Starts a coordinator node. On SQLite, or when it takes the leader lease, it conducts (as
 * `startCoordinator`). Otherwise, with `edge` (the default), it serves sites as an edge node,
 * relaying their sessions to the leader through the store's database, until it takes the
 * lease; then it closes its edge sessions (the sites reconnect) and leads on the same port.
 */
export async function startNode(
  config: CoordinatorConfig,
  options: CoordinatorOptions = {},
  { edge = true }: { edge?: boolean } = {},
): Promise<CoordinatorHandle | EdgeHandle> {
  const startedAt = performance.now();
  const store = await openStore(config, await loadSodium());
  if (config.store.kind !== 'postgres') {
    try {
      return await openLeader(await prepareSetup(config, startedAt), store, options, undefined);
    } catch (error) {
      await store.close();
      throw error;
    }
  }
  const ttlMs = config.store.leaseMs;
  const node = nodeName();
  let bus: NodeBus | undefined;
  let leadership: Leadership | undefined;
  try {
    bus = await NodeBus.open(config.store.url, node);
    // Before anything reads the store's run, audit log or registry, this node learns its role.
    leadership = edge
      ? await Leadership.tryTake(store, { ttlMs, holder: node })
      : await Leadership.take(store, { ttlMs, holder: node });
    const setup = await prepareSetup(config, startedAt);
    if (leadership) {
      return await openLeader(setup, store, options, { leadership, bus, leaseMs: ttlMs });
    }
    return await openEdge(setup, store, options, { bus, node, ttlMs });
  } catch (error) {
    await leadership?.release();
    await bus?.close();
    await store.close();
    throw error;
  }
}

/** An edge node's app, and its wait for the lease. */
async function openEdge(
  setup: CoordinatorSetup,
  store: CoordinatorStore,
  options: CoordinatorOptions,
  { bus, node, ttlMs }: { bus: NodeBus; node: string; ttlMs: number },
): Promise<EdgeHandle> {
  const { config } = setup;
  const readBlob = (hash: string): Promise<Uint8Array> => store.models.readBlob(hash);
  const relay = new EdgeRelay(
    bus,
    new TransferService(setup),
    new EdgeFolds(readBlob, store.updates),
    readBlob,
    async () => (await store.leases.current(LEADER_LEASE))?.holder,
    Math.max(50, ttlMs / 3),
  );
  // Where operators' requests go: the lease holder's announced address.
  const addresses = new Map<string, string>();
  const leaderAddress = async (): Promise<LeaderAddress> => {
    const leader = relay.leader;
    if (!leader) return { missing: 'no coordinator node leads now; try again shortly' };
    const url = addresses.get(leader) ?? (await bus.addressOf(leader));
    if (!url) return { missing: `the leader ${leader} has not announced its address yet` };
    addresses.set(leader, url);
    return { url };
  };
  const httpsOptions = await httpsOptionsOf(config);
  const app = await NestFactory.create<NestExpressApplication>(
    EdgeModule.forSetup(setup, store, relay),
    { logger: nestLogger(options), ...(httpsOptions ? { httpsOptions } : {}) },
  );
  let url: string;
  try {
    applyHttpHeaders(app, { https: httpsOptions !== undefined });
    const ca = httpsOptions ? [...rootCertificates, httpsOptions.cert.toString()] : undefined;
    forwardRequests(app, leaderAddress, ca);
    url = await listen(app, config, config.listen.port);
    forwardFeed(app.getHttpServer(), leaderAddress, ca);
  } catch (error) {
    relay.close();
    await app.close();
    throw error;
  }
  const port = Number(new URL(url).port);
  const quit = new AbortController();
  new Logger('Node').log(`serving sites as an edge node on ${url}`);
  let closeLeader: (() => Promise<void>) | undefined;
  const leading = (async () => {
    const leadership = await Leadership.take(store, { ttlMs, holder: node, signal: quit.signal });
    relay.close();
    await app.close();
    try {
      const handle = await openLeader(setup, store, options, {
        leadership,
        bus,
        leaseMs: ttlMs,
        port,
      });
      closeLeader = handle.close;
      return handle;
    } catch (error) {
      await leadership.release();
      throw error;
    }
  })();
  leading.catch(() => undefined);
  return {
    url,
    leading,
    lost: bus.failed,
    close: async () => {
      quit.abort();
      if (closeLeader) return closeLeader();
      relay.close();
      await app.close();
      await bus.close();
      await store.close();
    },
  };
}
