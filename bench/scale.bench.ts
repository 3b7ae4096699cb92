import { fork } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { CoordinatorIpcMessage } from '../cli/coordinator-ipc.js';
import { generateKeySet } from '../cli/keys.js';
import type { CoordinatorConfigInput } from '../coordinator/config/coordinator-config.js';
import type { RoundSummary } from '../coordinator/runs/run-report.js';
import {
  formatLabelledCsv,
  loadSodium,
  seededRandom,
  type LabelledTable,
} from '../protocol/index.js';
import { HandSite } from '../harness/hand-site.js';
import type { ProbeReply } from './coordinator-probe.js';
import { recordResults, round } from './results.js';

/**
 * The coordinator with many sites: one coordinator process (`fedistill coordinator`, a tiny MLP
 * student 8-8-2) and FEDISTILL_SCALE_SITES (default 1000) sites simulated in this process, each
 * over its own socket with the real handshake, encrypted frames and blob pulls
 * (harness/hand-site.ts). Sites join in batches of BATCH concurrent handshakes, each
 * fetching the transfer set; then all say ready and every site answers every one of ROUNDS
 * rounds. Figures: time to join all sites, each round's wall time, and the coordinator
 * process's own memory and event-loop delay (bench/coordinator-probe.ts, loaded into it).
 * The sites' objects live in this process, not the coordinator's. Figures only, never pass/fail.
 */
const SITES = Number(process.env.FEDISTILL_SCALE_SITES ?? 1000);
const ROUNDS = 3;
const BATCH = 50;
const FEATURES = 8;
const MAIN = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const PROBE = pathToFileURL(fileURLToPath(new URL('./coordinator-probe.js', import.meta.url)));

if (!Number.isInteger(SITES) || SITES < 1)
  throw new Error('FEDISTILL_SCALE_SITES: a count of sites');

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

const mb = (bytes: number): number => round(bytes / 2 ** 20, 1);
const seconds = (ms: number): number => round(ms / 1000, 2);

