import assert from 'node:assert/strict';
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
      store.close();
      store = await place.open();
      return store;
    });
  } finally {
    store.close();
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

/** A started run `r1` (model version 0 stored), round 1 open to the given sites. */
function startWithOpenRound(store: CoordinatorStore, participants: readonly string[]): void {
  store.runs.create({ id: 'r1', specHash: 'h1', spec: { rounds: 3 } });
  store.runs.start({ runId: 'r1', initial: { version: 0, modelHash: HASH_0 } });
  store.runs.openRound({ runId: 'r1', round: 1, attempt: 0, participants });
}

const isUnavailable = (error: unknown): boolean =>
  error instanceof FedistillError && error.code === 'store.unavailable';

/** `RunStore`, with the model versions and updates its transactions write. */
export function runStoreSuite(name: string, backend: StoreBackend): void {
  describe(`${name}: runs and rounds`, () => {
    it('a created run is at round 1, attempt 0, model version 0, and not yet active', () =>
      withStore(backend, (store) => {
        store.runs.create({ id: 'r1', specHash: 'h1', spec: { rounds: 3, note: 'x' } });
        const run = store.runs.get('r1');
        assert.ok(run);
        assert.deepEqual(
          [run.specHash, run.spec, run.state, run.nextRound, run.attempt, run.modelVersion],
          ['h1', { rounds: 3, note: 'x' }, 'created', 1, 0, 0],
        );
        assert.equal(run.lastClosedRound, 0);
        assert.equal(store.runs.active(), undefined);
        assert.equal(store.runs.get('r2'), undefined);
        assert.equal(store.runs.report('r1'), undefined);
      }));

    it('lists runs newest first', () =>
      withStore(backend, (store) => {
        for (const id of ['a', 'b', 'c']) store.runs.create({ id, specHash: id, spec: {} });
        assert.deepEqual(
          store.runs.list().map((r) => r.id),
          ['c', 'b', 'a'],
        );
      }));

    it('a started run has its model version 0 stored, waits for sites and is the active run', () =>
      withStore(backend, (store) => {
        store.runs.create({ id: 'r1', specHash: 'h1', spec: {} });
        store.runs.start({
          runId: 'r1',
          initial: { version: 0, modelHash: HASH_0, optimizerHash: HASH_1 },
        });
        assert.equal(store.runs.get('r1')?.state, 'waiting-for-sites');
        assert.equal(store.runs.active()?.id, 'r1');
        assert.deepEqual(store.models.get({ runId: 'r1', version: 0 }), {
          version: 0,
          modelHash: HASH_0,
          optimizerHash: HASH_1,
        });
      }));

    it('a paused run stays active; a cancelled or stopped one does not', () =>
      withStore(backend, (store) => {
        store.runs.create({ id: 'r1', specHash: 'h1', spec: {} });
        store.runs.start({ runId: 'r1', initial: { version: 0, modelHash: HASH_0 } });
        store.runs.setState({ runId: 'r1', state: 'paused' });
        assert.equal(store.runs.active()?.state, 'paused');
        store.runs.setState({ runId: 'r1', state: 'cancelled' });
        assert.equal(store.runs.get('r1')?.state, 'cancelled');
        assert.equal(store.runs.active(), undefined);
        store.runs.setState({ runId: 'r1', state: 'stopped-by-budget' });
        assert.equal(store.runs.active(), undefined);
      }));

    it('an open round is resumed after a reopen with its participants and updates in arrival order', () =>
      withStore(backend, async (store, reopen) => {
        startWithOpenRound(store, ['site-1', 'site-2', 'site-3']);
        store.updates.save({ runId: 'r1', round: 1, attempt: 0, update: update('site-3', [9]) });
        store.updates.save({ runId: 'r1', round: 1, attempt: 0, update: update('site-1', [7, 8]) });
        const after = await reopen();
        const run = after.runs.active();
        assert.ok(run);
        const open = after.runs.openRoundOf(run);
        assert.deepEqual(open, {
          round: 1,
          attempt: 0,
          participants: ['site-1', 'site-2', 'site-3'],
          updates: [update('site-3', [9]), update('site-1', [7, 8])],
        });
      }));

    it('an attempt is opened once', () =>
      withStore(backend, (store) => {
        startWithOpenRound(store, ['site-1']);
        assert.throws(() =>
          store.runs.openRound({ runId: 'r1', round: 1, attempt: 0, participants: ['site-2'] }),
        );
        assert.deepEqual(store.runs.openRoundOf(store.runs.get('r1')!)?.participants, ['site-1']);
      }));

    it('a failed attempt keeps its outcome, is not resumed, and the run moves to the next attempt', () =>
      withStore(backend, async (store, reopen) => {
        startWithOpenRound(store, ['site-1', 'site-2']);
        store.updates.save({ runId: 'r1', round: 1, attempt: 0, update: update('site-1') });
        const outcome = { answered: 1, stragglers: 1, dropped: 0 };
        store.runs.failRound({ runId: 'r1', round: 1, attempt: 0, outcome });
        const after = await reopen();
        const run = after.runs.get('r1')!;
        assert.deepEqual([run.nextRound, run.attempt, run.modelVersion], [1, 1, 0]);
        assert.equal(after.runs.openRoundOf(run), undefined);
        const [failed] = after.runs.roundAttempts('r1');
        assert.deepEqual([failed?.round, failed?.attempt, failed?.state], [1, 0, 'failed']);
        assert.deepEqual(failed?.summary, outcome);
        assert.equal(failed?.participants, 2);
        assert.ok(failed?.closedAt);
        assert.deepEqual(after.runs.closedRounds('r1'), []);
        after.runs.openRound({ runId: 'r1', round: 1, attempt: 1, participants: ['site-2'] });
        assert.deepEqual(after.runs.openRoundOf(after.runs.get('r1')!), {
          round: 1,
          attempt: 1,
          participants: ['site-2'],
          updates: [],
        });
      }));

    it('a committed round stores its model version, moves the run on and keeps its summary', () =>
      withStore(backend, async (store, reopen) => {
        startWithOpenRound(store, ['site-1', 'site-2']);
        store.updates.save({ runId: 'r1', round: 1, attempt: 0, update: update('site-1') });
        store.runs.commitRound({
          runId: 'r1',
          round: 1,
          attempt: 0,
          summary: summary(1, 1),
          model: { version: 1, modelHash: HASH_1, maskHash: HASH_0 },
        });
        const after = await reopen();
        const run = after.runs.get('r1')!;
        assert.deepEqual(
          [run.nextRound, run.attempt, run.lastClosedRound, run.modelVersion],
          [2, 0, 1, 1],
        );
        assert.equal(after.runs.openRoundOf(run), undefined);
        assert.deepEqual(after.models.get({ runId: 'r1', version: 1 }), {
          version: 1,
          modelHash: HASH_1,
          maskHash: HASH_0,
        });
        assert.deepEqual(after.runs.closedRounds('r1'), [summary(1, 1)]);
        const attempts = after.runs.roundAttempts('r1');
        assert.deepEqual(
          attempts.map((a) => [a.round, a.attempt, a.state]),
          [[1, 0, 'closed']],
        );
        assert.deepEqual(attempts[0]?.summary, summary(1, 1));
      }));

    it('a commit that cannot store its model changes nothing: the round stays open', () =>
      withStore(backend, (store) => {
        startWithOpenRound(store, ['site-1']);
        store.updates.save({ runId: 'r1', round: 1, attempt: 0, update: update('site-1') });
        // Version 0 is stored already (by start), so this commit's model write fails last.
        assert.throws(() =>
          store.runs.commitRound({
            runId: 'r1',
            round: 1,
            attempt: 0,
            summary: summary(1, 1),
            model: { version: 0, modelHash: HASH_1 },
          }),
        );
        const run = store.runs.get('r1')!;
        assert.deepEqual([run.nextRound, run.lastClosedRound, run.modelVersion], [1, 0, 0]);
        assert.deepEqual(store.runs.openRoundOf(run)?.updates, [update('site-1')]);
        assert.deepEqual(store.runs.closedRounds('r1'), []);
        assert.equal(store.models.get({ runId: 'r1', version: 0 }).modelHash, HASH_0);
      }));

    it('a complete run keeps its report and is no longer active', () =>
      withStore(backend, async (store, reopen) => {
        store.runs.create({ id: 'r1', specHash: 'h1', spec: {} });
        store.runs.start({ runId: 'r1', initial: { version: 0, modelHash: HASH_0 } });
        store.runs.complete({
          runId: 'r1',
          report: { accuracy: 0.9, rounds: [1, 2] },
          state: 'complete',
        });
        const after = await reopen();
        assert.equal(after.runs.get('r1')?.state, 'complete');
        assert.deepEqual(after.runs.report('r1'), { accuracy: 0.9, rounds: [1, 2] });
        assert.equal(after.runs.active(), undefined);
      }));

    it("a run's traffic sums every process that served it, from the first one's start", () =>
      withStore(backend, async (store, reopen) => {
        store.runs.create({ id: 'r1', specHash: 'h1', spec: {} });
        store.runs.create({ id: 'r2', specHash: 'h2', spec: {} });
        assert.equal(store.runs.traffic('r1'), undefined);
        const first = { runId: 'r1', process: 'p1', startedAt: 1_000 };
        store.runs.recordTraffic({ ...first, bytesUp: 10, bytesDown: 20 });
        // A later checkpoint of the same process replaces its figures; it does not add to them.
        store.runs.recordTraffic({ ...first, bytesUp: 15, bytesDown: 40 });
        const after = await reopen();
        after.runs.recordTraffic({
          runId: 'r1',
          process: 'p2',
          startedAt: 5_000,
          bytesUp: 7,
          bytesDown: 9,
        });
        after.runs.recordTraffic({
          runId: 'r2',
          process: 'p2',
          startedAt: 500,
          bytesUp: 1,
          bytesDown: 1,
        });
        assert.deepEqual(after.runs.traffic('r1'), {
          startedAt: 1_000,
          bytesUp: 22,
          bytesDown: 49,
        });
        assert.deepEqual(after.runs.traffic('r2'), { startedAt: 500, bytesUp: 1, bytesDown: 1 });
      }));
  });
}

/** `UpdateStore`, on rounds opened and closed through `RunStore`. */
export function updateStoreSuite(name: string, backend: StoreBackend): void {
  describe(`${name}: updates`, () => {
    it('a second update of one site to one attempt is refused and the first is kept', () =>
      withStore(backend, (store) => {
        startWithOpenRound(store, ['site-1']);
        store.updates.save({ runId: 'r1', round: 1, attempt: 0, update: update('site-1', [1]) });
        assert.throws(() =>
          store.updates.save({ runId: 'r1', round: 1, attempt: 0, update: update('site-1', [2]) }),
        );
        assert.deepEqual(store.runs.openRoundOf(store.runs.get('r1')!)?.updates, [
          update('site-1', [1]),
        ]);
      }));

    it('an update to an attempt that was never opened is refused', () =>
      withStore(backend, (store) => {
        startWithOpenRound(store, ['site-1']);
        assert.throws(() =>
          store.updates.save({ runId: 'r1', round: 2, attempt: 0, update: update('site-1') }),
        );
      }));

    it("each site's last round counts closed rounds only, after the round asked", () =>
      withStore(backend, (store) => {
        startWithOpenRound(store, ['site-1', 'site-2', 'site-3']);
        const save = (round: number, attempt: number, site: string) =>
          store.updates.save({ runId: 'r1', round, attempt, update: update(site) });
        // Round 1 fails on attempt 0 (site-3 answered) and closes on attempt 1.
        save(1, 0, 'site-3');
        store.runs.failRound({
          runId: 'r1',
          round: 1,
          attempt: 0,
          outcome: { answered: 1, stragglers: 2, dropped: 0 },
        });
        store.runs.openRound({ runId: 'r1', round: 1, attempt: 1, participants: ['site-1'] });
        save(1, 1, 'site-1');
        save(1, 1, 'site-2');
        store.runs.commitRound({
          runId: 'r1',
          round: 1,
          attempt: 1,
          summary: summary(1, 2),
          model: { version: 1, modelHash: HASH_1 },
        });
        store.runs.openRound({ runId: 'r1', round: 2, attempt: 0, participants: ['site-1'] });
        save(2, 0, 'site-1');
        store.runs.commitRound({
          runId: 'r1',
          round: 2,
          attempt: 0,
          summary: summary(2, 1),
          model: { version: 2, modelHash: HASH_1 },
        });
        // Round 3 is open: its update does not count yet.
        store.runs.openRound({ runId: 'r1', round: 3, attempt: 0, participants: ['site-2'] });
        save(3, 0, 'site-2');
        const sorted = (m: Map<string, number>) => [...m].sort();
        assert.deepEqual(sorted(store.updates.lastRoundBySite({ runId: 'r1' })), [
          ['site-1', 2],
          ['site-2', 1],
        ]);
        assert.deepEqual(sorted(store.updates.lastRoundBySite({ runId: 'r1', afterRound: 1 })), [
          ['site-1', 2],
        ]);
        assert.deepEqual(sorted(store.updates.lastRoundBySite({ runId: 'r2' })), []);
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

    it('a model version the run does not have is refused with store.unavailable', () =>
      withStore(backend, (store) => {
        store.runs.create({ id: 'r1', specHash: 'h1', spec: {} });
        assert.throws(() => store.models.get({ runId: 'r1', version: 0 }), isUnavailable);
        store.runs.start({ runId: 'r1', initial: { version: 0, modelHash: HASH_0 } });
        assert.throws(() => store.models.get({ runId: 'r1', version: 1 }), isUnavailable);
        assert.throws(() => store.models.get({ runId: 'r2', version: 0 }), isUnavailable);
      }));
  });
}

/** `SiteStore`. */
export function siteStoreSuite(name: string, backend: StoreBackend): void {
  describe(`${name}: sites`, () => {
    it('a sync adds new sites, changes keys and states, and keeps sites it does not name', () =>
      withStore(backend, async (store, reopen) => {
        store.sites.sync([
          { name: 'site-b', publicKey: 'kb', state: 'enrolled' },
          { name: 'site-a', publicKey: 'ka', state: 'enrolled' },
        ]);
        store.sites.sync([
          { name: 'site-a', publicKey: 'ka2', state: 'revoked' },
          { name: 'site-c', publicKey: 'kc', state: 'enrolled' },
        ]);
        const after = await reopen();
        assert.deepEqual(after.sites.list(), [
          { name: 'site-a', publicKey: 'ka2', state: 'revoked' },
          { name: 'site-b', publicKey: 'kb', state: 'enrolled' },
          { name: 'site-c', publicKey: 'kc', state: 'enrolled' },
        ]);
      }));

    it('a connection is recorded on that site only; an unknown name adds nothing', () =>
      withStore(backend, (store) => {
        store.sites.sync([
          { name: 'site-a', publicKey: 'ka', state: 'enrolled' },
          { name: 'site-b', publicKey: 'kb', state: 'enrolled' },
        ]);
        const before = new Date().toISOString();
        store.sites.markConnected('site-a');
        store.sites.markConnected('site-z');
        const [a, b, ...rest] = store.sites.list();
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
      withStore(backend, (store) => {
        const before = new Date().toISOString();
        store.tokens.add({ record: record('t1'), tokenHash: 'hash-1' });
        const found = store.tokens.byHash('hash-1');
        assert.deepEqual(found && [found.id, found.name, found.role, found.kind], [
          't1',
          'holder-of-t1',
          'operator',
          'api',
        ]);
        assert.ok(found && found.createdAt >= before);
        assert.equal(store.tokens.byHash('t1'), undefined, 'an id is not a hash');
        assert.equal(store.tokens.byHash('hash-2'), undefined);
      }));

    it('a token is found until it expires, not after', () =>
      withStore(backend, (store) => {
        const later = inOneHour();
        store.tokens.add({ record: record('live', later), tokenHash: 'hash-live' });
        store.tokens.add({ record: record('old', aMinuteAgo()), tokenHash: 'hash-old' });
        assert.equal(store.tokens.byHash('hash-live')?.expiresAt, later);
        assert.equal(store.tokens.byHash('hash-old'), undefined);
        assert.deepEqual(
          store.tokens.list().map((t) => t.id),
          ['live', 'old'],
          'an expired token is still listed',
        );
      }));

    it('a revoked token is not found, and is revoked once', () =>
      withStore(backend, async (store, reopen) => {
        store.tokens.add({ record: record('t1'), tokenHash: 'hash-1' });
        store.tokens.add({ record: record('t2'), tokenHash: 'hash-2' });
        assert.equal(store.tokens.revoke('t1'), true);
        assert.equal(store.tokens.revoke('t1'), false);
        assert.equal(store.tokens.revoke('t9'), false);
        const after = await reopen();
        assert.equal(after.tokens.byHash('hash-1'), undefined);
        assert.equal(after.tokens.byHash('hash-2')?.id, 't2');
        const [t1, t2] = after.tokens.list();
        assert.ok(t1?.revokedAt);
        assert.equal(t2?.revokedAt, undefined);
      }));

    it('two tokens with one hash are refused', () =>
      withStore(backend, (store) => {
        store.tokens.add({ record: record('t1'), tokenHash: 'hash-1' });
        assert.throws(() => store.tokens.add({ record: record('t2'), tokenHash: 'hash-1' }));
        assert.equal(store.tokens.byHash('hash-1')?.id, 't1');
      }));
  });
}

/** `AuditStore`. */
export function auditStoreSuite(name: string, backend: StoreBackend): void {
  describe(`${name}: audit log and tree heads`, () => {
    it('entries come back in seq order after a reopen, and a used seq is refused', () =>
      withStore(backend, async (store, reopen) => {
        store.audit.append({ seq: 0, event: { event: 'run.created', run: 'r1' } });
        store.audit.append({ seq: 1, event: { event: 'site.enrolled', site: 'site-1' } });
        assert.throws(() => store.audit.append({ seq: 1, event: { event: 'forged' } }));
        store.audit.append({ seq: 2, event: { event: 'round.started', round: 1 } });
        const after = await reopen();
        assert.deepEqual(after.audit.entries(), [
          { seq: 0, event: { event: 'run.created', run: 'r1' } },
          { seq: 1, event: { event: 'site.enrolled', site: 'site-1' } },
          { seq: 2, event: { event: 'round.started', round: 1 } },
        ]);
        assert.equal(after.audit.size(), 3);
      }));

    it('appends a batch all or nothing: a used seq in it stores none of it', () =>
      withStore(backend, async (store, reopen) => {
        store.audit.appendAll([
          { seq: 0, event: { event: 'run.created', run: 'r1' } },
          { seq: 1, event: { event: 'run.started', run: 'r1' } },
        ]);
        assert.throws(() =>
          store.audit.appendAll([
            { seq: 2, event: { event: 'round.started', round: 1 } },
            { seq: 1, event: { event: 'forged' } },
          ]),
        );
        const after = await reopen();
        assert.deepEqual(
          after.audit.entries().map((e) => e.seq),
          [0, 1],
        );
      }));

    it('pages newest first, filtered by event, prefix, site, run and round', () =>
      withStore(backend, (store) => {
        const events = [
          { event: 'round.started', run: 'r1', round: 1 },
          { event: 'update.received', run: 'r1', round: 1, site: 'site-1' },
          { event: 'update.received', run: 'r1', round: 1, site: 'site-2' },
          { event: 'round.failed', run: 'r1', round: 1 },
          { event: 'allowXlist.applied', run: 'r1', round: 1 },
          { event: 'update.received', run: 'r2', round: 2, site: 'site-1' },
        ];
        events.forEach((event, seq) => store.audit.append({ seq, event }));
        const seqs = (filter: Parameters<CoordinatorStore['audit']['page']>[0]) =>
          store.audit.page(filter).entries.map((e) => e.seq);
        assert.deepEqual(seqs({ limit: 100 }), [5, 4, 3, 2, 1, 0]);
        assert.deepEqual(seqs({ limit: 2 }), [5, 4]);
        assert.deepEqual(seqs({ event: 'update.received', limit: 100 }), [5, 2, 1]);
        assert.deepEqual(seqs({ event: 'round.', limit: 100 }), [3, 0]);
        // A prefix's own wildcard characters match only themselves: allow_list. is not allowXlist.
        assert.deepEqual(seqs({ event: 'allow_list.', limit: 100 }), []);
        assert.deepEqual(seqs({ event: 'allowXlist.', limit: 100 }), [4]);
        assert.deepEqual(seqs({ site: 'site-1', limit: 100 }), [5, 1]);
        assert.deepEqual(seqs({ run: 'r1', round: 1, event: 'update.', limit: 100 }), [2, 1]);
        assert.deepEqual(seqs({ round: 2, limit: 100 }), [5]);
        const page = store.audit.page({ event: 'update.received', before: 5, limit: 1 });
        assert.deepEqual(
          page.entries.map((e) => e.seq),
          [2],
        );
        assert.equal(page.matching, 3, 'matching counts every match, not the page');
        assert.deepEqual(store.audit.page({ before: 0, limit: 10 }).entries, []);
      }));

    it('tree heads come back in the order added, after a reopen', () =>
      withStore(backend, async (store, reopen) => {
        const head = (size: number, digit: string) => ({
          size,
          root: digit.repeat(64),
          time: new Date(Date.UTC(2026, 0, 1, 0, 0, size)).toISOString(),
          signature: digit.repeat(128),
        });
        store.audit.addTreeHead(head(5, 'b'));
        store.audit.addTreeHead(head(2, 'a'));
        const after = await reopen();
        assert.deepEqual(after.audit.treeHeads(), [head(5, 'b'), head(2, 'a')]);
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
}
