import { fork, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { CoordinatorIpcMessage } from '../cli/coordinator-ipc.js';
import { generateKeySet, type KeySet } from '../cli/keys.js';
import type { CoordinatorConfigInput } from '../coordinator/config/coordinator-config.js';
import type { RoundSummary } from '../coordinator/runs/run-report.js';
import { formatLabelledCsv, seededRandom, type LabelledTable } from '../protocol/index.js';
import type { ProbeReply } from './coordinator-probe.js';
import { round } from './results.js';

/**
 * What the scale benches share: a federation of simulated sites on a tiny MLP student (8-8-2)
 * over synthetic rows, and coordinator processes (`fedistill coordinator`) with the probe
 * loaded, so that memory and event-loop delay are each process's own.
 */
const FEATURES = 8;
const MAIN = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const PROBE = pathToFileURL(fileURLToPath(new URL('./coordinator-probe.js', import.meta.url)));

/** Two classes split by the sign of the first four features' sum, seeded. */
function syntheticTable(rows: number, seed: number): LabelledTable {
  const random = seededRandom(seed);
  const inputs = Float32Array.from({ length: rows * FEATURES }, () => random() * 2 - 1);
  const labels = Int32Array.from({ length: rows }, (_, r) => {
    let sum = 0;
    for (let c = 0; c < 4; c++) sum += inputs[r * FEATURES + c]!;
    return sum > 0 ? 1 : 0;
  });
  const featureNames = Array.from({ length: FEATURES }, (_, c) => `x${c}`);
  return { featureNames, rows, features: FEATURES, inputs, labels };
}

export const mb = (bytes: number): number => round(bytes / 2 ** 20, 1);
export const seconds = (ms: number): number => round(ms / 1000, 2);

/** Keys for `sites` sites and the coordinator folder's data; `configFor` writes a config. */
export async function prepareScaleFolder(
  dir: string,
  sites: number,
  rounds: number,
): Promise<{
  names: string[];
  keys: KeySet;
  writeConfig: (name: string, extra: Partial<CoordinatorConfigInput>) => Promise<string>;
}> {
  const names = Array.from({ length: sites }, (_, i) => `site-${i + 1}`);
  const keys = await generateKeySet(path.join(dir, 'keys'), names);
  const coordinatorDir = path.join(dir, 'coordinator');
  await mkdir(coordinatorDir);
  await writeFile(
    path.join(coordinatorDir, 'public.csv'),
    formatLabelledCsv(syntheticTable(400, 1)),
  );
  await writeFile(
    path.join(coordinatorDir, 'held-out.csv'),
    formatLabelledCsv(syntheticTable(200, 2)),
  );
  const base: CoordinatorConfigInput = {
    listen: { host: '127.0.0.1', port: 0 },
    identityFile: keys.coordinatorIdentity,
    allowListFile: keys.allowList,
    data: { name: 'synthetic-8', classes: 2, publicSplit: 'public.csv', heldOut: 'held-out.csv' },
    run: {
      id: 'scale',
      rounds,
      minSites: sites,
      seed: 1,
      studentHidden: [8],
      teacher: { source: 'model', hidden: [16], epochs: 20, batchSize: 32, learningRate: 0.01 },
      // Every site answers: a round closes when the last update is in, never by its deadline.
      roundDeadlineMs: 600_000,
    },
    cacheDir: path.join(dir, 'cache'),
    reportFile: path.join(dir, 'report.json'),
    exportDir: dir,
    // The bench reads the connected-sites gauge without a token, as a scraper on loopback would.
    metrics: { public: true },
    // Named, not 'auto': the same backend on every machine (and the one sites use in Node).
    backend: 'wasm',
    // Every simulated site connects from 127.0.0.1: the per-address limits are sized for that.
    limits: {
      connections: { total: sites + 64, perAddress: sites + 64 },
      handshakes: { burst: sites, perSecond: sites },
    },
  };
  const writeConfig = async (name: string, extra: Partial<CoordinatorConfigInput>) => {
    const file = path.join(coordinatorDir, `${name}.json`);
    await writeFile(file, JSON.stringify({ ...base, ...extra }));
    return file;
  };
  return { names, keys, writeConfig };
}

/** A coordinator process with the probe loaded. */
export interface ProbedNode {
  readonly child: ChildProcess;
  /** Settles with the URL once the node serves sites (as the leader or an edge). */
  readonly serving: Promise<string>;
  /** Settles once the node leads (at start, or when it took the lease over). */
  readonly leading: Promise<string>;
  /** Rounds closed, as this node reported them, with when. */
  readonly rounds: { summary: RoundSummary; at: number }[];
  onRound(listener: () => void): void;
  probe(reset?: boolean): Promise<ProbeReply>;
  stop(): Promise<void>;
}

export function forkNode(configFile: string): ProbedNode {
  const child = fork(MAIN, ['coordinator', '--config', configFile], {
    execArgv: [...process.execArgv, '--import', PROBE.href],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  const probes: ((reply: ProbeReply) => void)[] = [];
  const rounds: { summary: RoundSummary; at: number }[] = [];
  const listeners: (() => void)[] = [];
  let serve!: (url: string) => void;
  let lead!: (url: string) => void;
  const exited = new Promise<never>((_, reject) =>
    child.on('exit', (code) => reject(new Error(`a coordinator exited (${code})`))),
  );
  exited.catch(() => undefined);
  const serving = Promise.race([new Promise<string>((r) => (serve = r)), exited]);
  const leading = Promise.race([new Promise<string>((r) => (lead = r)), exited]);
  leading.catch(() => undefined);
  child.on('message', (m: CoordinatorIpcMessage | ProbeReply) => {
    if (m.type === 'edge') serve(m.url);
    else if (m.type === 'listening') {
      serve(m.url);
      lead(m.url);
    } else if (m.type === 'probe') probes.shift()?.(m);
    else if (m.type === 'round') {
      rounds.push({ summary: m.summary, at: performance.now() });
      for (const listener of listeners) listener();
    }
  });
  return {
    child,
    serving,
    leading,
    rounds,
    onRound: (listener) => listeners.push(listener),
    probe: (reset = false) =>
      new Promise((resolve) => {
        probes.push(resolve);
        child.send({ type: 'probe', reset });
      }),
    stop: async () => {
      const gone = new Promise((r) => child.once('exit', r));
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 5_000))]);
    },
  };
}