const dir = await mkdtemp(path.join(tmpdir(), 'fedistill-scale-'));
try {
  const names = Array.from({ length: SITES }, (_, i) => `site-${i + 1}`);
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
  const config: CoordinatorConfigInput = {
    listen: { host: '127.0.0.1', port: 0 },
    identityFile: keys.coordinatorIdentity,
    allowListFile: keys.allowList,
    data: { name: 'synthetic-8', classes: 2, publicSplit: 'public.csv', heldOut: 'held-out.csv' },
    run: {
      rounds: ROUNDS,
      minSites: SITES,
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
      connections: { total: SITES + 64, perAddress: SITES + 64 },
      handshakes: { burst: SITES, perSecond: SITES },
    },
  };
  const configFile = path.join(coordinatorDir, 'config.json');
  await writeFile(configFile, JSON.stringify(config));

  const child = fork(MAIN, ['coordinator', '--config', configFile], {
    execArgv: [...process.execArgv, '--import', PROBE.href],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  try {
    const probes: ((reply: ProbeReply) => void)[] = [];
    const rounds: { summary: RoundSummary; at: number }[] = [];
    let roundClosed: () => void = () => {};
    const listening = new Promise<string>((resolve, reject) => {
      child.on('exit', (code) => reject(new Error(`the coordinator exited (${code})`)));
      child.on('message', (m: CoordinatorIpcMessage | ProbeReply) => {
        if (m.type === 'listening') resolve(m.url);
        else if (m.type === 'probe') probes.shift()?.(m);
        else if (m.type === 'round') {
          rounds.push({ summary: m.summary, at: performance.now() });
          roundClosed();
        }
      });
    });
    const probe = (reset = false): Promise<ProbeReply> =>
      new Promise((resolve) => {
        probes.push(resolve);
        child.send({ type: 'probe', reset });
      });
    const url = await listening;
    const sodium = await loadSodium();
    await new Promise((r) => setTimeout(r, 1_000));
    const baseline = await probe(true);
    let peak = { rss: baseline.rss, heapUsed: baseline.heapUsed };
    const sampler = setInterval(() => {
      void probe().then((p) => {
        peak = { rss: Math.max(peak.rss, p.rss), heapUsed: Math.max(peak.heapUsed, p.heapUsed) };
      });
    }, 250);

    // Join: handshake, welcome, transfer set; BATCH at a time.
    const host = { workspace: { keys }, coordinator: { url } };
    const sites: HandSite[] = [];
    const joinStart = performance.now();
    for (let i = 0; i < SITES; i += BATCH) {
      const batch = names.slice(i, i + BATCH);
      sites.push(...(await Promise.all(batch.map((n) => HandSite.join(host, sodium, n)))));
    }
    const joinMs = performance.now() - joinStart;
    const joined = await probe(true);
    const sitesRss = process.memoryUsage().rss;
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const connected = Number(/^fedistill_sites_connected (\S+)$/m.exec(metrics)?.[1]);

    // Rounds: every site answers every round as soon as its round.start arrives.
    const opened: number[] = [];
    const answering = sites.map(async (site) => {
      for (let r = 0; r < ROUNDS; r++) {
        const start = await site.nextStart();
        opened[r] ??= performance.now();
        site.answer(start);
      }
    });
    const allClosed = new Promise<void>((resolve) => {
      roundClosed = () => rounds.length === ROUNDS && resolve();
    });
    const roundsStart = performance.now();
    for (const site of sites) site.sendReady();
    await Promise.all(answering);
    await allClosed;
    const roundsMs = performance.now() - roundsStart;
    const done = await probe(true);
    clearInterval(sampler);
    peak = { rss: Math.max(peak.rss, done.rss), heapUsed: Math.max(peak.heapUsed, done.heapUsed) };
    for (const site of sites) site.peer.close();

    const figures: Record<string, number | string> = {
      sites: SITES,
      sites_connected_at_coordinator: connected,
      join_batch: BATCH,
      join_all_s: seconds(joinMs),
      join_per_site_ms: round(joinMs / SITES, 1),
    };
    console.log(
      `${SITES} sites joined (handshake, welcome, transfer set; ${BATCH} at a time) in ${seconds(joinMs)} s ` +
        `(${round(joinMs / SITES, 1)} ms per site); the coordinator counts ${connected} connected`,
    );
    for (const [r, { summary, at }] of rounds.entries()) {
      const wall = at - opened[r]!;
      figures[`round_${r + 1}_s`] = seconds(wall);
      figures[`round_${r + 1}_coordinator_s`] = round(summary.duration_seconds, 2);
      console.log(
        `round ${summary.round}: ${summary.participants} of ${summary.selected} sites folded; ` +
          `${seconds(wall)} s from the first round.start a site saw to the close ` +
          `(the coordinator's own: ${summary.duration_seconds.toFixed(2)} s open to close)`,
      );
    }
    figures.rounds_all_s = seconds(roundsMs);
    const sitesCpu = process.cpuUsage();
    const perSiteKiB = (joined.rss - baseline.rss) / 1024 / SITES;
    Object.assign(figures, {
      coordinator_rss_baseline_mb: mb(baseline.rss),
      coordinator_rss_joined_mb: mb(joined.rss),
      coordinator_rss_peak_mb: mb(peak.rss),
      coordinator_rss_per_site_kib: round(perSiteKiB, 1),
      coordinator_heap_used_baseline_mb: mb(baseline.heapUsed),
      coordinator_heap_used_joined_mb: mb(joined.heapUsed),
      coordinator_heap_used_peak_mb: mb(peak.heapUsed),
      coordinator_cpu_join_s: seconds(joined.cpuMs - baseline.cpuMs),
      coordinator_cpu_rounds_s: seconds(done.cpuMs - joined.cpuMs),
      loop_lag_join_p50_ms: round(joined.lag.p50, 1),
      loop_lag_join_p99_ms: round(joined.lag.p99, 1),
      loop_lag_join_max_ms: round(joined.lag.max, 1),
      loop_lag_rounds_p50_ms: round(done.lag.p50, 1),
      loop_lag_rounds_p99_ms: round(done.lag.p99, 1),
      loop_lag_rounds_max_ms: round(done.lag.max, 1),
      sites_process_rss_joined_mb: mb(sitesRss),
      sites_process_cpu_s: seconds((sitesCpu.user + sitesCpu.system) / 1000),
    });
    console.log(
      `coordinator process (its own; the sites run in the bench process): resident memory ` +
        `${mb(baseline.rss)} MB before the sites, ${mb(joined.rss)} MB with all joined ` +
        `(${round(perSiteKiB, 1)} KiB per site), peak ${mb(peak.rss)} MB; heap used ` +
        `${mb(baseline.heapUsed)} MB, ${mb(joined.heapUsed)} MB, peak ${mb(peak.heapUsed)} MB`,
    );
    console.log(
      `coordinator CPU: ${seconds(joined.cpuMs - baseline.cpuMs)} s while the sites joined, ` +
        `${seconds(done.cpuMs - joined.cpuMs)} s over the ${ROUNDS} rounds; the ${SITES} sites' ` +
        `process (this one): ${mb(sitesRss)} MB resident with all joined, ` +
        `${seconds((sitesCpu.user + sitesCpu.system) / 1000)} s CPU in all`,
    );
    for (const [phase, p] of [
      ['joining', joined],
      ['rounds', done],
    ] as const) {
      console.log(
        `coordinator event-loop delay while ${phase}: p50 ${p.lag.p50.toFixed(1)} ms, ` +
          `p99 ${p.lag.p99.toFixed(1)} ms, max ${p.lag.max.toFixed(1)} ms`,
      );
    }
    await recordResults('scale', figures);
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
