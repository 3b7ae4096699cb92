import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { TREE_HEADS_FILE } from '../../client/tree-heads.js';
import type { SiteConfig } from '../../client/site-config.js';
import {
  decodeKey,
  loadSodium,
  verifyAuditLog,
  unwrap,
  type AuditEntry,
  type SignedTreeHead,
} from '../../protocol/index.js';
import { startRunFixture, type RunFixture } from '../support/run-fixture.js';

describe('the final tree head (PROTOCOL.md 10.4): real coordinator and 2 real sites, 1 round', () => {
  let fixture: RunFixture;
  const configs: SiteConfig[] = [];
  let entries: AuditEntry[];
  let coordinatorHeads: SignedTreeHead[];

  before(async () => {
    fixture = await startRunFixture({ sites: 2, rounds: 1 });
    await fixture.runAllSites((config) => {
      configs.push(config);
      return config;
    });
    const db = new Database(path.join(fixture.workspace.dir, 'coordinator', 'coordinator.db'), {
      readonly: true,
    });
    entries = (db.prepare('SELECT seq, event FROM audit_log ORDER BY seq').all() as never[]).map(
      (row: { seq: number; event: string }) => ({ seq: row.seq, event: JSON.parse(row.event) }),
    );
    coordinatorHeads = (
      db.prepare('SELECT head FROM tree_heads ORDER BY rowid').all() as { head: string }[]
    ).map((row) => JSON.parse(row.head) as SignedTreeHead);
    db.close();
  });

  after(async () => {
    await fixture?.dispose();
  });

  it("each site's last head covers the run.completed entry and signs a prefix of the coordinator's log", async () => {
    const completed = entries.find((e) => e.event.event === 'run.completed');
    assert.ok(completed, 'no run.completed in the log');
    const sodium = await loadSodium();
    const key = decodeKey(configs[0]!.coordinator.publicKey);
    const report = unwrap(verifyAuditLog(sodium, key, { entries, treeHeads: coordinatorHeads }));
    assert.equal(configs.length, 2);
    for (const config of configs) {
      const lines = (await readFile(path.join(config.cacheDir, TREE_HEADS_FILE), 'utf8'))
        .split('\n')
        .filter((line) => line.trim() !== '');
      const last = JSON.parse(lines[lines.length - 1]!) as SignedTreeHead;
      assert.ok(
        last.size > completed.seq,
        `the site's last head covers ${last.size} entries; run.completed is seq ${completed.seq}`,
      );
      assert.equal(report.prefixRoots[last.size], last.root);
    }
  });
});
