import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import type { CoordinatorStore, StoredUpdate } from '../../../coordinator/store/store.js';
import { FedistillError } from '../../../protocol/index.js';
import { roundSummary as summary } from '../../support/round-summary.js';

/**
 * What a backend under test provides: fresh, empty places to keep a store. Opening one place
 * again after closing it must see everything committed before: that is how these suites check
 * durability without killing a process.
 */
export interface StoreBackend {
  /** A new, empty place for one test's store. */
  place(): Promise<StorePlace>;
}

export interface StorePlace {
  open(): Promise<CoordinatorStore>;
  /** Deletes the place and everything in it; every store opened on it is closed by then. */
  remove(): Promise<void>;
}

/**
 * Runs `test` on a store opened on a fresh place. `reopen` closes that store and opens the
 * place again, as a restarted coordinator does.
 */
async function withStore(
  backend: StoreBackend,
  test: (store: CoordinatorStore, reopen: () => Promise<CoordinatorStore>) => Promise<void> | void,
): Promise<void> {
  const place = await backend.place();
  let store = await place.open();
  try {
    await test(store, async () => {
      await store.close();
      store = await place.open();
      return store;
    });
  } finally {
    await store.close();
    await place.remove();
  }
}

const HASH_0 = '0'.repeat(64);
const HASH_1 = '1'.repeat(64);

const update = (site: string, bytes: number[] = [1, 2, 3]): StoredUpdate => ({
  site,
  numExamples: 10 * bytes.length,
  blobHash: `b-${site}`,
  bytes: new Uint8Array(bytes),
});

/** The update as the leader saves one an edge node pulled: its bytes are staged instead. */
const withoutBytes = (u: StoredUpdate): StoredUpdate => ({ ...u, bytes: new Uint8Array(0) });

/** Stages the update's bytes for run `r1`, as an edge node does. */
const stage = (store: CoordinatorStore, round: number, u: StoredUpdate): Promise<void> =>
  store.updates.stage({ runId: 'r1', round, site: u.site, blobHash: u.blobHash, bytes: u.bytes });

/** A started run `r1` (model version 0 stored), round 1 open to the given sites. */
async function startWithOpenRound(
  store: CoordinatorStore,
  participants: readonly string[],
): Promise<void> {
  await store.runs.create({ id: 'r1', specHash: 'h1', spec: { rounds: 3 } });
  await store.runs.start({ runId: 'r1', initial: { version: 0, modelHash: HASH_0 } });
  await store.runs.openRound({ runId: 'r1', round: 1, attempt: 0, participants });
}

const isUnavailable = (error: unknown): boolean =>
  error instanceof FedistillError && error.code === 'store.unavailable';

const isFenced = (error: unknown): boolean =>
  error instanceof FedistillError && error.code === 'store.fenced';

