import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import type { CoordinatorIpcMessage } from '../cli/coordinator-ipc.js';
import { prepareWorkspace, writeSiteConfig } from '../cli/demo/workspace.js';
import { runSite } from '../client/site-client.js';
import { loadSiteConfig } from '../client/site-config.js';
import { loadCoordinatorConfig } from '../coordinator/config/coordinator-config.js';
import { RawWebSocket } from '../harness/raw-websocket.js';
import { MAX_FRAME_BYTES, SOCKET_EVENTS } from '../protocol/index.js';
import { recordResults, round } from './results.js';

/**
 * A bounded load of anonymous traffic against a coordinator process while a real run is live on
 * loopback: 1,000 unauthenticated connections (from ten loopback addresses; half send an 8 MiB
 * handshake initiation, half a malformed one) and 2,000 token-less API requests (from ten
 * others), all with the default limits. Three honest sites on 127.0.0.1 run five rounds
 * meanwhile. Figures: whether the run completed, the coordinator's resident memory growth
 * (sampled from /proc), the audit entries the attack added, the refusals /metrics counted.
 * Figures only, never pass/fail.
 */
const MAIN = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const CONNECTIONS = 1_000;
const REQUESTS = 2_000;
const ADDRESSES = 10;
/** Short enough that the attack's sampled entries are in the store when it is counted. */
const SAMPLE_MS = 1_000;
const REFUSAL_EVENTS = ['unauthenticated.refused', 'session.refused', 'operator.refused'];

async function residentKiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(
    status
      .split('\n')
      .find((l) => l.startsWith('VmRSS:'))!
      .split(/\s+/)[1],
  );
}

function request(url: string, localAddress: string): Promise<number> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const req = http.request(
      { host: hostname, port, path: '/api/runs', localAddress, agent: false },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    // A connection over the per-address cap is cut before its request is read.
    req.on('error', () => resolve(0));
    req.end();
  });
}

async function attackSockets(url: string): Promise<{ opened: number; cut: number }> {
  const oversized = Buffer.alloc(MAX_FRAME_BYTES, 1);
  let opened = 0;
  let cut = 0;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async (_, i) => {
      const socket = await RawWebSocket.open(url, `127.0.1.${2 + (i % ADDRESSES)}`).catch(
        () => undefined,
      );
      if (!socket) return void (cut += 1);
      opened += 1;
      socket.emitBinary(SOCKET_EVENTS.initiation, i % 2 ? randomBytes(64) : oversized);
      await socket.closed;
    }),
  );
  return { opened, cut };
}

async function attackApi(url: string): Promise<Record<number, number>> {
  const statuses: Record<number, number> = {};
  const perAddress = REQUESTS / ADDRESSES;
  await Promise.all(
    Array.from({ length: ADDRESSES }, async (_, a) => {
      for (let i = 0; i < perAddress; i += 20) {
        const batch = await Promise.all(
          Array.from({ length: 20 }, () => request(url, `127.0.2.${2 + a}`)),
        );
        for (const status of batch) statuses[status] = (statuses[status] ?? 0) + 1;
      }
    }),
  );
  return statuses;
}

const dir = await mkdtemp(path.join(tmpdir(), 'fedistill-bench-'));
try {
  const workspace = await prepareWorkspace(dir, {
    sites: 3,
    rounds: 5,
    seed: 1,
    cacheDir: path.join(dir, 'cache'),
  });
  const raw = JSON.parse(await readFile(workspace.coordinatorConfigFile, 'utf8')) as Record<
    string,
    unknown
  >;
  raw.limits = { refusalSampleMs: SAMPLE_MS };
  await writeFile(workspace.coordinatorConfigFile, JSON.stringify(raw));
  const { storeFile } = await loadCoordinatorConfig(workspace.coordinatorConfigFile);
  const child = fork(
    MAIN,
    ['coordinator', '--serve', '--config', workspace.coordinatorConfigFile],
    {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      env: { ...process.env, NO_COLOR: '1' },
    },
  );
  const url = await new Promise<string>((resolve) =>
    child.on('message', (m: CoordinatorIpcMessage) => m.type === 'listening' && resolve(m.url)),
  );
  const auditRows = (): { seq: number; event: string }[] => {
    const db = new Database(storeFile, { readonly: true });
    try {
      return db.prepare('SELECT seq, event FROM audit_log ORDER BY seq').all() as {
        seq: number;
        event: string;
      }[];
    } finally {
      db.close();
    }
  };
  const auditBefore = auditRows().length;
  const rssBefore = await residentKiB(child.pid!);
  let rssPeak = rssBefore;
  const sampling = setInterval(() => {
    void residentKiB(child.pid!).then(
      (kib) => (rssPeak = Math.max(rssPeak, kib)),
      () => undefined,
    );
  }, 50);

  const started = Date.now();
  const sites = Promise.all(
    workspace.siteNames.map(async (site) =>
      runSite(await loadSiteConfig(await writeSiteConfig(workspace, site, url))),
    ),
  );
  const [sockets, statuses] = await Promise.all([attackSockets(url), attackApi(url)]);
  const attackSeconds = (Date.now() - started) / 1000;
  const completed = await sites.then(
    (done) => done.length,
    () => 0,
  );
  const runSeconds = (Date.now() - started) / 1000;
  await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS * 2));
  clearInterval(sampling);
  const added = auditRows().slice(auditBefore);
  const fromAttack = added.filter((r) =>
    REFUSAL_EVENTS.includes((JSON.parse(r.event) as { event: string }).event),
  ).length;
  const metrics = await (await fetch(new URL('/metrics', url))).text();
  const counted = metrics
    .split('\n')
    .filter((l) => l.startsWith('fedistill_unauthenticated_refusals_total{'))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
  child.kill('SIGTERM');

  const growthMb = (rssPeak - rssBefore) / 1024;
  console.log(`run completed by ${completed} of 3 sites in ${runSeconds.toFixed(1)} s`);
  console.log(
    `attack: ${CONNECTIONS} connections (${sockets.opened} opened, ${sockets.cut} cut at connect), ` +
      `${REQUESTS} token-less requests (${JSON.stringify(statuses)}), ${attackSeconds.toFixed(1)} s`,
  );
  console.log(
    `coordinator RSS ${(rssBefore / 1024).toFixed(0)} MB before, peak ${(rssPeak / 1024).toFixed(0)} MB: +${growthMb.toFixed(1)} MB`,
  );
  console.log(
    `audit entries added: ${added.length} in all, ${fromAttack} of them for the attack's refusals`,
  );
  console.log(`unauthenticated refusals counted in /metrics: ${counted}`);
  await recordResults('hostile-load', {
    connections: CONNECTIONS,
    connections_opened: sockets.opened,
    connections_cut_at_connect: sockets.cut,
    api_requests: REQUESTS,
    api_401: statuses[401] ?? 0,
    api_429: statuses[429] ?? 0,
    api_cut_at_connect: statuses[0] ?? 0,
    run_completed: completed === 3 ? 'yes' : 'no',
    run_seconds: round(runSeconds, 1),
    coordinator_rss_before_mb: round(rssBefore / 1024),
    coordinator_rss_growth_mb: round(growthMb, 1),
    audit_entries_added: added.length,
    audit_entries_from_attack: fromAttack,
    refusals_counted_in_metrics: counted,
  });
} finally {
  await rm(dir, { recursive: true, force: true });
}
