import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LEADER_LEASE, Leadership } from '../../coordinator/nodes/leadership.js';
import { openSqliteStore } from '../../coordinator/store/sqlite/open-sqlite-store.js';
import type { CoordinatorStore } from '../../coordinator/store/store.js';
import { FedistillError, loadSodium, type Sodium } from '../../protocol/index.js';

const TTL_MS = 300;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Holds the event loop, as a long synchronous task (a teacher's training) would. */
function stall(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until);
}

const isFenced = (error: unknown): boolean =>
  error instanceof FedistillError && error.code === 'store.fenced';

describe('leadership over a shared store', () => {
  let dir: string;
  let sodium: Sodium;
  let file: string;
  let stores: CoordinatorStore[];

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'fedistill-leader-'));
    sodium = await loadSodium();
  });
  after(() => rm(dir, { recursive: true, force: true }));

  /** Two processes' stores on one database file, as two coordinators on one machine. */
  const open = (name: string): [CoordinatorStore, CoordinatorStore] => {
    file = path.join(dir, name, 'coordinator.db');
    stores = [openSqliteStore({ sodium, file }), openSqliteStore({ sodium, file })];
    return stores as [CoordinatorStore, CoordinatorStore];
  };
  const close = () => Promise.all(stores.map((s) => s.close()));

  it('a second process waits until the leader releases, then leads at the next epoch; the first can no longer write', async () => {
    const [a, b] = open('release');
    try {
      const first = await Leadership.take(a, { ttlMs: TTL_MS, holder: 'a' });
      let bLeads = false;
      const second = Leadership.take(b, { ttlMs: TTL_MS, holder: 'b' }).then((l) => {
        bLeads = true;
        return l;
      });
      // Renewed every third of its time, the lease never lapses while the first holds it.
      await sleep(3 * TTL_MS);
      assert.equal(bLeads, false, 'the standby took a lease that was being renewed');
      await a.runs.create({ id: 'r1', specHash: 'h', spec: {} });
      await first.release();
      const next = await second;
      assert.equal(next.epoch, first.epoch + 1);
      await assert.rejects(a.runs.setState({ runId: 'r1', state: 'cancelled' }), isFenced);
      await b.runs.setState({ runId: 'r1', state: 'cancelled' });
      assert.equal((await b.runs.get('r1'))?.state, 'cancelled');
      await next.release();
    } finally {
      await close();
    }
  });

  it('a leader that stalls past its lease while nobody else wants it takes it again and writes on', async () => {
    const [a] = open('unclaimed');
    try {
      const leader = await Leadership.take(a, { ttlMs: TTL_MS, holder: 'a' });
      const epoch = leader.epoch;
      stall(2 * TTL_MS);
      await sleep(TTL_MS);
      // Taken again at the next epoch, fenced there: nobody held it in between.
      assert.equal(leader.epoch, epoch + 1);
      assert.equal((await a.leases.current(LEADER_LEASE))?.epoch, epoch + 1);
      await a.runs.create({ id: 'r1', specHash: 'h', spec: {} });
      let lost = false;
      void leader.lost.then(() => (lost = true));
      await sleep(TTL_MS);
      assert.equal(lost, false);
      await leader.release();
    } finally {
      await close();
    }
  });

  it('a leader that stalls past its lease while another process takes it is deposed: told through lost, and fenced', async () => {
    const [a, b] = open('deposed');
    try {
      const leader = await Leadership.take(a, { ttlMs: TTL_MS, holder: 'a' });
      stall(2 * TTL_MS);
      // Asked before the stalled leader's overdue renewal can run, so it commits first.
      const taken = await b.leases.acquire({ name: LEADER_LEASE, holder: 'b', ttlMs: 20 * TTL_MS });
      assert.equal(taken?.epoch, leader.epoch + 1);
      b.fence({ name: LEADER_LEASE, epoch: taken.epoch });
      const reason = await leader.lost;
      assert.match(reason.message, /another process took the lease/);
      await assert.rejects(a.runs.create({ id: 'r1', specHash: 'h', spec: {} }), isFenced);
      assert.equal(await b.runs.get('r1'), undefined);
      await b.runs.create({ id: 'r1', specHash: 'h', spec: {} });
    } finally {
      await close();
    }
  });
});