/** `RunStore`, with the model versions and updates its transactions write. */
export function runStoreSuite(name: string, backend: StoreBackend): void {
  describe(`${name}: runs and rounds`, () => {
    it('a created run is at round 1, attempt 0, model version 0, and not yet active', () =>
      withStore(backend, async (store) => {
        await store.runs.create({ id: 'r1', specHash: 'h1', spec: { rounds: 3, note: 'x' } });
        const run = await store.runs.get('r1');
        assert.ok(run);
        assert.deepEqual(
          [run.specHash, run.spec, run.state, run.nextRound, run.attempt, run.modelVersion],
          ['h1', { rounds: 3, note: 'x' }, 'created', 1, 0, 0],
        );
        assert.equal(run.lastClosedRound, 0);
        assert.equal(await store.runs.active(), undefined);
        assert.equal(await store.runs.get('r2'), undefined);
        assert.equal(await store.runs.report('r1'), undefined);
      }));

    it('lists runs newest first', () =>
      withStore(backend, async (store) => {
        for (const id of ['a', 'b', 'c']) await store.runs.create({ id, specHash: id, spec: {} });
        assert.deepEqual(
          (await store.runs.list()).map((r) => r.id),
          ['c', 'b', 'a'],
        );
      }));

    it('a started run has its model version 0 stored, waits for sites and is the active run', () =>
      withStore(backend, async (store) => {
        await store.runs.create({ id: 'r1', specHash: 'h1', spec: {} });
        await store.runs.start({
          runId: 'r1',
          initial: { version: 0, modelHash: HASH_0, optimizerHash: HASH_1 },
        });
        assert.equal((await store.runs.get('r1'))?.state, 'waiting-for-sites');
        assert.equal((await store.runs.active())?.id, 'r1');
        assert.deepEqual(await store.models.get({ runId: 'r1', version: 0 }), {
          version: 0,
          modelHash: HASH_0,
          optimizerHash: HASH_1,
        });
      }));

    it('a paused run stays active; a cancelled or stopped one does not', () =>
      withStore(backend, async (store) => {
        await store.runs.create({ id: 'r1', specHash: 'h1', spec: {} });
        await store.runs.start({ runId: 'r1', initial: { version: 0, modelHash: HASH_0 } });
        await store.runs.setState({ runId: 'r1', state: 'paused' });
        assert.equal((await store.runs.active())?.state, 'paused');
        await store.runs.setState({ runId: 'r1', state: 'cancelled' });
        assert.equal((await store.runs.get('r1'))?.state, 'cancelled');
        assert.equal(await store.runs.active(), undefined);
        await store.runs.setState({ runId: 'r1', state: 'stopped-by-budget' });
        assert.equal(await store.runs.active(), undefined);
      }));

    it('an open round is resumed after a reopen with its participants and updates in arrival order', () =>
      withStore(backend, async (store, reopen) => {
        await startWithOpenRound(store, ['site-1', 'site-2', 'site-3']);
        await store.updates.save({
          runId: 'r1',
          round: 1,
          attempt: 0,
          update: update('site-3', [9]),
        });
        await store.updates.save({
          runId: 'r1',
          round: 1,
          attempt: 0,
          update: update('site-1', [7, 8]),
        });
        const after = await reopen();
        const run = await after.runs.active();
        assert.ok(run);
        const open = await after.runs.openRoundOf(run);
        assert.deepEqual(open, {
          round: 1,
          attempt: 0,
          participants: ['site-1', 'site-2', 'site-3'],
          updates: [update('site-3', [9]), update('site-1', [7, 8])],
        });
      }));

    it('an attempt is opened once', () =>
      withStore(backend, async (store) => {
        await startWithOpenRound(store, ['site-1']);
        await assert.rejects(
          store.runs.openRound({ runId: 'r1', round: 1, attempt: 0, participants: ['site-2'] }),
        );
        assert.deepEqual(
          (await store.runs.openRoundOf((await store.runs.get('r1'))!))?.participants,
          ['site-1'],
        );
      }));

    it('a failed attempt keeps its outcome, is not resumed, and the run moves to the next attempt', () =>
      withStore(backend, async (store, reopen) => {
        await startWithOpenRound(store, ['site-1', 'site-2']);
        await store.updates.save({ runId: 'r1', round: 1, attempt: 0, update: update('site-1') });
        const outcome = { answered: 1, stragglers: 1, dropped: 0 };
        await store.runs.failRound({ runId: 'r1', round: 1, attempt: 0, outcome });
        const after = await reopen();
        const run = (await after.runs.get('r1'))!;
        assert.deepEqual([run.nextRound, run.attempt, run.modelVersion], [1, 1, 0]);
        assert.equal(await after.runs.openRoundOf(run), undefined);
        const [failed] = await after.runs.roundAttempts('r1');
        assert.deepEqual([failed?.round, failed?.attempt, failed?.state], [1, 0, 'failed']);
        assert.deepEqual(failed?.summary, outcome);
        assert.equal(failed?.participants, 2);
        assert.ok(failed?.closedAt);
        assert.deepEqual(await after.runs.closedRounds('r1'), []);
        await after.runs.openRound({ runId: 'r1', round: 1, attempt: 1, participants: ['site-2'] });
        assert.deepEqual(await after.runs.openRoundOf((await after.runs.get('r1'))!), {
          round: 1,
          attempt: 1,
          participants: ['site-2'],
          updates: [],
        });
      }));

    it('a committed round stores its model version, moves the run on and keeps its summary', () =>
      withStore(backend, async (store, reopen) => {
        await startWithOpenRound(store, ['site-1', 'site-2']);
        await store.updates.save({ runId: 'r1', round: 1, attempt: 0, update: update('site-1') });
        await store.runs.commitRound({
          runId: 'r1',
          round: 1,
          attempt: 0,
          summary: summary(1, 1),
          model: { version: 1, modelHash: HASH_1, maskHash: HASH_0 },
        });
        const after = await reopen();
        const run = (await after.runs.get('r1'))!;
        assert.deepEqual(
          [run.nextRound, run.attempt, run.lastClosedRound, run.modelVersion],
          [2, 0, 1, 1],
        );
        assert.equal(await after.runs.openRoundOf(run), undefined);
        assert.deepEqual(await after.models.get({ runId: 'r1', version: 1 }), {
          version: 1,
          modelHash: HASH_1,
          maskHash: HASH_0,
        });
        assert.deepEqual(await after.runs.closedRounds('r1'), [summary(1, 1)]);
        const attempts = await after.runs.roundAttempts('r1');
        assert.deepEqual(
          attempts.map((a) => [a.round, a.attempt, a.state]),
          [[1, 0, 'closed']],
        );
        assert.deepEqual(attempts[0]?.summary, summary(1, 1));
      }));

    it('a commit that cannot store its model changes nothing: the round stays open', () =>
      withStore(backend, async (store) => {
        await startWithOpenRound(store, ['site-1']);
        await store.updates.save({ runId: 'r1', round: 1, attempt: 0, update: update('site-1') });
        // Version 0 is stored already (by start), so this commit's model write fails last.
        await assert.rejects(
          store.runs.commitRound({
            runId: 'r1',
            round: 1,
            attempt: 0,
            summary: summary(1, 1),
            model: { version: 0, modelHash: HASH_1 },
          }),
        );
        const run = (await store.runs.get('r1'))!;
        assert.deepEqual([run.nextRound, run.lastClosedRound, run.modelVersion], [1, 0, 0]);
        assert.deepEqual((await store.runs.openRoundOf(run))?.updates, [update('site-1')]);
        assert.deepEqual(await store.runs.closedRounds('r1'), []);
        assert.equal((await store.models.get({ runId: 'r1', version: 0 })).modelHash, HASH_0);
      }));

    it('a complete run keeps its report and is no longer active', () =>
      withStore(backend, async (store, reopen) => {
        await store.runs.create({ id: 'r1', specHash: 'h1', spec: {} });
        await store.runs.start({ runId: 'r1', initial: { version: 0, modelHash: HASH_0 } });
        await store.runs.complete({
          runId: 'r1',
          report: { accuracy: 0.9, rounds: [1, 2] },
          state: 'complete',
        });
        const after = await reopen();
        assert.equal((await after.runs.get('r1'))?.state, 'complete');
        assert.deepEqual(await after.runs.report('r1'), { accuracy: 0.9, rounds: [1, 2] });
        assert.equal(await after.runs.active(), undefined);
      }));

    it("a run's traffic sums every process that served it, from the first one's start", () =>
      withStore(backend, async (store, reopen) => {
        await store.runs.create({ id: 'r1', specHash: 'h1', spec: {} });
        await store.runs.create({ id: 'r2', specHash: 'h2', spec: {} });
        assert.equal(await store.runs.traffic('r1'), undefined);
        const first = { runId: 'r1', process: 'p1', startedAt: 1_000 };
        await store.runs.recordTraffic({ ...first, bytesUp: 10, bytesDown: 20 });
        // A later checkpoint of the same process replaces its figures; it does not add to them.
        await store.runs.recordTraffic({ ...first, bytesUp: 15, bytesDown: 40 });
        const after = await reopen();
        await after.runs.recordTraffic({
          runId: 'r1',
          process: 'p2',
          startedAt: 5_000,
          bytesUp: 7,
          bytesDown: 9,
        });
        await after.runs.recordTraffic({
          runId: 'r2',
          process: 'p2',
          startedAt: 500,
          bytesUp: 1,
          bytesDown: 1,
        });
        assert.deepEqual(await after.runs.traffic('r1'), {
          startedAt: 1_000,
          bytesUp: 22,
          bytesDown: 49,
        });
        assert.deepEqual(await after.runs.traffic('r2'), {
          startedAt: 500,
          bytesUp: 1,
          bytesDown: 1,
        });
      }));
  });
}

