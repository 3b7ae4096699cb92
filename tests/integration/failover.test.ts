import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { prepareWorkspace, writeSiteConfig, type DemoWorkspace } from '../../cli/demo/workspace.js';
import type { CoordinatorIpcMessage } from '../../cli/coordinator-ipc.js';
import { runSite, type SiteRunSummary } from '../../client/site-client.js';
import { loadSiteConfig } from '../../client/site-config.js';
import type { CoordinatorConfigInput } from '../../coordinator/config/coordinator-config.js';
import { openPostgresStore } from '../../coordinator/store/postgres/open-postgres-store.js';
import { decodeKey, loadSodium, verifyAuditLog } from '../../protocol/index.js';
import { startPostgres, type TestPostgres } from '../support/embedded-postgres.js';
import { freePort } from '../support/free-port.js';

const CLI = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../cli/main.js');
const SITES = 3;
const ROUNDS = 4;
/** Short, so that the standby takes over within the test's patience; production uses 10 s. */
const LEASE_MS = 3_000;
const POLL_LIMIT_MS = 120_000;

/** One coordinator process; `listening` settles once it leads and serves (a standby waits). */
interface Node {
  readonly name: string;
  readonly port: number;
  readonly configFile: string;
  child: ChildProcess;
  listening: Promise<void>;
}

function spawnNode(node: Omit<Node, 'child' | 'listening'>, output: string[]): Node {
  const child = fork(CLI, ['coordinator', '--config', node.configFile], { silent: true });
  const tag = (chunk: Buffer) => output.push(`[${node.name}] ${chunk.toString()}`);
  child.stdout!.on('data', tag);
  child.stderr!.on('data', tag);
  const listening = new Promise<void>((resolve, reject) => {
    child.on('message', (message: CoordinatorIpcMessage) => {
      if (message.type === 'listening') resolve();
    });
    child.once('exit', (code) =>
      reject(new Error(`${node.name} exited (${code}):\n${output.join('')}`)),
    );
  });
  listening.catch(() => undefined);
  return { ...node, child, listening };
}

/**
 * Polls the store until a round attempt is open without all of its updates (the sites train
 * alike, so the window with some but not all in is too short to aim at; the crash-restart test
 * aims at it on SQLite).
 */
async function waitForPartialRound(
  server: TestPostgres,
  url: string,
  fromRound: number,
): Promise<{ round: number; attempt: number }> {
  const deadline = Date.now() + POLL_LIMIT_MS;
  for (;;) {
    if (Date.now() > deadline) throw new Error(`no partial round from round ${fromRound} on`);
    const [row] = await server.query<{ round: number; attempt: number; n: string }>(
      url,
      `SELECT r.round, r.attempt, COUNT(u.site) AS n FROM rounds r
       LEFT JOIN updates u USING (run_id, round, attempt)
       WHERE r.state = 'open' AND r.round >= $1 GROUP BY r.round, r.attempt`,
      [fromRound],
    );
    if (row && Number(row.n) < SITES) return row;
    await new Promise((r) => setTimeout(r, 2));
  }
}

async function acknowledged(server: TestPostgres, url: string, round: number, attempt: number) {
  const [{ state } = { state: 'missing' }] = await server.query<{ state: string }>(
    url,
    'SELECT state FROM rounds WHERE round = $1 AND attempt = $2',
    [round, attempt],
  );
  const updates = await server.query<{ site: string; blob_hash: string }>(
    url,
    'SELECT site, blob_hash FROM updates WHERE round = $1 AND attempt = $2 ORDER BY site',
    [round, attempt],
  );
  const [{ n }] = (await server.query<{ n: string }>(
    url,
    'SELECT COUNT(*) AS n FROM rounds WHERE round = $1',
    [round],
  )) as [{ n: string }];
  return { state, updates, attempts: Number(n) };
}

function runSites(workspace: DemoWorkspace, urls: string[]): Promise<SiteRunSummary[]> {
  return Promise.all(
    workspace.siteNames.map(async (site) => {
      const config = await loadSiteConfig(await writeSiteConfig(workspace, site, urls[0]!));
      return runSite({
        ...config,
        coordinator: { ...config.coordinator, fallbackUrls: urls.slice(1) },
        reconnect: { initialDelayMs: 50, maxDelayMs: 400, maxAttempts: 400 },
      });
    }),
  );
}

/** Two coordinator processes on one fresh database, the first leading, and the sites running. */
interface Federation {
  readonly server: TestPostgres;
  readonly url: string;
  readonly workspace: DemoWorkspace;
  readonly nodes: Node[];
  readonly output: string[];
  readonly sites: Promise<SiteRunSummary[]>;
}

