import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { prepareWorkspace, writeSiteConfig, type DemoWorkspace } from '../../cli/demo/workspace.js';
import type { CoordinatorIpcMessage } from '../../cli/coordinator-ipc.js';
import { runSite, type SiteRunSummary } from '../../client/site-client.js';
import { loadSiteConfig } from '../../client/site-config.js';
import {
  loadCoordinatorConfig,
  type CoordinatorConfigInput,
} from '../../coordinator/config/coordinator-config.js';
import { startCoordinator } from '../../coordinator/coordinator.js';
import { openSqliteStore } from '../../coordinator/store/sqlite/open-sqlite-store.js';
import { decodeTensorBlob, loadSodium, unwrap, type NamedTensor } from '../../protocol/index.js';
import { freePort } from '../../harness/free-port.js';

const CLI = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../cli/main.js');
const SITES = 3;
const ROUNDS = 4;
const PRUNING = {
  kind: 'polynomial',
  initial: 0.25,
  final: 0.5,
  beginRound: 1,
  endRound: 3,
} as const;

/** How long the store is polled for a partial round before the test gives up. */
const POLL_LIMIT_MS = 120_000;

/** The coordinator as its own process, so that it can be killed like a crashing server. */
async function spawnCoordinator(configFile: string, output: string[]): Promise<ChildProcess> {
  const child = fork(CLI, ['coordinator', '--config', configFile], { silent: true });
  child.stdout!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  const listening = new Promise<void>((resolve, reject) => {
    child.on('message', (message: CoordinatorIpcMessage) => {
      if (message.type === 'listening') resolve();
    });
    child.once('exit', (code) =>
      reject(new Error(`coordinator exited (${code}):\n${output.join('')}`)),
    );
  });
  await listening;
  return child;
}

interface Acknowledged {
  readonly site: string;
  readonly blob_hash: string;
}

/** Polls the store (read-only, as WAL allows) until a round has some but not all updates in. */
async function waitForPartialRound(
  dbFile: string,
  fromRound: number,
): Promise<{ round: number; attempt: number }> {
  const deadline = Date.now() + POLL_LIMIT_MS;
  for (;;) {
    // A bounded poll of another process's store for a state to appear, not a guess at time.
    if (Date.now() > deadline) throw new Error(`no partial round from round ${fromRound} on`);
    await new Promise((r) => setTimeout(r, 2));
    let db: Database.Database;
    try {
      db = new Database(dbFile, { readonly: true, fileMustExist: true });
    } catch {
      continue;
    }
    try {
      const row = db
        .prepare(
          `SELECT r.round, r.attempt, COUNT(u.site) AS n FROM rounds r
           JOIN updates u USING (run_id, round, attempt)
           WHERE r.state = 'open' AND r.round >= ? GROUP BY r.round, r.attempt`,
        )
        .get(fromRound) as { round: number; attempt: number; n: number } | undefined;
      if (row && row.n >= 1 && row.n < SITES) return row;
    } finally {
      db.close();
    }
  }
}

function acknowledged(dbFile: string, round: number, attempt: number) {
  const db = new Database(dbFile, { readonly: true });
  try {
    const state = (
      db
        .prepare('SELECT state FROM rounds WHERE round = ? AND attempt = ?')
        .get(round, attempt) as { state: string }
    ).state;
    const updates = db
      .prepare('SELECT site, blob_hash FROM updates WHERE round = ? AND attempt = ? ORDER BY site')
      .all(round, attempt) as Acknowledged[];
    const attempts = (
      db.prepare('SELECT COUNT(*) AS n FROM rounds WHERE round = ?').get(round) as { n: number }
    ).n;
    return { state, updates, attempts };
  } finally {
    db.close();
  }
}

async function finalModel(dbFile: string): Promise<NamedTensor[]> {
  const store = openSqliteStore({ sodium: await loadSodium(), file: dbFile });
  try {
    const db = new Database(dbFile, { readonly: true });
    const run = db.prepare('SELECT id, model_version, state FROM runs').get() as {
      id: string;
      model_version: number;
      state: string;
    };
    db.close();
    assert.equal(run.state, 'complete');
    assert.equal(run.model_version, ROUNDS);
    const model = await store.models.get({ runId: run.id, version: run.model_version });
    return unwrap(decodeTensorBlob(await store.models.readBlob(model.modelHash)));
  } finally {
    await store.close();
  }
}

async function writeConfig(
  workspace: DemoWorkspace,
  name: string,
  adjust: (config: CoordinatorConfigInput) => CoordinatorConfigInput,
): Promise<string> {
  const base = JSON.parse(
    await readFile(workspace.coordinatorConfigFile, 'utf8'),
  ) as CoordinatorConfigInput;
  const file = path.join(path.dirname(workspace.coordinatorConfigFile), name);
  await writeFile(file, JSON.stringify(adjust(base), null, 2));
  return file;
}

