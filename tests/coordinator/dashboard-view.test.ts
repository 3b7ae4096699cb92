import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildRunView, diffRunView, roundPoint } from '../../coordinator/dashboard/run-view.js';
import type { RunStatus } from '../../coordinator/runs/runs.service.js';
import { openSqliteStore } from '../../coordinator/store/sqlite/open-sqlite-store.js';
import type { CoordinatorStore } from '../../coordinator/store/store.js';
import { loadSodium } from '../../protocol/index.js';
import { roundSummary as summary } from '../support/round-summary.js';

describe('the dashboard: store queries and the run view', () => {
  let dir: string;
  let store: CoordinatorStore;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'fedistill-dashboard-'));
    store = openSqliteStore({ sodium: await loadSodium(), file: path.join(dir, 'coordinator.db') });
    await store.sites.sync(
      ['site-1', 'site-2', 'site-3'].map((name) => ({
        name,
        publicKey: `key-${name}`,
        state: name === 'site-3' ? ('revoked' as const) : ('enrolled' as const),
      })),
    );
    await store.runs.create({ id: 'r1', specHash: 'h', spec: {} });
    await store.runs.start({ runId: 'r1', initial: { version: 0, modelHash: 'm0' } });
    const update = (site: string) => ({
      site,
      numExamples: 10,
      blobHash: `b-${site}`,
      bytes: new Uint8Array(4),
    });
    // Round 1 fails its quorum on attempt 1 (one answer, one dropped, one straggler), closes on 2.
    await store.runs.openRound({
      runId: 'r1',
      round: 1,
      attempt: 0,
      participants: ['site-1', 'site-2', 'site-3'],
    });
    await store.updates.save({ runId: 'r1', round: 1, attempt: 0, update: update('site-2') });
    await store.runs.failRound({
      runId: 'r1',
      round: 1,
      attempt: 0,
      outcome: { answered: 1, stragglers: 1, dropped: 1 },
    });
    await store.runs.openRound({
      runId: 'r1',
      round: 1,
      attempt: 1,
      participants: ['site-1', 'site-2'],
    });
    await store.updates.save({ runId: 'r1', round: 1, attempt: 1, update: update('site-1') });
    await store.updates.save({ runId: 'r1', round: 1, attempt: 1, update: update('site-2') });
    await store.runs.commitRound({
      runId: 'r1',
      round: 1,
      attempt: 1,
      summary: summary(1, 2),
      model: { version: 1, modelHash: 'm1' },
    });
    await store.runs.openRound({
      runId: 'r1',
      round: 2,
      attempt: 0,
      participants: ['site-1', 'site-2'],
    });
    await store.updates.save({ runId: 'r1', round: 2, attempt: 0, update: update('site-1') });
  });

  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps each attempt with its outcome, and the last closed round each site answered', async () => {
    const attempts = await store.runs.roundAttempts('r1');
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
    assert.deepEqual([...(await store.updates.lastRoundBySite({ runId: 'r1' }))].sort(), [
      ['site-1', 1],
      ['site-2', 1],
    ]);
  });

  it('builds the run view, and a diff carries only what changed', async () => {
    const status = (answered: string[]): RunStatus =>
      ({
        id: 'r1',
        state: 'round-open',
        spec: { rounds: 3, minSites: 2, aggregation: { strategy: 'fedavg' } },
        createdAt: 't0',
        updatedAt: 't1',
        roundsClosed: 1,
        modelVersion: 1,
        live: {
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
    const sources = async (answered: string[]) => ({
      status: status(answered),
      dataset: 'wdbc',
      closedRounds: await store.runs.closedRounds('r1'),
      attempts: await store.runs.roundAttempts('r1'),
      registry: await store.sites.list(),
      lastRounds: await store.updates.lastRoundBySite({ runId: 'r1' }),
      bytes: new Map([['site-1', { up: 5, down: 7 }]]),
      backends: new Map<string, string>(),
    });
    const before = buildRunView(await sources(['site-1']));
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
    // A run whose last round closed shows that round, not the one its live state counts next.
    const finished = await sources([]);
    const done = buildRunView({
      ...finished,
      status: {
        ...finished.status,
        state: 'complete',
        roundsClosed: 3,
        live: { ...finished.status.live!, round: 4, attempt: 1 },
      },
    });
    assert.deepEqual([done.run.round, done.run.attempt], [3, 1]);
    const after = buildRunView(await sources(['site-1', 'site-2']));
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
