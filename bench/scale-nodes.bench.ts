import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadSodium } from '../protocol/index.js';
import { HandSite } from '../harness/hand-site.js';
import { startPostgres } from '../harness/embedded-postgres.js';
import type { ProbeReply } from './coordinator-probe.js';
import { recordResults, round, type Figures } from './results.js';
import { forkNode, mb, prepareScaleFolder, seconds, type ProbedNode } from './scale-federation.js';

/**
 * Coordinator nodes on PostgreSQL with many sites: three `fedistill coordinator` processes on
 * one (embedded) PostgreSQL, the first leading and two edge nodes relaying their sessions to
 * it, and FEDISTILL_SCALE_NODES_SITES (default 3000) sites simulated in this process
 * (harness/hand-site.ts), spread evenly over the three. Sites join BATCH at a time; every site
 * answers ROUNDS rounds. Then, with the next round open, the leader is killed (SIGKILL) and the
 * time until an edge node has taken the lease over and resumed the run is measured. Figures:
 * join and round times, and each node's own memory and event-loop delay. Figures only.
 */
const SITES = Number(process.env.FEDISTILL_SCALE_NODES_SITES ?? 3000);
const NODES = ['node-a', 'node-b', 'node-c'];
const ROUNDS = 3;
const BATCH = 60;
/** The lease: how long a dead leader holds the federation up, at most (production: 10 s). */
const LEASE_MS = 5_000;

if (!Number.isInteger(SITES) || SITES < NODES.length)
  throw new Error('FEDISTILL_SCALE_NODES_SITES: a count of sites, at least one per node');

