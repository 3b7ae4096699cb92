import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadSodium } from '../protocol/index.js';
import { HandSite } from '../harness/hand-site.js';
import { recordResults, round } from './results.js';
import { forkNode, mb, prepareScaleFolder, seconds } from './scale-federation.js';

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

if (!Number.isInteger(SITES) || SITES < 1)
  throw new Error('FEDISTILL_SCALE_SITES: a count of sites');

const dir = await mkdtemp(path.join(tmpdir(), 'fedistill-scale-'));
try {
  const { names, keys, writeConfig } = await prepareScaleFolder(dir, SITES, ROUNDS);
  const node = forkNode(await writeConfig('config', {}));
  try {
    const { rounds, probe } = node;
    const url = await node.leading;
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
      node.onRound(() => rounds.length === ROUNDS && resolve());
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
    await node.stop();
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