async function withFederation(test: (federation: Federation) => Promise<void>): Promise<void> {
  const server = await startPostgres();
  const dir = await mkdtemp(path.join(tmpdir(), 'fedistill-failover-'));
  const nodes: Node[] = [];
  const output: string[] = [];
  try {
    const url = await server.createDatabase();
    const workspace = await prepareWorkspace(dir, {
      sites: SITES,
      rounds: ROUNDS,
      seed: 11,
      cacheDir: path.join(dir, 'cache'),
    });
    const base = JSON.parse(
      await readFile(workspace.coordinatorConfigFile, 'utf8'),
    ) as CoordinatorConfigInput;
    for (const name of ['node-a', 'node-b']) {
      const port = await freePort();
      const configFile = path.join(path.dirname(workspace.coordinatorConfigFile), `${name}.json`);
      const config: CoordinatorConfigInput = {
        ...base,
        run: { ...base.run!, id: 'failover-test', localEpochs: 40 },
        listen: { host: '127.0.0.1', port },
        store: { kind: 'postgres', url, leaseMs: LEASE_MS },
      };
      await writeFile(configFile, JSON.stringify(config, null, 2));
      const node = spawnNode({ name, port, configFile }, output);
      nodes.push(node);
      // The first takes the lease (and trains the teacher for the cache both share); the
      // second stands by and does not listen.
      if (nodes.length === 1) await node.listening;
    }
    const sites = runSites(
      workspace,
      nodes.map((n) => `http://127.0.0.1:${n.port}`),
    );
    // Awaited by the test; a site that fails meanwhile must fail the test there, not the process.
    sites.catch(() => undefined);
    await test({ server, url, workspace, nodes, output, sites });
  } finally {
    for (const node of nodes) {
      if (node.child.exitCode === null && node.child.signalCode === null) {
        node.child.kill('SIGKILL');
        await once(node.child, 'exit');
      }
    }
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** What every run that outlived its leader must show: full rounds, one verified log. */
async function checkCompleted(federation: Federation, summaries: SiteRunSummary[]): Promise<void> {
  const { workspace, url } = federation;
  const report = JSON.parse(await readFile(workspace.reportFile, 'utf8')) as {
    per_round: { round: number; participants: number }[];
  };
  assert.deepEqual(
    report.per_round.map((r) => [r.round, r.participants]),
    Array.from({ length: ROUNDS }, (_, i) => [i + 1, SITES]),
  );
  for (const summary of summaries) {
    assert.ok(summary.sessions >= 2, `${summary.site} never moved to the other node`);
  }
  // Both processes wrote one log: it verifies against the coordinator's key, as exported.
  const sodium = await loadSodium();
  const store = await openPostgresStore({ sodium, url });
  try {
    const exported = {
      entries: await store.audit.entries(),
      treeHeads: await store.audit.treeHeads(),
    };
    const verified = verifyAuditLog(
      sodium,
      decodeKey(workspace.keys.coordinatorPublicKey),
      exported,
    );
    assert.ok(verified.ok, verified.ok ? '' : verified.error.message);
    const events = exported.entries.map((e) => e.event['event']);
    assert.ok(events.includes('run.resumed_after_restart'));
  } finally {
    await store.close();
  }
}

describe('two coordinator processes on one PostgreSQL store', () => {
  it('the leader killed mid-round: the standby takes the lease over within seconds, resumes the same round, and the run completes with each acknowledged update folded once', () =>
    withFederation(async (federation) => {
      const { server, url, nodes, output } = federation;
      let [leader, standby] = nodes as [Node, Node];

      // Kill the leader while a round is open; the killed process comes back as the next
      // standby, and a kill that missed the round (it closed meanwhile) is tried again.
      let killed:
        | { round: number; attempt: number; before: { site: string; blob_hash: string }[] }
        | undefined;
      let failoverMs = 0;
      for (let from = 2; !killed && from < ROUNDS;) {
        const partial = await waitForPartialRound(server, url, from);
        leader.child.kill('SIGKILL');
        await once(leader.child, 'exit');
        const killedAt = performance.now();
        const after = await acknowledged(server, url, partial.round, partial.attempt);
        if (after.state === 'open' && after.updates.length < SITES) {
          killed = { ...partial, before: after.updates };
        } else {
          from = partial.round + 1;
        }
        await standby.listening;
        failoverMs = performance.now() - killedAt;
        // Only now back, as the next standby: started earlier, it could win the lease itself.
        const revived = spawnNode(leader, output);
        nodes[nodes.indexOf(leader)] = revived;
        [leader, standby] = [standby, revived];
      }
      assert.ok(killed, 'no kill landed inside a round');
      const summaries = await federation.sites;
      // The leader ends by itself once the run is complete and the sites have left.
      if (leader.child.exitCode === null) await once(leader.child, 'exit');
      assert.equal(leader.child.exitCode, 0, output.join(''));

      // The round the kill cut closed on the other node: one attempt, every acknowledged update
      // kept (same site, same bytes), each site counted once.
      const closed = await acknowledged(server, url, killed.round, killed.attempt);
      assert.equal(closed.state, 'closed');
      assert.equal(closed.attempts, 1, 'the round was not retried as a new attempt');
      assert.equal(closed.updates.length, SITES);
      for (const update of killed.before) {
        assert.ok(
          closed.updates.some((u) => u.site === update.site && u.blob_hash === update.blob_hash),
        );
      }
      // Taking over waits out the dead leader's lease, then resumes the run from the store.
      assert.ok(failoverMs >= LEASE_MS / 3, `took over in ${failoverMs} ms`);
      assert.ok(failoverMs < LEASE_MS + 30_000, `took over in ${failoverMs} ms`);
      console.log(`failover: the standby served ${Math.round(failoverMs)} ms after the kill`);
      await checkCompleted(federation, summaries);
    }));
});