const dir = await mkdtemp(path.join(tmpdir(), 'fedistill-scale-nodes-'));
const server = await startPostgres();
const nodes: ProbedNode[] = [];
try {
  const url = await server.createDatabase();
  // One more round than the sites answer: the leader is killed with it open.
  const { names, keys, writeConfig } = await prepareScaleFolder(dir, SITES, ROUNDS + 1);
  for (const name of NODES) {
    const node = forkNode(
      await writeConfig(name, { store: { kind: 'postgres', url, leaseMs: LEASE_MS } }),
    );
    nodes.push(node);
    // The first leads (and trains the teacher for the cache all share); the others serve as edges.
    await (nodes.length === 1 ? node.leading : node.serving);
  }
  const [leader, ...edges] = nodes as [ProbedNode, ...ProbedNode[]];
  const urls = await Promise.all(nodes.map((n) => n.serving));
  const sodium = await loadSodium();
  await new Promise((r) => setTimeout(r, 1_000));
  const probeAll = (reset: boolean): Promise<ProbeReply[]> =>
    Promise.all(nodes.map((n) => n.probe(reset)));
  const baseline = await probeAll(true);
  const peak = baseline.map((p) => p.rss);
  const sampler = setInterval(() => {
    void Promise.all(
      nodes.map((n, i) => n.probe().then((p) => (peak[i] = Math.max(peak[i]!, p.rss)))),
    );
  }, 500);

  // Join: site i on node i mod 3; handshake, welcome and transfer set relayed through the edges.
  const sites: HandSite[] = [];
  const joinStart = performance.now();
  for (let i = 0; i < SITES; i += BATCH) {
    const batch = names.slice(i, i + BATCH);
    sites.push(
      ...(await Promise.all(
        batch.map((n, j) =>
          HandSite.join(
            { workspace: { keys }, coordinator: { url: urls[(i + j) % urls.length]! } },
            sodium,
            n,
          ),
        ),
      )),
    );
  }
  const joinMs = performance.now() - joinStart;
  const joined = await probeAll(true);

  const opened: number[] = [];
  // Each site answers ROUNDS rounds, then waits for the next round's start.
  const answering = Promise.all(
    sites.map(async (site) => {
      for (let r = 0; r < ROUNDS; r++) {
        const start = await site.nextStart();
        opened[r] ??= performance.now();
        site.answer(start);
      }
      await site.nextStart();
    }),
  );
  const allClosed = new Promise<void>((resolve) => {
    leader.onRound(() => leader.rounds.length === ROUNDS && resolve());
  });
  const roundsStart = performance.now();
  for (const site of sites) site.sendReady();
  await allClosed;
  const roundsMs = performance.now() - roundsStart;
  const done = await probeAll(true);
  clearInterval(sampler);
  for (const [i, p] of done.entries()) peak[i] = Math.max(peak[i]!, p.rss);

  // Failover: the leader killed with round ROUNDS + 1 open; an edge takes the lease over.
  await answering;
  leader.child.kill('SIGKILL');
  const killedAt = performance.now();
  const successor = await Promise.race(edges.map((e, i) => e.leading.then(() => i)));
  const failoverMs = performance.now() - killedAt;
  for (const site of sites) site.peer.close();

  const figures: Figures = {
    nodes: NODES.length,
    sites: SITES,
    sites_per_node: round(SITES / NODES.length, 0),
    lease_ms: LEASE_MS,
    join_batch: BATCH,
    join_all_s: seconds(joinMs),
    join_per_site_ms: round(joinMs / SITES, 2),
  };
  console.log(
    `${SITES} sites joined over ${NODES.length} nodes (${BATCH} at a time) in ${seconds(joinMs)} s`,
  );
  // Where each round's updates were summed: the edges' partial sums, or refolded at the leader.
  const gathered = new Map(
    (
      await server.query<{ event: { round: number; partial_updates: number; refolded: number } }>(
        url,
        `SELECT event FROM audit_log WHERE event->>'event' = 'round.gathered' ORDER BY seq`,
      )
    ).map(({ event }) => [event.round, event]),
  );
  for (const [r, { summary, at }] of leader.rounds.entries()) {
    const atEdges = gathered.get(summary.round)?.partial_updates ?? 0;
    figures[`round_${r + 1}_s`] = seconds(at - opened[r]!);
    figures[`round_${r + 1}_summed_at_edges`] = atEdges;
    console.log(
      `round ${summary.round}: ${summary.participants} of ${summary.selected} sites folded in ` +
        `${seconds(at - opened[r]!)} s from the first round.start a site saw to the close; ` +
        `${atEdges} in the edges' partial sums, ` +
        `${gathered.get(summary.round)?.refolded ?? 0} refolded from staged bytes`,
    );
  }
  figures.rounds_all_s = seconds(roundsMs);
  for (const [i, name] of NODES.entries()) {
    const role = i === 0 ? 'leader' : 'edge';
    const at = (p: ProbeReply[]) => p[i]!;
    const key = (what: string) => `${name.replace('-', '_')}_${what}`;
    Object.assign(figures, {
      [key('role')]: role,
      [key('rss_baseline_mb')]: mb(at(baseline).rss),
      [key('rss_joined_mb')]: mb(at(joined).rss),
      [key('rss_peak_mb')]: mb(peak[i]!),
      [key('cpu_rounds_s')]: seconds(at(done).cpuMs - at(joined).cpuMs),
      [key('loop_join_p99_ms')]: round(at(joined).lag.p99, 1),
      [key('loop_join_max_ms')]: round(at(joined).lag.max, 1),
      [key('loop_rounds_p50_ms')]: round(at(done).lag.p50, 1),
      [key('loop_rounds_p99_ms')]: round(at(done).lag.p99, 1),
      [key('loop_rounds_max_ms')]: round(at(done).lag.max, 1),
    });
    console.log(
      `${name} (${role}): resident ${mb(at(baseline).rss)} MB before the sites, ` +
        `${mb(at(joined).rss)} MB joined, peak ${mb(peak[i]!)} MB; CPU over the rounds ` +
        `${seconds(at(done).cpuMs - at(joined).cpuMs)} s; event-loop delay joining p99 ` +
        `${at(joined).lag.p99.toFixed(1)} ms (max ${at(joined).lag.max.toFixed(1)}), in rounds ` +
        `p50 ${at(done).lag.p50.toFixed(1)} / p99 ${at(done).lag.p99.toFixed(1)} / max ` +
        `${at(done).lag.max.toFixed(1)} ms`,
    );
  }
  figures.failover_s = seconds(failoverMs);
  console.log(
    `failover: ${NODES[successor + 1]} took the lease over and resumed the run ` +
      `${seconds(failoverMs)} s after the leader was killed (lease ${LEASE_MS} ms)`,
  );
  await recordResults('scale-nodes', figures);
} finally {
  await Promise.all(nodes.map((n) => n.stop()));
  await server.stop();
  await rm(dir, { recursive: true, force: true });
}