/** `UpdateStore`, on rounds opened and closed through `RunStore`. */
export function updateStoreSuite(name: string, backend: StoreBackend): void {
  describe(`${name}: updates`, () => {
    it('a second update of one site to one attempt is refused and the first is kept', () =>
      withStore(backend, async (store) => {
        await startWithOpenRound(store, ['site-1']);
        await store.updates.save({
          runId: 'r1',
          round: 1,
          attempt: 0,
          update: update('site-1', [1]),
        });
        await assert.rejects(
          store.updates.save({ runId: 'r1', round: 1, attempt: 0, update: update('site-1', [2]) }),
        );
        assert.deepEqual((await store.runs.openRoundOf((await store.runs.get('r1'))!))?.updates, [
          update('site-1', [1]),
        ]);
      }));

    it('an update to an attempt that was never opened is refused', () =>
      withStore(backend, async (store) => {
        await startWithOpenRound(store, ['site-1']);
        await assert.rejects(
          store.updates.save({ runId: 'r1', round: 2, attempt: 0, update: update('site-1') }),
        );
      }));

    it("each site's last round counts closed rounds only, after the round asked", () =>
      withStore(backend, async (store) => {
        await startWithOpenRound(store, ['site-1', 'site-2', 'site-3']);
        const save = (round: number, attempt: number, site: string) =>
          store.updates.save({ runId: 'r1', round, attempt, update: update(site) });
        // Round 1 fails on attempt 0 (site-3 answered) and closes on attempt 1.
        await save(1, 0, 'site-3');
        await store.runs.failRound({
          runId: 'r1',
          round: 1,
          attempt: 0,
          outcome: { answered: 1, stragglers: 2, dropped: 0 },
        });
        await store.runs.openRound({ runId: 'r1', round: 1, attempt: 1, participants: ['site-1'] });
        await save(1, 1, 'site-1');
        await save(1, 1, 'site-2');
        await store.runs.commitRound({
          runId: 'r1',
          round: 1,
          attempt: 1,
          summary: summary(1, 2),
          model: { version: 1, modelHash: HASH_1 },
        });
        await store.runs.openRound({ runId: 'r1', round: 2, attempt: 0, participants: ['site-1'] });
        await save(2, 0, 'site-1');
        await store.runs.commitRound({
          runId: 'r1',
          round: 2,
          attempt: 0,
          summary: summary(2, 1),
          model: { version: 2, modelHash: HASH_1 },
        });
        // Round 3 is open: its update does not count yet.
        await store.runs.openRound({ runId: 'r1', round: 3, attempt: 0, participants: ['site-2'] });
        await save(3, 0, 'site-2');
        const sorted = (m: Map<string, number>) => [...m].sort();
        assert.deepEqual(sorted(await store.updates.lastRoundBySite({ runId: 'r1' })), [
          ['site-1', 2],
          ['site-2', 1],
        ]);
        assert.deepEqual(
          sorted(await store.updates.lastRoundBySite({ runId: 'r1', afterRound: 1 })),
          [['site-1', 2]],
        );
        assert.deepEqual(sorted(await store.updates.lastRoundBySite({ runId: 'r2' })), []);
      }));

    it('staged bytes read back after a reopen; staging them twice is harmless', () =>
      withStore(backend, async (store, reopen) => {
        await startWithOpenRound(store, ['site-1']);
        await stage(store, 1, update('site-1'));
        await stage(store, 1, update('site-1'));
        const after = await reopen();
        const key = { runId: 'r1', round: 1, site: 'site-1', blobHash: 'b-site-1' };
        assert.deepEqual(await after.updates.staged(key), update('site-1').bytes);
        assert.equal(await after.updates.staged({ ...key, blobHash: 'b-other' }), undefined);
        assert.equal(await after.updates.staged({ ...key, round: 2 }), undefined);
        assert.equal(await after.updates.staged({ ...key, site: 'site-2' }), undefined);
      }));

    it("the open round's resume record has the staged bytes of an update saved without bytes", () =>
      withStore(backend, async (store) => {
        await startWithOpenRound(store, ['site-1', 'site-2', 'site-3']);
        const save = (u: StoredUpdate) =>
          store.updates.save({ runId: 'r1', round: 1, attempt: 0, update: u });
        // site-1 came through an edge; site-2 to the leader with its bytes, which win over
        // bytes staged under the same hash; site-3 was saved without bytes and none staged.
        await stage(store, 1, update('site-1', [4, 5]));
        await save(withoutBytes(update('site-1', [4, 5])));
        await stage(store, 1, update('site-2', [9]));
        await save(update('site-2', [6, 7]));
        await save(withoutBytes(update('site-3')));
        const open = await store.runs.openRoundOf((await store.runs.get('r1'))!);
        assert.deepEqual(open?.updates, [
          update('site-1', [4, 5]),
          update('site-2', [6, 7]),
          withoutBytes(update('site-3')),
        ]);
      }));

    it("a round's commit deletes its staged bytes; a failed attempt keeps them", () =>
      withStore(backend, async (store) => {
        await startWithOpenRound(store, ['site-1']);
        const key = { runId: 'r1', site: 'site-1', blobHash: 'b-site-1' };
        await stage(store, 1, update('site-1', [1]));
        await stage(store, 2, update('site-1', [2]));
        const save = (attempt: number) =>
          store.updates.save({
            runId: 'r1',
            round: 1,
            attempt,
            update: withoutBytes(update('site-1', [1])),
          });
        await save(0);
        await store.runs.failRound({
          runId: 'r1',
          round: 1,
          attempt: 0,
          outcome: { answered: 1, stragglers: 0, dropped: 0 },
        });
        assert.deepEqual(await store.updates.staged({ ...key, round: 1 }), new Uint8Array([1]));
        // The next attempt folds the update again from the bytes staged for the round.
        await store.runs.openRound({ runId: 'r1', round: 1, attempt: 1, participants: ['site-1'] });
        await save(1);
        const open = await store.runs.openRoundOf((await store.runs.get('r1'))!);
        assert.deepEqual(open?.updates, [update('site-1', [1])]);
        await store.runs.commitRound({
          runId: 'r1',
          round: 1,
          attempt: 1,
          summary: summary(1, 1),
          model: { version: 1, modelHash: HASH_1 },
        });
        assert.equal(await store.updates.staged({ ...key, round: 1 }), undefined);
        assert.deepEqual(
          await store.updates.staged({ ...key, round: 2 }),
          new Uint8Array([2]),
          'another round keeps its staged bytes',
        );
      }));
  });
}

