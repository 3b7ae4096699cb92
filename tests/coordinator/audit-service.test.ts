import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { AuditService } from '../../coordinator/audit/audit.service.js';
import type { CoordinatorSetup } from '../../coordinator/coordinator-setup.js';
import { CoordinatorEvents } from '../../coordinator/events/coordinator-events.js';
import { openSqliteStore } from '../../coordinator/store/sqlite/open-sqlite-store.js';
import type { CoordinatorStore } from '../../coordinator/store/store.js';
import { loadSodium } from '../../protocol/index.js';

const SAMPLE_MS = 100;

async function withAudit(
  test: (audit: AuditService, store: CoordinatorStore, events: CoordinatorEvents) => Promise<void>,
): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'fedistill-audit-'));
  const sodium = await loadSodium();
  const store = openSqliteStore({ sodium, file: path.join(dir, 'coordinator.db') });
  const keys = sodium.crypto_sign_keypair();
  const setup = {
    sodium,
    identity: { publicKey: keys.publicKey, privateKey: keys.privateKey },
    config: { limits: { refusalSampleMs: SAMPLE_MS } },
  } as unknown as CoordinatorSetup;
  const events = new CoordinatorEvents();
  try {
    const audit = new AuditService(setup, store, events);
    await audit.onModuleInit();
    await test(audit, store, events);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

describe('the audit service', () => {
  it('commits the appends of one tick in one transaction, and answers only after it', () =>
    withAudit(async (audit, store) => {
      const batches: number[] = [];
      const appendAll = store.audit.appendAll.bind(store.audit);
      store.audit.appendAll = (entries) => {
        batches.push(entries.length);
        return appendAll(entries);
      };
      const answers = [1, 2, 3].map((n) => audit.record({ event: 'test.event', n }));
      assert.equal(await store.audit.size(), 0, 'committed within the tick');
      const sizeAtAnswer = await answers[0]!.then(() => store.audit.size());
      assert.equal(sizeAtAnswer, 3);
      assert.deepEqual(await Promise.all(answers), [0, 1, 2]);
      assert.deepEqual(batches, [3]);
    }));

  it('numbers a batch the store refused from what the store holds: no gap, nothing lost after', () =>
    withAudit(async (audit, store) => {
      await audit.record({ event: 'test.first' });
      const appendAll = store.audit.appendAll.bind(store.audit);
      let refuse = true;
      store.audit.appendAll = (entries) => {
        if (!refuse) return appendAll(entries);
        refuse = false;
        return Promise.reject(new Error('disk full'));
      };
      await assert.rejects(audit.record({ event: 'test.refused' }), /disk full/);
      assert.equal(await audit.record({ event: 'test.after' }), 1);
      const { entries } = await audit.export();
      assert.deepEqual(
        entries.map((e) => [e.seq, e.event['event']]),
        [
          [0, 'test.first'],
          [1, 'test.after'],
        ],
      );
    }));

  it('waits for what is pending before a read, so the log and the tree agree', () =>
    withAudit(async (audit) => {
      void audit.record({ event: 'test.event' });
      assert.equal((await audit.page({ limit: 10 })).size, 1);
      assert.equal((await audit.signHead()).size, 1);
    }));

  it('samples unauthenticated refusals: one entry per kind and code per window, with the count', () =>
    withAudit(async (audit, store, events) => {
      for (let i = 0; i < 500; i += 1) {
        events.emit('unauthenticatedRefusal', { kind: 'api', code: 'auth.missing_token' });
      }
      events.emit('unauthenticatedRefusal', { kind: 'handshake', code: 'handshake.timeout' });
      assert.equal(await store.audit.size(), 0);
      await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS * 2));
      const entries = (await audit.export()).entries.map((e) => e.event);
      assert.deepEqual(
        entries.map(({ kind, code, count }) => ({ kind, code, count })),
        [
          { kind: 'api', code: 'auth.missing_token', count: 500 },
          { kind: 'handshake', code: 'handshake.timeout', count: 1 },
        ],
      );
    }));

  it('writes one session.refused entry per refusal, a frame-level one included', () =>
    withAudit(async (audit, _store, events) => {
      const session = { peer: 'site-1', authenticated: true, outcome: 'refused' } as const;
      // What the gateway records for a frame that does not open: the frame, then the refusal.
      events.protocol({
        ...session,
        direction: 'in',
        kind: 'frame',
        bytes: 40,
        code: 'frame.auth_failed',
      });
      events.protocol({
        ...session,
        direction: 'out',
        kind: 'refuse',
        bytes: 0,
        code: 'frame.auth_failed',
      });
      // A site that ends its session with a refusal of its own.
      events.protocol({
        ...session,
        direction: 'in',
        kind: 'refuse',
        bytes: 0,
        code: 'session.closed',
      });
      const refused = (await audit.export()).entries
        .map((e) => e.event)
        .filter((e) => e['event'] === 'session.refused');
      assert.deepEqual(
        refused.map((e) => e['code']),
        ['frame.auth_failed', 'session.closed'],
      );
    }));
});
