import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it, mock } from 'node:test';
import { Command } from 'commander';
import { addAuditCommands, formatJsonl } from '../../cli/audit-commands.js';
import {
  auditLeaf,
  loadSodium,
  MerkleTree,
  signTreeHead,
  unwrap,
  type AuditLogExport,
} from '../../protocol/index.js';

/** `fedistill audit verify` on a file; resolves with what it printed. */
async function verify(file: string, keyFile: string): Promise<string> {
  const program = new Command().exitOverride();
  addAuditCommands(program);
  const printed: string[] = [];
  const log = mock.method(console, 'log', (line: string) => printed.push(line));
  try {
    await program.parseAsync(['audit', 'verify', file, '--coordinator-key', keyFile], {
      from: 'user',
    });
  } finally {
    log.mock.restore();
  }
  return printed.join('\n');
}

describe('fedistill audit verify reads both export shapes of PROTOCOL.md 10.5', () => {
  let dir: string;
  let keyFile: string;
  let log: AuditLogExport;

  before(async () => {
    const sodium = await loadSodium();
    const coordinator = sodium.crypto_sign_seed_keypair(new Uint8Array(32).fill(1));
    dir = await mkdtemp(path.join(tmpdir(), 'fedistill-audit-'));
    keyFile = path.join(dir, 'coordinator.pub');
    await writeFile(
      keyFile,
      JSON.stringify({
        kind: 'fedistill.public-key',
        name: 'coordinator',
        publicKey: Buffer.from(coordinator.publicKey).toString('base64'),
      }),
    );
    const tree = new MerkleTree();
    const entries = [0, 1, 2].map((seq) => ({
      seq,
      event: { event: 'round.started', round: seq },
    }));
    for (const entry of entries) tree.append(unwrap(auditLeaf(entry)));
    const head = signTreeHead(sodium, coordinator.privateKey, {
      size: 3,
      root: unwrap(tree.root()),
      time: new Date(Date.UTC(2026, 2, 1, 12)),
    });
    log = { entries, treeHeads: [head] };
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('the {entries, treeHeads} document', async () => {
    const file = path.join(dir, 'audit.json');
    await writeFile(file, JSON.stringify(log, null, 2));
    assert.match(await verify(file, keyFile), /verified: 3 entries, 1 signed tree heads/);
  });

  it('the JSONL of audit export', async () => {
    const file = path.join(dir, 'audit.jsonl');
    await writeFile(file, formatJsonl(log));
    assert.match(await verify(file, keyFile), /verified: 3 entries, 1 signed tree heads/);
  });

  it('a document with a changed entry is refused by naming it', async () => {
    const file = path.join(dir, 'changed.json');
    const changed = structuredClone(log);
    changed.entries[1]!.event.round = 7;
    await writeFile(file, JSON.stringify(changed));
    await assert.rejects(verify(file, keyFile), { code: 'audit.root_mismatch' });
  });
});