/** `ModelStore`: blobs by content hash, and model versions as read back. */
export function modelStoreSuite(name: string, backend: StoreBackend): void {
  describe(`${name}: models and blobs`, () => {
    it('a blob reads back after a reopen by the content hash it was stored under', () =>
      withStore(backend, async (store, reopen) => {
        const bytes = new Uint8Array([0, 1, 2, 250, 251, 252]);
        const hash = await store.models.writeBlob(bytes);
        assert.match(hash, /^[0-9a-f]{64}$/);
        assert.equal(await store.models.writeBlob(bytes.slice()), hash, 'same bytes, same hash');
        assert.notEqual(await store.models.writeBlob(new Uint8Array([0, 1, 2])), hash);
        const after = await reopen();
        assert.deepEqual(await after.models.readBlob(hash), bytes);
      }));

    it('an empty blob round-trips', () =>
      withStore(backend, async (store) => {
        const hash = await store.models.writeBlob(new Uint8Array(0));
        assert.equal((await store.models.readBlob(hash)).byteLength, 0);
      }));

    it('a malformed blob hash is refused before anything is read', () =>
      withStore(backend, async (store) => {
        await assert.rejects(store.models.readBlob('../coordinator.db'), isUnavailable);
        await assert.rejects(store.models.readBlob('A'.repeat(64)), isUnavailable);
      }));

    it('a blob never written is refused', () =>
      withStore(backend, async (store) => {
        await store.models.writeBlob(new Uint8Array([1]));
        await assert.rejects(store.models.readBlob('2'.repeat(64)));
      }));

    it('a model version the run does not have is refused with store.unavailable', () =>
      withStore(backend, async (store) => {
        await store.runs.create({ id: 'r1', specHash: 'h1', spec: {} });
        await assert.rejects(store.models.get({ runId: 'r1', version: 0 }), isUnavailable);
        await store.runs.start({ runId: 'r1', initial: { version: 0, modelHash: HASH_0 } });
        await assert.rejects(store.models.get({ runId: 'r1', version: 1 }), isUnavailable);
        await assert.rejects(store.models.get({ runId: 'r2', version: 0 }), isUnavailable);
      }));
  });
}