/** The audit log's session entries, per site, in log order. */
function sessionEntries(dbFile: string): Map<string, { event: string; reason?: string }[]> {
  const db = new Database(dbFile, { readonly: true });
  try {
    const rows = db.prepare('SELECT event FROM audit_log ORDER BY seq').all() as {
      event: string;
    }[];
    const bySite = new Map<string, { event: string; reason?: string }[]>();
    for (const row of rows) {
      const event = JSON.parse(row.event) as { event: string; site?: string; reason?: string };
      if (!event.site || !event.event.startsWith('session.')) continue;
      const kept = { event: event.event, ...(event.reason ? { reason: event.reason } : {}) };
      bySite.set(event.site, [...(bySite.get(event.site) ?? []), kept]);
    }
    return bySite;
  } finally {
    db.close();
  }
}

function runSites(workspace: DemoWorkspace, url: string): Promise<SiteRunSummary[]> {
  return Promise.all(
    workspace.siteNames.map(async (site) => {
      const config = await loadSiteConfig(await writeSiteConfig(workspace, site, url));
      return runSite({
        ...config,
        reconnect: { initialDelayMs: 50, maxDelayMs: 400, maxAttempts: 200 },
      });
    }),
  );
}

describe('a coordinator killed mid-round', () => {
  it('resumes the same round on restart, loses and repeats no acknowledged update, and ends with the uninterrupted model', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fedistill-crash-'));
    try {
      const workspace = await prepareWorkspace(dir, {
        sites: SITES,
        rounds: ROUNDS,
        seed: 11,
        cacheDir: path.join(dir, 'cache'),
      });
      const port = await freePort();
      // FedAvgM keeps server momentum across rounds, and the pruning mask grows from round 1
      // on (25%, 46.875%, 50%, 50%): the restart must carry both.
      const settings = (config: CoordinatorConfigInput): CoordinatorConfigInput => ({
        ...config,
        run: {
          ...config.run!,
          id: 'crash-test',
          localEpochs: 8,
          aggregation: { strategy: 'fedavgm', serverLearningRate: 1, momentum: 0.5 },
          compression: { pruning: { schedule: PRUNING } },
        },
      });
      const crashFile = await writeConfig(workspace, 'crash.json', (c) => ({
        ...settings(c),
        listen: { host: '127.0.0.1', port },
        storeFile: 'crash.db',
      }));
      const crashDb = path.join(path.dirname(crashFile), 'crash.db');
      const output: string[] = [];
      const firstSpawn = performance.now();
      let coordinator = await spawnCoordinator(crashFile, output);
      const firstListening = performance.now();
      let lastListening = firstListening;
      const sites = runSites(workspace, `http://127.0.0.1:${port}`);

      // Kill while a round has some of its updates acknowledged. The process is frozen first
      // and the round read while it cannot write (its store is in-process): a round that
      // closed between the poll and the freeze is seen closed, and the process thawed goes on
      // to a later round.
      let killed: { round: number; attempt: number; before: Acknowledged[] } | undefined;
      for (let from = 2; !killed && from < ROUNDS;) {
        const partial = await waitForPartialRound(crashDb, from);
        coordinator.kill('SIGSTOP');
        const after = acknowledged(crashDb, partial.round, partial.attempt);
        if (after.state === 'open' && after.updates.length < SITES) {
          killed = { ...partial, before: after.updates };
        } else {
          coordinator.kill('SIGCONT');
          from = partial.round + 1;
        }
      }
      assert.ok(killed, 'no kill landed inside a round');
      coordinator.kill('SIGKILL');
      await once(coordinator, 'exit');
      coordinator = await spawnCoordinator(crashFile, output);
      lastListening = performance.now();
      const summaries = await sites;
      // The coordinator ends by itself once the run is complete and the sites have left.
      if (coordinator.exitCode === null) await once(coordinator, 'exit');
      const ended = performance.now();
      assert.equal(coordinator.exitCode, 0, output.join(''));

      // The same round attempt closed after the restart, with every acknowledged update kept
      // (same site, same bytes) and each participant counted once.
      const after = acknowledged(crashDb, killed.round, killed.attempt);
      assert.equal(after.state, 'closed');
      assert.equal(after.attempts, 1, 'the round was not retried as a new attempt');
      assert.equal(after.updates.length, SITES);
      for (const update of killed.before)
        assert.ok(
          after.updates.some((u) => u.site === update.site && u.blob_hash === update.blob_hash),
        );
      const report = JSON.parse(await readFile(workspace.reportFile, 'utf8')) as {
        per_round: {
          round: number;
          participants: number;
          duration_seconds: number;
          bytes_up: number;
          bytes_down: number;
        }[];
        bytes_up: number;
        bytes_down: number;
        wall_seconds: number;
      };
      assert.deepEqual(
        report.per_round.map((r) => [r.round, r.participants]),
        Array.from({ length: ROUNDS }, (_, i) => [i + 1, SITES]),
      );
      // The sites reconnected by themselves.
      for (const summary of summaries)
        assert.ok(summary.sessions >= 2, `${summary.site} never reconnected`);

      // The report's traffic is every process's: at least the rounds' own traffic, whichever
      // process closed them, and up no more than the sites sent. (What the killed process
      // received after its last checkpoint, an audited step or a second before, is lost.)
      const sent = summaries.reduce((n, s) => n + s.bytesSent, 0);
      const received = summaries.reduce((n, s) => n + s.bytesReceived, 0);
      const rounds = (key: 'bytes_up' | 'bytes_down'): number =>
        report.per_round.reduce((n, r) => n + r[key], 0);
      const figures = `report up ${report.bytes_up} down ${report.bytes_down}; rounds up ${rounds('bytes_up')} down ${rounds('bytes_down')}; sites sent ${sent}, received ${received}`;
      assert.ok(report.bytes_up >= rounds('bytes_up'), figures);
      assert.ok(report.bytes_down >= rounds('bytes_down'), figures);
      assert.ok(report.bytes_up <= sent, figures);
      // Down, most of it is each site's one download of the transfer set, from the first
      // process: all of it is counted but what the killed process sent after its last
      // checkpoint (a model's chunks at most, about 1 kB each).
      assert.ok(report.bytes_down >= 0.9 * received, figures);
      // Its wall time runs from the first process's start to the last round's end: longer
      // than everything from the first process's listening to the last one's, plus the rounds
      // the last process opened after it (the resumed one began before it listened).
      const later = report.per_round.filter((r) => r.round > killed.round);
      const atLeast =
        (lastListening - firstListening) / 1000 + later.reduce((t, r) => t + r.duration_seconds, 0);
      const atMost = (ended - firstSpawn) / 1000;
      assert.ok(
        report.wall_seconds >= atLeast && report.wall_seconds <= atMost,
        `wall ${report.wall_seconds} s, expected between ${atLeast} and ${atMost}`,
      );

      // Each session the kill cut was closed in the audit log when the next process started,
      // before that site's next session opened: per site, openings and closings alternate.
      const sessions = sessionEntries(crashDb);
      assert.deepEqual([...sessions.keys()].sort(), workspace.siteNames.slice().sort());
      let closedAtRestart = 0;
      for (const [site, entries] of sessions) {
        entries.forEach((entry, i) =>
          assert.equal(
            entry.event,
            i % 2 === 0 ? 'session.opened' : 'session.closed',
            `${site}: ${JSON.stringify(entries)}`,
          ),
        );
        assert.equal(entries.length % 2, 0, `${site} has a session left open`);
        closedAtRestart += entries.filter((e) => e.reason === 'coordinator.restart').length;
      }
      assert.ok(closedAtRestart >= 1, 'no session was closed at the restart');

      // The same run without the crash, in this process, on its own store.
      const reference = await startCoordinator(
        await loadCoordinatorConfig(
          await writeConfig(workspace, 'reference.json', (c) => ({
            ...settings(c),
            storeFile: 'reference.db',
          })),
        ),
        { logLevels: false },
      );
      try {
        await Promise.all([runSites(workspace, reference.url), reference.finished]);
      } finally {
        await reference.close();
      }
      const crashed = await finalModel(crashDb);
      const uninterrupted = await finalModel(path.join(path.dirname(crashFile), 'reference.db'));
      // Both are pruned alike: the restarted coordinator sent the stored mask with the resumed
      // round; without it the sites would have trained the pruned weights.
      const zeros = (model: NamedTensor[]): string[] =>
        model.flatMap((t) =>
          [...t.values.keys()].filter((i) => t.values[i] === 0).map((i) => `${t.name}[${i}]`),
        );
      assert.equal(zeros(crashed).length, 128, '50% of the 256 kernel weights');
      assert.deepEqual(zeros(crashed), zeros(uninterrupted));
      let maxError = 0;
      crashed.forEach((tensor, t) =>
        tensor.values.forEach((v, i) => {
          maxError = Math.max(maxError, Math.abs(v - uninterrupted[t]!.values[i]!));
        }),
      );
      // Updates fold in arrival order, so float32 sums differ in their last bits between runs and
      // later rounds' training carries that on (about 1e-5 here); one update lost or applied
      // twice moves weights by about 0.1.
      assert.ok(maxError < 1e-4, `final models differ by up to ${maxError}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
