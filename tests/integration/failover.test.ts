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
import { issueToken } from '../../coordinator/api/tokens.js';
import { withCoordinatorStore } from '../../cli/coordinator-store.js';
import pg from 'pg';
import { io } from 'socket.io-client';
import {
  decodeKey,
  FEED_EVENTS,
  loadSodium,
  OPERATOR_FEED_QUERY,
  OPERATOR_NAMESPACE,
  verifyAuditLog,
} from '../../protocol/index.js';
import { startPostgres, type TestPostgres } from '../../harness/embedded-postgres.js';
import { freePort } from '../../harness/free-port.js';

const CLI = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../cli/main.js');
const SITES = 3;
const ROUNDS = 4;
/** Short, so that the standby takes over within the test's patience; production uses 10 s. */
const LEASE_MS = 3_000;
const POLL_LIMIT_MS = 120_000;

/**
 * One coordinator process; `listening` settles once it leads and serves, `serving` once it
 * serves sites at all (as an edge node while another leads).
 */
interface Node {
  readonly name: string;
  readonly port: number;
  readonly configFile: string;
  child: ChildProcess;
  listening: Promise<void>;
  serving: Promise<void>;
}

function spawnNode(node: Omit<Node, 'child' | 'listening' | 'serving'>, output: string[]): Node {
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
  const serving = new Promise<void>((resolve) => {
    child.on('message', (message: CoordinatorIpcMessage) => {
      if (message.type === 'edge' || message.type === 'listening') resolve();
    });
  });
  return { ...node, child, listening, serving };
}

/**
 * Polls the store until a round attempt is open without all of its updates (the sites train
 * alike, so the window with some but not all in is too short to aim at; the crash-restart test
 * aims at it on SQLite). One connection for the whole poll: connecting for each query takes
 * longer than a round lasts on a fast machine, and the poll would see rounds only as they end.
 */
async function waitForPartialRound(
  url: string,
  fromRound: number,
): Promise<{ round: number; attempt: number }> {
  const deadline = Date.now() + POLL_LIMIT_MS;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (;;) {
      if (Date.now() > deadline) throw new Error(`no partial round from round ${fromRound} on`);
      const { rows } = await client.query<{ round: number; attempt: number; n: string }>(
        `SELECT r.round, r.attempt, COUNT(u.site) AS n FROM rounds r
         LEFT JOIN updates u USING (run_id, round, attempt)
         WHERE r.state = 'open' AND r.round >= $1 GROUP BY r.round, r.attempt`,
        [fromRound],
      );
      const [row] = rows;
      if (row && Number(row.n) < SITES) return row;
      await new Promise((r) => setTimeout(r, 2));
    }
  } finally {
    await client.end();
  }
}

/**
 * Waits until no other session of the store's database is running a statement, so that a
 * frozen process's last write (a COMMIT already sent) has landed or never will.
 */