/** `SiteStore`. */
export function siteStoreSuite(name: string, backend: StoreBackend): void {
  describe(`${name}: sites`, () => {
    it('a sync adds new sites, changes keys and states, and keeps sites it does not name', () =>
      withStore(backend, async (store, reopen) => {
        await store.sites.sync([
          { name: 'site-b', publicKey: 'kb', state: 'enrolled' },
          { name: 'site-a', publicKey: 'ka', state: 'enrolled' },
        ]);
        await store.sites.sync([
          { name: 'site-a', publicKey: 'ka2', state: 'revoked' },
          { name: 'site-c', publicKey: 'kc', state: 'enrolled' },
        ]);
        const after = await reopen();
        assert.deepEqual(await after.sites.list(), [
          { name: 'site-a', publicKey: 'ka2', state: 'revoked' },
          { name: 'site-b', publicKey: 'kb', state: 'enrolled' },
          { name: 'site-c', publicKey: 'kc', state: 'enrolled' },
        ]);
      }));

    it('a connection is recorded on that site only; an unknown name adds nothing', () =>
      withStore(backend, async (store) => {
        await store.sites.sync([
          { name: 'site-a', publicKey: 'ka', state: 'enrolled' },
          { name: 'site-b', publicKey: 'kb', state: 'enrolled' },
        ]);
        const before = new Date().toISOString();
        await store.sites.markConnected('site-a');
        await store.sites.markConnected('site-z');
        const [a, b, ...rest] = await store.sites.list();
        assert.ok(a?.lastConnectedAt && a.lastConnectedAt >= before);
        assert.equal(b?.lastConnectedAt, undefined);
        assert.deepEqual(rest, []);
      }));
  });
}

/** `TokenStore`. */
export function tokenStoreSuite(name: string, backend: StoreBackend): void {
  const record = (id: string, expiresAt?: string) => ({
    id,
    name: `holder-of-${id}`,
    role: 'operator' as const,
    kind: expiresAt ? ('session' as const) : ('api' as const),
    ...(expiresAt ? { expiresAt } : {}),
  });
  const inOneHour = () => new Date(Date.now() + 3600_000).toISOString();
  const aMinuteAgo = () => new Date(Date.now() - 60_000).toISOString();

  describe(`${name}: tokens`, () => {
    it('a token is found by its hash, with what it grants and when it was made', () =>
      withStore(backend, async (store) => {
        const before = new Date().toISOString();
        await store.tokens.add({ record: record('t1'), tokenHash: 'hash-1' });
        const found = await store.tokens.byHash('hash-1');
        assert.deepEqual(found && [found.id, found.name, found.role, found.kind], [
          't1',
          'holder-of-t1',
          'operator',
          'api',
        ]);
        assert.ok(found && found.createdAt >= before);
        assert.equal(await store.tokens.byHash('t1'), undefined, 'an id is not a hash');
        assert.equal(await store.tokens.byHash('hash-2'), undefined);
      }));

    it('a token is found until it expires, not after', () =>
      withStore(backend, async (store) => {
        const later = inOneHour();
        await store.tokens.add({ record: record('live', later), tokenHash: 'hash-live' });
        await store.tokens.add({ record: record('old', aMinuteAgo()), tokenHash: 'hash-old' });
        assert.equal((await store.tokens.byHash('hash-live'))?.expiresAt, later);
        assert.equal(await store.tokens.byHash('hash-old'), undefined);
        assert.deepEqual(
          (await store.tokens.list()).map((t) => t.id),
          ['live', 'old'],
          'an expired token is still listed',
        );
      }));

    it('a revoked token is not found, and is revoked once', () =>
      withStore(backend, async (store, reopen) => {
        await store.tokens.add({ record: record('t1'), tokenHash: 'hash-1' });
        await store.tokens.add({ record: record('t2'), tokenHash: 'hash-2' });
        assert.equal(await store.tokens.revoke('t1'), true);
        assert.equal(await store.tokens.revoke('t1'), false);
        assert.equal(await store.tokens.revoke('t9'), false);
        const after = await reopen();
        assert.equal(await after.tokens.byHash('hash-1'), undefined);
        assert.equal((await after.tokens.byHash('hash-2'))?.id, 't2');
        const [t1, t2] = await after.tokens.list();
        assert.ok(t1?.revokedAt);
        assert.equal(t2?.revokedAt, undefined);
      }));

    it('two tokens with one hash are refused', () =>
      withStore(backend, async (store) => {
        await store.tokens.add({ record: record('t1'), tokenHash: 'hash-1' });
        await assert.rejects(store.tokens.add({ record: record('t2'), tokenHash: 'hash-1' }));
        assert.equal((await store.tokens.byHash('hash-1'))?.id, 't1');
      }));
  });
}

