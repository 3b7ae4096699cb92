import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hashToken, issueToken } from '../../coordinator/api/tokens.js';
import { buildRunView, diffRunView, roundPoint } from '../../coordinator/dashboard/run-view.js';
import type { RoundSummary } from '../../coordinator/runs/run-report.js';
import type { RunStatus } from '../../coordinator/runs/runs.service.js';
import { SqliteStore } from '../../coordinator/store/sqlite-store.js';
import { loadSodium } from '../../protocol/index.js';

const summary = (round: number, participants: number): RoundSummary => ({
  round,
  rounds: 3,
  attempt: 1,
  temperature: 4,
  alpha: 0.5,
  selected: 3,
  participants,
  stragglers: 3 - participants,
  dropped: 0,
  student_accuracy: 0.5 + round / 10,
  student_loss: 1 / round,
  sparsity: 0,
  bytes_up: 100 * round,
  bytes_down: 1000 * round,
  duration_seconds: round,
});

describe('the dashboard: store queries and the run view', () => {
  let dir: string;
  let store: SqliteStore;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'fedistill-dashboard-'));
    store = new SqliteStore(await loadSodium(), path.join(dir, 'coordinator.db'));
    store.syncSites(
      ['site-1', 'site-2', 'site-3'].map((name) => ({
        name,
        publicKey: `key-${name}`,
        state: name === 'site-3' ? ('revoked' as const) : ('enrolled' as const),
      })),
    );
    store.createRun({ id: 'r1', specHash: 'h', spec: {} });
    store.startRun('r1', { version: 0, modelHash: 'm0' });
    const update = (site: string) => ({
      site,
      numExamples: 10,
      blobHash: `b-${site}`,
      bytes: new Uint8Array(4),
    });
    // Round 1 fails its quorum on attempt 1 (one answer, one dropped, one straggler), closes on 2.
    store.openRound('r1', 1, 0, ['site-1', 'site-2', 'site-3']);
    store.saveUpdate('r1', 1, 0, update('site-2'));
    store.failRound('r1', 1, 0, { answered: 1, stragglers: 1, dropped: 1 });
    store.openRound('r1', 1, 1, ['site-1', 'site-2']);
    store.saveUpdate('r1', 1, 1, update('site-1'));
    store.saveUpdate('r1', 1, 1, update('site-2'));
    store.commitRound(
      'r1',
      { round: 1, attempt: 1, summary: summary(1, 2) },
      { version: 1, modelHash: 'm1' },
    );
    store.openRound('r1', 2, 0, ['site-1', 'site-2']);
    store.saveUpdate('r1', 2, 0, update('site-1'));
  });

  after(async () => {
    store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps each attempt with its outcome, and the last closed round each site answered', () => {
    const attempts = store.roundAttempts('r1');
    assert.deepEqual(
      attempts.map((a) => [a.round, a.attempt, a.state, a.participants]),
      [
        [1, 0, 'failed', 3],
        [1, 1, 'closed', 2],
        [2, 0, 'open', 2],
      ],
    );
    assert.deepEqual(attempts[0]!.summary, { answered: 1, stragglers: 1, dropped: 1 });
    assert.ok(attempts[0]!.closedAt && !attempts[2]!.closedAt);
    // site-2's answer to the failed attempt and site-1's to the open round do not count.
    assert.deepEqual([...store.lastRoundBySite('r1')].sort(), [
      ['site-1', 1],
      ['site-2', 1],
    ]);
  });

  it('pages the audit log newest first, filtered by event, prefix, site, run and round', () => {
    const events = [
      { event: 'round.started', run: 'r1', round: 1 },
      { event: 'update.received', run: 'r1', round: 1, site: 'site-1' },
      { event: 'update.received', run: 'r1', round: 1, site: 'site-2' },
      { event: 'round.failed', run: 'r1', round: 1 },
      { event: 'allowXlist.applied', run: 'r1', round: 1 },
      { event: 'update.received', run: 'r2', round: 2, site: 'site-1' },
    ];
    events.forEach((event, seq) => store.appendAudit(seq, event));
    const seqs = (filter: Parameters<SqliteStore['auditPage']>[0]) =>
      store.auditPage(filter).entries.map((e) => e.seq);
    assert.deepEqual(seqs({ limit: 100 }), [5, 4, 3, 2, 1, 0]);
    assert.equal(store.auditSize(), 6);
    assert.deepEqual(seqs({ event: 'update.received', limit: 100 }), [5, 2, 1]);
    assert.deepEqual(seqs({ event: 'round.', limit: 100 }), [3, 0]);
    // LIKE's wildcard _ in a prefix is escaped: allow_list. does not match allowXlist.
    assert.deepEqual(seqs({ event: 'allow_list.', limit: 100 }), []);
    assert.deepEqual(seqs({ event: 'allowXlist.', limit: 100 }), [4]);
    assert.deepEqual(seqs({ site: 'site-1', limit: 100 }), [5, 1]);
    assert.deepEqual(seqs({ run: 'r1', round: 1, event: 'update.', limit: 100 }), [2, 1]);
    assert.deepEqual(seqs({ round: 2, limit: 100 }), [5]);
    const page = store.auditPage({ event: 'update.received', before: 5, limit: 1 });
    assert.deepEqual(
      page.entries.map((e) => e.seq),
      [2],
    );
    assert.equal(page.matching, 3, 'matching counts every match, not the page');
  });

  it('finds a token only while it is neither revoked nor expired', () => {
    const api = issueToken(store, { name: 'ops', role: 'operator', kind: 'api' });
    const session = issueToken(store, {
      name: 'ops',
      role: 'operator',
      kind: 'session',
      ttlMs: 60_000,
    });
    const expired = issueToken(store, {
      name: 'ops',
      role: 'auditor',
      kind: 'session',
      ttlMs: -1,
    });
    assert.equal(store.tokenByHash(hashToken(api.secret))?.kind, 'api');
    assert.equal(store.tokenByHash(hashToken(session.secret))?.expiresAt, session.record.expiresAt);
    assert.equal(store.tokenByHash(hashToken(expired.secret)), undefined);
    assert.ok(store.revokeToken(session.record.id));
    assert.equal(store.tokenByHash(hashToken(session.secret)), undefined);
    assert.ok(!store.revokeToken(session.record.id), 'a token is revoked once');
  });

  it('builds the run view, and a diff carries only what changed', () => {
    const status = (answered: string[]): RunStatus =>
      ({
        id: 'r1',
        state: 'waiting-for-sites',
        spec: { rounds: 3, minSites: 2, aggregation: { strategy: 'fedavg' } },
        createdAt: 't0',
        updatedAt: 't1',
        roundsClosed: 1,
        modelVersion: 1,
        live: {
          state: 'round-open',
          round: 2,
          attempt: 1,
          modelVersion: 1,
          sites: [
            { site: 'site-1', ready: true, backend: 'wasm' },
            { site: 'site-2', ready: true, backend: 'cpu' },
          ],
          participants: ['site-1', 'site-2'],
          answered,
        },
      }) as unknown as RunStatus;
    const sources = (answered: string[]) => ({
      status: status(answered),
      dataset: 'wdbc',
      closedRounds: store.closedRounds('r1'),
      attempts: store.roundAttempts('r1'),
      registry: store.sites(),
      lastRounds: store.lastRoundBySite('r1'),
      bytes: new Map([['site-1', { up: 5, down: 7 }]]),
      backends: new Map<string, string>(),
    });
    const before = buildRunView(sources(['site-1']));
    assert.equal(before.run.state, 'round-open', "the live run's state, not the stored one");
    assert.equal(before.run.active, true);
    assert.deepEqual(before.run.controls, { pause: true, resume: false, cancel: true });
    assert.equal(before.run.accuracy, 0.6);
    assert.deepEqual(before.points, [
      {
        round: 1,
        accuracy: 0.6,
        loss: 1,
        temperature: 4,
        alpha: 0.5,
        sparsity: 0,
        bytesUp: 100,
        bytesDown: 1000,
        durationSeconds: 1,
      },
    ]);
    assert.deepEqual(
      before.timeline.map((e) => [e.round, e.attempt, e.state, e.answered, e.dropped]),
      [
        [1, 1, 'failed', 1, 1],
        [1, 2, 'closed', 2, 0],
        [2, 1, 'open', 1, 0],
      ],
    );
    assert.deepEqual(
      before.sites.map((s) => [s.site, s.state, s.connected, s.enrolment, s.bytesUp]),
      [
        ['site-1', 'answered', true, 'enrolled', 5],
        ['site-2', 'training', true, 'enrolled', 0],
        ['site-3', 'offline', false, 'revoked', 0],
      ],
    );
    assert.equal(diffRunView(before, before), undefined);
    // Privacy spent reaches the chart only when the run accounts for it.
    assert.equal(roundPoint({ ...summary(2, 3), epsilon: 1.5 }).epsilon, 1.5);
    assert.ok(!('epsilon' in before.points[0]!));
    const after = buildRunView(sources(['site-1', 'site-2']));
    const delta = diffRunView(before, after)!;
    assert.deepEqual(delta.points, []);
    assert.deepEqual(
      delta.timeline.map((e) => [e.round, e.attempt, e.answered]),
      [[2, 1, 2]],
    );
    assert.deepEqual(
      delta.sites.map((s) => [s.site, s.state]),
      [['site-2', 'answered']],
    );
  });
});