async function untilNoStatementRuns(server: TestPostgres, url: string): Promise<void> {
  const deadline = Date.now() + POLL_LIMIT_MS;
  for (;;) {
    const [{ n }] = (await server.query<{ n: string }>(
      url,
      `SELECT COUNT(*) AS n FROM pg_stat_activity
       WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()`,
    )) as [{ n: string }];
    if (Number(n) === 0) return;
    if (Date.now() > deadline) throw new Error('a statement still runs at the store');
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

/** Each site tries its list of URLs in order (the last list for sites beyond the lists). */
function runSites(workspace: DemoWorkspace, urls: string[][]): Promise<SiteRunSummary[]> {
  return Promise.all(
    workspace.siteNames.map(async (site, i) => {
      const order = urls[Math.min(i, urls.length - 1)]!;
      const config = await loadSiteConfig(await writeSiteConfig(workspace, site, order[0]!));
      return runSite({
        ...config,
        coordinator: { ...config.coordinator, fallbackUrls: order.slice(1) },
        reconnect: { initialDelayMs: 50, maxDelayMs: 400, maxAttempts: 400 },
      });
    }),
  );
}

/** Coordinator processes on one fresh database, the first leading, and the sites running. */
interface Federation {
  readonly server: TestPostgres;
  readonly url: string;
  readonly workspace: DemoWorkspace;
  readonly nodes: Node[];
  readonly output: string[];
  readonly sites: Promise<SiteRunSummary[]>;
}

/**
 * `nodes` processes, the first leading; site i tries the nodes in the order `siteOrders[i]`
 * gives (indices into the nodes; the last order for sites beyond).
 */
async function withFederation(
  shape: { nodes: number; siteOrders: number[][] },
  test: (federation: Federation) => Promise<void>,
): Promise<void> {
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
    for (const name of ['node-a', 'node-b', 'node-c'].slice(0, shape.nodes)) {
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
      // The first takes the lease (and trains the teacher for the cache all share); the
      // others serve sites as edge nodes and stand by.
      await (nodes.length === 1 ? node.listening : node.serving);
    }
    const sites = runSites(
      workspace,
      shape.siteOrders.map((order) => order.map((i) => `http://127.0.0.1:${nodes[i]!.port}`)),
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
async function checkCompleted(
  federation: Federation,
  summaries: SiteRunSummary[],
  { resumed, moved }: { resumed: boolean; moved: string[] },
): Promise<void> {
  const { workspace, url } = federation;
  const report = JSON.parse(await readFile(workspace.reportFile, 'utf8')) as {
    per_round: { round: number; participants: number }[];
  };
  assert.deepEqual(
    report.per_round.map((r) => [r.round, r.participants]),
    Array.from({ length: ROUNDS }, (_, i) => [i + 1, SITES]),
  );
  const movers = summaries.filter((s) => moved.includes(s.site));
  assert.equal(movers.length, moved.length);
  for (const summary of movers) {
    assert.ok(summary.sessions >= 2, `${summary.site} never moved to another node`);
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
    // Only a new leader resumes the run: an edge node's death leaves the leader as it was.
    assert.equal(events.includes('run.resumed_after_restart'), resumed);
  } finally {
    await store.close();
  }
}

/**
 * An operator who reaches an edge node is answered by the leader: the API (tokens checked
 * there), the dashboard's page, and its live feed's websocket.
 */
async function checkOperatorsThroughEdge(configFile: string, edgeUrl: string): Promise<void> {
  const token = await withCoordinatorStore(
    configFile,
    async (store) =>
      (await issueToken(store.tokens, { name: 'auditor', role: 'auditor', kind: 'api' })).secret,
  );
  const runs = await fetch(`${edgeUrl}/api/runs`, {
    headers: { authorization: `Bearer ${token}` },
  });
  assert.equal(runs.status, 200);
  const listed = (await runs.json()) as { id: string }[];
  assert.ok(listed.some((run) => run.id === 'failover-test'));
  const refused = await fetch(`${edgeUrl}/api/runs`);
  assert.equal(refused.status, 401, 'the leader checks the token of a forwarded request');
  const page = await fetch(`${edgeUrl}/dashboard/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /text\/html/);
  const feed = io(`${edgeUrl}${OPERATOR_NAMESPACE}`, {
    transports: ['websocket'],
    auth: { token },
    query: OPERATOR_FEED_QUERY,
    reconnection: false,
  });
  try {
    const hello = await new Promise<{ role?: string }>((resolve, reject) => {
      feed.on(FEED_EVENTS.hello, resolve);
      feed.on('connect_error', reject);
    });
    assert.equal(hello.role, 'auditor');
  } finally {
    feed.close();
  }
}

describe('two coordinator processes on one PostgreSQL store', () => {
  it('the leader killed mid-round: the standby takes the lease over within seconds, resumes the same round, and the run completes with each acknowledged update folded once', () =>
    withFederation({ nodes: 2, siteOrders: [[0, 1]] }, async (federation) => {
      const { server, url, nodes, output } = federation;
      const [leader, standby] = nodes as [Node, Node];

      // Kill the leader while a round is open. It is frozen first and the round read once no
      // statement of its is still running at the server: a round that closed between the
      // poll and the freeze is seen closed, and the leader thawed goes on to a later round.
      let killed:
        | { round: number; attempt: number; before: { site: string; blob_hash: string }[] }
        | undefined;
      const missed: string[] = [];
      for (let from = 2; !killed && from < ROUNDS;) {
        const partial = await waitForPartialRound(url, from);
        leader.child.kill('SIGSTOP');
        await untilNoStatementRuns(server, url);
        const after = await acknowledged(server, url, partial.round, partial.attempt);
        if (after.state === 'open' && after.updates.length < SITES) {
          killed = { ...partial, before: after.updates };
        } else {
          leader.child.kill('SIGCONT');
          missed.push(`round ${partial.round}: ${after.state}, ${after.updates.length} updates`);
          from = partial.round + 1;
        }
      }
      assert.ok(killed, `no kill landed inside a round (${missed.join('; ')})`);
      leader.child.kill('SIGKILL');
      await once(leader.child, 'exit');
      const killedAt = performance.now();
      await standby.listening;
      const failoverMs = performance.now() - killedAt;
      // Only now back, as the next standby: started earlier, it could win the lease itself.
      nodes[nodes.indexOf(leader)] = spawnNode(leader, output);
      const summaries = await federation.sites;
      // The new leader ends by itself once the run is complete and the sites have left.
      if (standby.child.exitCode === null) await once(standby.child, 'exit');
      assert.equal(standby.child.exitCode, 0, output.join(''));

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
      await checkCompleted(federation, summaries, {
        resumed: true,
        moved: [...federation.workspace.siteNames],
      });
    }));

  it('the leader paused (SIGSTOP) past its lease: the edge node takes over and completes the run, and the paused process, resumed, writes nothing and exits', () =>
    withFederation({ nodes: 2, siteOrders: [[1, 0]] }, async (federation) => {
      const { server, url, nodes, output } = federation;
      const [leader, edge] = nodes as [Node, Node];
      await waitForPartialRound(url, 2);
      // Paused, perhaps inside a transaction that holds the lease row: the server ends such a
      // session after a lease time, so the takeover does not wait on it for ever.
      leader.child.kill('SIGSTOP');
      await edge.listening;
      const entries = async () =>
        Number(
          (await server.query<{ n: string }>(url, 'SELECT COUNT(*) AS n FROM audit_log'))[0]!.n,
        );
      // Once the new leader has written, the old one wakes: whatever it tries is fenced, and
      // its next renewal tells it that it lost the lease.
      const before = await entries();
      while ((await entries()) === before) await new Promise((r) => setTimeout(r, 50));
      const exited = once(leader.child, 'exit');
      leader.child.kill('SIGCONT');
      const [code] = (await exited) as [number | null];
      // Exit 1: told it lost the lease, or stopped by a fenced write (a last log line may not
      // get through the pipe before the exit, so the status is what is checked).
      assert.equal(code, 1, output.join(''));
      const summaries = await federation.sites;
      if (edge.child.exitCode === null) await once(edge.child, 'exit');
      assert.equal(edge.child.exitCode, 0, output.join(''));
      // A write of the paused process after the takeover would break the log's chain.
      await checkCompleted(federation, summaries, { resumed: true, moved: [] });
    }));

  it('an edge node killed mid-round: its sites reconnect through another node, the leader stays, and the run completes with no update folded twice', () =>
    // Sites on the edge node B, on the edge node C and on the leader A.
    withFederation(
      {
        nodes: 3,
        siteOrders: [
          [1, 2, 0],
          [2, 1, 0],
          [0, 2, 1],
        ],
      },
      async (federation) => {
        const { server, url, nodes, output } = federation;
        const [leader, edge, other] = nodes as [Node, Node, Node];
        // Every node answers probes, saying which part it plays.
        const roles = await Promise.all(
          [leader, edge, other].map(async (node) => {
            const response = await fetch(`http://127.0.0.1:${node.port}/healthz`);
            return ((await response.json()) as { role: string }).role;
          }),
        );
        assert.deepEqual(roles, ['leader', 'edge', 'edge']);
        await checkOperatorsThroughEdge(leader.configFile, `http://127.0.0.1:${other.port}`);
        const partial = await waitForPartialRound(url, 2);
        edge.child.kill('SIGKILL');
        await once(edge.child, 'exit');
        const summaries = await federation.sites;
        if (leader.child.exitCode === null) await once(leader.child, 'exit');
        assert.equal(leader.child.exitCode, 0, output.join(''));

        // The cut round closed, in the attempt the kill cut or in a retry (an attempt moves on
        // without a site whose session ended), with one update per site.
        const attempts = await server.query<{ attempt: number; state: string }>(
          url,
          'SELECT attempt, state FROM rounds WHERE round = $1 ORDER BY attempt',
          [partial.round],
        );
        const last = attempts.at(-1)!;
        assert.equal(last.state, 'closed');
        assert.ok(attempts.slice(0, -1).every((a) => a.state === 'failed'));
        const closed = await acknowledged(server, url, partial.round, last.attempt);
        assert.deepEqual(
          closed.updates.map((u) => u.site),
          [...federation.workspace.siteNames].sort(),
        );
        // The leader never changed hands: no node resumed the run.
        // Only site-1 was on the node that died.
        await checkCompleted(federation, summaries, { resumed: false, moved: ['site-1'] });
      },
    ));
});