/** `AuditStore`. */
export function auditStoreSuite(name: string, backend: StoreBackend): void {
  describe(`${name}: audit log and tree heads`, () => {
    it('entries come back in seq order after a reopen, and a used seq is refused', () =>
      withStore(backend, async (store, reopen) => {
        await store.audit.append({ seq: 0, event: { event: 'run.created', run: 'r1' } });
        await store.audit.append({ seq: 1, event: { event: 'site.enrolled', site: 'site-1' } });
        await assert.rejects(store.audit.append({ seq: 1, event: { event: 'forged' } }));
        await store.audit.append({ seq: 2, event: { event: 'round.started', round: 1 } });
        const after = await reopen();
        assert.deepEqual(await after.audit.entries(), [
          { seq: 0, event: { event: 'run.created', run: 'r1' } },
          { seq: 1, event: { event: 'site.enrolled', site: 'site-1' } },
          { seq: 2, event: { event: 'round.started', round: 1 } },
        ]);
        assert.equal(await after.audit.size(), 3);
      }));

    it('appends a batch all or nothing: a used seq in it stores none of it', () =>
      withStore(backend, async (store, reopen) => {
        await store.audit.appendAll([
          { seq: 0, event: { event: 'run.created', run: 'r1' } },
          { seq: 1, event: { event: 'run.started', run: 'r1' } },
        ]);
        await assert.rejects(
          store.audit.appendAll([
            { seq: 2, event: { event: 'round.started', round: 1 } },
            { seq: 1, event: { event: 'forged' } },
          ]),
        );
        const after = await reopen();
        assert.deepEqual(
          (await after.audit.entries()).map((e) => e.seq),
          [0, 1],
        );
      }));

    it('pages newest first, filtered by event, prefix, site, run and round', () =>
      withStore(backend, async (store) => {
        const events = [
          { event: 'round.started', run: 'r1', round: 1 },
          { event: 'update.received', run: 'r1', round: 1, site: 'site-1' },
          { event: 'update.received', run: 'r1', round: 1, site: 'site-2' },
          { event: 'round.failed', run: 'r1', round: 1 },
          { event: 'allowXlist.applied', run: 'r1', round: 1 },
          { event: 'update.received', run: 'r2', round: 2, site: 'site-1' },
        ];
        for (const [seq, event] of events.entries()) await store.audit.append({ seq, event });
        const seqs = async (filter: Parameters<CoordinatorStore['audit']['page']>[0]) =>
          (await store.audit.page(filter)).entries.map((e) => e.seq);
        assert.deepEqual(await seqs({ limit: 100 }), [5, 4, 3, 2, 1, 0]);
        assert.deepEqual(await seqs({ limit: 2 }), [5, 4]);
        assert.deepEqual(await seqs({ event: 'update.received', limit: 100 }), [5, 2, 1]);
        assert.deepEqual(await seqs({ event: 'round.', limit: 100 }), [3, 0]);
        // A prefix's own wildcard characters match only themselves: allow_list. is not allowXlist.
        assert.deepEqual(await seqs({ event: 'allow_list.', limit: 100 }), []);
        assert.deepEqual(await seqs({ event: 'allowXlist.', limit: 100 }), [4]);
        assert.deepEqual(await seqs({ site: 'site-1', limit: 100 }), [5, 1]);
        assert.deepEqual(await seqs({ run: 'r1', round: 1, event: 'update.', limit: 100 }), [2, 1]);
        assert.deepEqual(await seqs({ round: 2, limit: 100 }), [5]);
        const page = await store.audit.page({ event: 'update.received', before: 5, limit: 1 });
        assert.deepEqual(
          page.entries.map((e) => e.seq),
          [2],
        );
        assert.equal(page.matching, 3, 'matching counts every match, not the page');
        assert.deepEqual((await store.audit.page({ before: 0, limit: 10 })).entries, []);
      }));

    it('tree heads come back in the order added, after a reopen', () =>
      withStore(backend, async (store, reopen) => {
        const head = (size: number, digit: string) => ({
          size,
          root: digit.repeat(64),
          time: new Date(Date.UTC(2026, 0, 1, 0, 0, size)).toISOString(),
          signature: digit.repeat(128),
        });
        await store.audit.addTreeHead(head(5, 'b'));
        await store.audit.addTreeHead(head(2, 'a'));
        const after = await reopen();
        assert.deepEqual(await after.audit.treeHeads(), [head(5, 'b'), head(2, 'a')]);
      }));
  });
}

/** `LeaseStore`: one holder at a time, epochs that grow when the lease changes hands. */
export function leaseStoreSuite(name: string, backend: StoreBackend): void {
  const LONG_MS = 60_000;

  describe(`${name}: leases`, () => {
    it('the first holder takes a lease at epoch 1, and nobody else while it is held', () =>
      withStore(backend, async (store, reopen) => {
        assert.equal(await store.leases.current('conductor'), undefined);
        const before = Date.now();
        const lease = await store.leases.acquire({
          name: 'conductor',
          holder: 'a',
          ttlMs: LONG_MS,
        });
        assert.ok(lease);
        assert.deepEqual([lease.name, lease.holder, lease.epoch], ['conductor', 'a', 1]);
        // The store's clock, not ours, but on one machine they agree within a second.
        assert.ok(lease.expiresAt > before + LONG_MS - 1_000);
        assert.ok(lease.expiresAt < Date.now() + LONG_MS + 1_000);
        const b = { name: 'conductor', holder: 'b', ttlMs: LONG_MS };
        assert.equal(await store.leases.acquire(b), undefined);
        const other = await store.leases.acquire({ ...b, name: 'other' });
        assert.deepEqual(other && [other.holder, other.epoch], ['b', 1], 'leases are by name');
        const after = await reopen();
        assert.deepEqual(await after.leases.current('conductor'), lease);
        assert.equal(await after.leases.acquire(b), undefined);
      }));

    it('a renewal by the holder keeps the epoch and extends the expiry', () =>
      withStore(backend, async (store) => {
        const request = { name: 'conductor', holder: 'a', ttlMs: 1_000 };
        const first = await store.leases.acquire(request);
        await sleep(20);
        const renewed = await store.leases.acquire({ ...request, ttlMs: LONG_MS });
        assert.ok(first && renewed);
        assert.deepEqual([renewed.holder, renewed.epoch], ['a', first.epoch]);
        assert.ok(renewed.expiresAt > first.expiresAt);
        assert.deepEqual(await store.leases.current('conductor'), renewed);
      }));

    it('a lapsed lease goes to the next holder at a larger epoch', () =>
      withStore(backend, async (store) => {
        const first = await store.leases.acquire({ name: 'conductor', holder: 'a', ttlMs: 200 });
        const b = { name: 'conductor', holder: 'b', ttlMs: LONG_MS };
        assert.equal(await store.leases.acquire(b), undefined);
        await sleep(400);
        const second = await store.leases.acquire(b);
        assert.ok(first && second);
        assert.equal(second.holder, 'b');
        assert.ok(second.epoch > first.epoch);
        assert.equal(
          await store.leases.acquire({ name: 'conductor', holder: 'a', ttlMs: LONG_MS }),
          undefined,
          'the old holder cannot renew what it lost',
        );
        assert.deepEqual(await store.leases.current('conductor'), second);
      }));

    it('a release by its holder lets another take the lease at once; by anyone else, not', () =>
      withStore(backend, async (store) => {
        const first = await store.leases.acquire({
          name: 'conductor',
          holder: 'a',
          ttlMs: LONG_MS,
        });
        assert.ok(first);
        const b = { name: 'conductor', holder: 'b', ttlMs: LONG_MS };
        await store.leases.release({ name: 'conductor', holder: 'b', epoch: first.epoch });
        await store.leases.release({ name: 'conductor', holder: 'a', epoch: first.epoch + 1 });
        assert.equal(await store.leases.acquire(b), undefined);
        await store.leases.release({ name: 'conductor', holder: 'a', epoch: first.epoch });
        const second = await store.leases.acquire(b);
        assert.deepEqual(second && [second.holder, second.epoch > first.epoch], ['b', true]);
      }));
  });
}

/** `CoordinatorStore.fence`: a node that lost its lease cannot change runs, updates or the log. */
export function fenceSuite(name: string, backend: StoreBackend): void {
  const LEASE = 'conductor';
  const takeOver = async (store: CoordinatorStore, holder: string, ttlMs = 60_000) => {
    const lease = await store.leases.acquire({ name: LEASE, holder, ttlMs });
    assert.ok(lease, `${holder} takes the lease`);
    return lease;
  };

  /** Every kind of fenced change, each refused; then the store is as it was. */
  async function assertFencedOut(store: CoordinatorStore): Promise<void> {
    const key = { runId: 'r1', round: 1, attempt: 0 };
    const writes: [string, () => Promise<unknown>][] = [
      ['runs.create', () => store.runs.create({ id: 'r2', specHash: 'h2', spec: {} })],
      ['runs.setState', () => store.runs.setState({ runId: 'r1', state: 'paused' })],
      ['runs.complete', () => store.runs.complete({ runId: 'r1', report: {}, state: 'complete' })],
      ['runs.openRound', () => store.runs.openRound({ ...key, attempt: 1, participants: [] })],
      [
        'runs.failRound',
        () => store.runs.failRound({ ...key, outcome: { answered: 0, stragglers: 1, dropped: 0 } }),
      ],
      [
        'runs.commitRound',
        () =>
          store.runs.commitRound({
            ...key,
            summary: summary(1, 1),
            model: { version: 1, modelHash: HASH_1 },
          }),
      ],
      ['updates.save', () => store.updates.save({ ...key, update: update('site-2') })],
      ['audit.append', () => store.audit.append({ seq: 1, event: { event: 'late' } })],
      ['audit.appendAll', () => store.audit.appendAll([{ seq: 1, event: { event: 'late' } }])],
      [
        'audit.addTreeHead',
        () =>
          store.audit.addTreeHead({
            size: 1,
            root: 'a'.repeat(64),
            time: new Date().toISOString(),
            signature: 'a'.repeat(128),
          }),
      ],
    ];
    for (const [what, write] of writes) await assert.rejects(write(), isFenced, what);
    const run = await store.runs.get('r1');
    assert.ok(run);
    assert.deepEqual(
      [run.state, run.nextRound, run.attempt, run.modelVersion],
      ['waiting-for-sites', 1, 0, 0],
    );
    assert.equal(await store.runs.get('r2'), undefined);
    assert.deepEqual(await store.runs.openRoundOf(run), {
      round: 1,
      attempt: 0,
      participants: ['site-1', 'site-2'],
      updates: [update('site-1')],
    });
    assert.equal((await store.runs.roundAttempts('r1')).length, 1);
    await assert.rejects(store.models.get({ runId: 'r1', version: 1 }), isUnavailable);
    assert.deepEqual(await store.audit.entries(), [{ seq: 0, event: { event: 'round.started' } }]);
    assert.deepEqual(await store.audit.treeHeads(), []);
  }

  /** Fenced at `holder`'s lease: a run with round 1 open, an update and an audit entry. */
  async function fencedWithOpenRound(store: CoordinatorStore, holder: string) {
    const lease = await takeOver(store, holder);
    store.fence({ name: LEASE, epoch: lease.epoch });
    await startWithOpenRound(store, ['site-1', 'site-2']);
    await store.updates.save({ runId: 'r1', round: 1, attempt: 0, update: update('site-1') });
    await store.audit.append({ seq: 0, event: { event: 'round.started' } });
    return lease;
  }

  describe(`${name}: the fence`, () => {
    it('a store fenced at the current epoch writes; refused once another holder took over', () =>
      withStore(backend, async (store) => {
        const lease = await fencedWithOpenRound(store, 'a');
        await store.leases.release({ name: LEASE, holder: 'a', epoch: lease.epoch });
        await takeOver(store, 'b');
        await assertFencedOut(store);
      }));

    it('a lease that lapsed and was taken fences out its old holder', () =>
      withStore(backend, async (store) => {
        await fencedWithOpenRound(store, 'a');
        // Renewed to a short life: it lapses unless renewed again, and b takes it.
        await takeOver(store, 'a', 200);
        await sleep(400);
        await takeOver(store, 'b');
        await assertFencedOut(store);
      }));

    it('a fence lifted, or moved to the new epoch, lets writes through again', () =>
      withStore(backend, async (store) => {
        const lease = await fencedWithOpenRound(store, 'a');
        await store.leases.release({ name: LEASE, holder: 'a', epoch: lease.epoch });
        const successor = await takeOver(store, 'b');
        await assert.rejects(store.audit.append({ seq: 1, event: { event: 'x' } }), isFenced);
        store.fence(undefined);
        await store.audit.append({ seq: 1, event: { event: 'unfenced' } });
        store.fence({ name: LEASE, epoch: successor.epoch });
        await store.audit.append({ seq: 2, event: { event: 'successor' } });
        await store.updates.save({ runId: 'r1', round: 1, attempt: 0, update: update('site-2') });
        await store.runs.commitRound({
          runId: 'r1',
          round: 1,
          attempt: 0,
          summary: summary(1, 2),
          model: { version: 1, modelHash: HASH_1 },
        });
        assert.deepEqual(
          (await store.audit.entries()).map((e) => e.seq),
          [0, 1, 2],
        );
        assert.equal((await store.runs.get('r1'))?.modelVersion, 1);
      }));

    it('a fence at a lease nobody holds refuses writes', () =>
      withStore(backend, async (store) => {
        store.fence({ name: 'never-taken', epoch: 1 });
        await assert.rejects(store.audit.append({ seq: 0, event: { event: 'x' } }), isFenced);
        assert.equal(await store.audit.size(), 0);
      }));
  });
}

/** Writes started together, as a busy coordinator starts them: each settles on its own. */
export function concurrencySuite(name: string, backend: StoreBackend): void {
  describe(`${name}: concurrent writes`, () => {
    it('200 audit appends started together, under a fence, are all stored', () =>
      withStore(backend, async (store) => {
        const lease = await store.leases.acquire({ name: 'c', holder: 'a', ttlMs: 60_000 });
        store.fence({ name: 'c', epoch: lease!.epoch });
        const seqs = Array.from({ length: 200 }, (_, seq) => seq);
        await Promise.all(
          seqs.map((seq) => store.audit.append({ seq, event: { event: 'tick', n: seq } })),
        );
        assert.equal(await store.audit.size(), 200);
        assert.deepEqual(
          (await store.audit.entries()).map((e) => [e.seq, e.event.n]),
          seqs.map((seq) => [seq, seq]),
        );
      }));

    it('updates of many sites saved together are all stored', () =>
      withStore(backend, async (store) => {
        const sites = Array.from({ length: 40 }, (_, i) => `site-${i}`);
        await startWithOpenRound(store, sites);
        await Promise.all(
          sites.map((site, i) =>
            store.updates.save({ runId: 'r1', round: 1, attempt: 0, update: update(site, [i]) }),
          ),
        );
        const open = await store.runs.openRoundOf((await store.runs.get('r1'))!);
        assert.deepEqual(open?.updates.map((u) => u.site).sort(), [...sites].sort());
        for (const u of open?.updates ?? []) {
          assert.deepEqual(u, update(u.site, [sites.indexOf(u.site)]));
        }
      }));

    it('one failing write among concurrent ones is refused alone; the others are stored', () =>
      withStore(backend, async (store) => {
        const sites = Array.from({ length: 20 }, (_, i) => `site-${i}`);
        await startWithOpenRound(store, sites);
        const saves = [...sites, 'site-7'].map((site, i) =>
          store.updates.save({ runId: 'r1', round: 1, attempt: 0, update: update(site, [i]) }),
        );
        const appends = [...Array.from({ length: 30 }, (_, seq) => seq), 12].map((seq, i) =>
          store.audit.append({ seq, event: { event: 'tick', i } }),
        );
        const saved = await Promise.allSettled(saves);
        const appended = await Promise.allSettled(appends);
        const refused = (results: PromiseSettledResult<void>[]) =>
          results.flatMap((r, i) => (r.status === 'rejected' ? [i] : []));
        const [refusedSave] = refused(saved);
        const [refusedAppend] = refused(appended);
        assert.equal(refused(saved).length, 1);
        assert.equal(refused(appended).length, 1);
        // Whichever of the two same-keyed writes came second is the one refused.
        assert.ok(refusedSave === 7 || refusedSave === 20);
        assert.ok(refusedAppend === 12 || refusedAppend === 30);
        const open = await store.runs.openRoundOf((await store.runs.get('r1'))!);
        assert.equal(open?.updates.length, 20);
        const site7 = open?.updates.find((u) => u.site === 'site-7');
        assert.deepEqual(site7, update('site-7', [refusedSave === 7 ? 20 : 7]));
        const entries = await store.audit.entries();
        assert.equal(entries.length, 30);
        assert.equal(entries[12]?.event.i, refusedAppend === 12 ? 30 : 12);
      }));
  });
}

/** Every part's suite: what a complete backend must pass. */
export function storeConformanceSuite(name: string, backend: StoreBackend): void {
  runStoreSuite(name, backend);
  updateStoreSuite(name, backend);
  modelStoreSuite(name, backend);
  siteStoreSuite(name, backend);
  tokenStoreSuite(name, backend);
  auditStoreSuite(name, backend);
  leaseStoreSuite(name, backend);
  fenceSuite(name, backend);
  concurrencySuite(name, backend);
}
