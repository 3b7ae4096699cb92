import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import {
  MerkleTree,
  auditLeaf,
  loadSodium,
  signTreeHead,
  unwrap,
  verifyAuditLog,
  type AuditEntry,
  type IdentityKeyPair,
  type Result,
  type SignedTreeHead,
  type Sodium,
} from '../../protocol/index.js';

let sodium: Sodium;
let coordinator: IdentityKeyPair;

before(async () => {
  sodium = await loadSodium();
  coordinator = sodium.crypto_sign_seed_keypair(new Uint8Array(32).fill(1));
});

/** Events shaped like the audit schema of research/security.md: who, what, when, outcome. */
function event(seq: number): Record<string, unknown> {
  return {
    v: 1,
    ts: new Date(Date.UTC(2026, 2, 1, 12, 0, seq)).toISOString(),
    event: seq % 2 === 0 ? 'UPDATE_RECEIVED' : 'ROUND_START',
    actor: { kind: 'site', id: `site-${seq % 3}` },
    round: Math.floor(seq / 3) + 1,
    object: { update: `${seq}`.padStart(64, 'a') },
    outcome: 'ok',
  };
}

interface Log {
  entries: AuditEntry[];
  treeHeads: SignedTreeHead[];
}

/** The log as the coordinator keeps it: a head signed whenever the log reaches a size listed. */
function buildLog(count: number, headSizes: readonly number[]): Log {
  const tree = new MerkleTree();
  const entries: AuditEntry[] = [];
  const treeHeads: SignedTreeHead[] = [];
  const sign = () =>
    treeHeads.push(
      signTreeHead(sodium, coordinator.privateKey, {
        size: tree.size,
        root: unwrap(tree.root()),
        time: new Date(Date.UTC(2026, 2, 1, 12, 0, tree.size, 500)),
      }),
    );
  if (headSizes.includes(0)) sign();
  for (let seq = 0; seq < count; seq += 1) {
    const entry = { seq, event: event(seq) };
    entries.push(entry);
    tree.append(unwrap(auditLeaf(entry)));
    if (headSizes.includes(tree.size)) sign();
  }
  return { entries, treeHeads };
}

const SPARSE = [3, 6, 10];
const EVERY = Array.from({ length: 10 }, (_, i) => i + 1);

function refused(
  result: Result<unknown>,
  code: string,
  path: readonly unknown[],
  message?: RegExp,
) {
  assert.equal(result.ok, false, 'the log was accepted');
  if (result.ok) return;
  assert.equal(result.error.code, code, result.error.message);
  assert.deepEqual(result.error.path, path, result.error.message);
  if (message) assert.match(result.error.message, message);
}

const verify = (log: unknown) => verifyAuditLog(sodium, coordinator.publicKey, log);

describe('offline audit of the protocol log', () => {
  it('hashes an entry as the canonical JSON of {event, seq}', () => {
    const leaf = unwrap(auditLeaf({ seq: 7, event: { outcome: 'ok', event: 'SITE_DROPPED' } }));
    assert.equal(
      new TextDecoder().decode(leaf),
      '{"event":{"event":"SITE_DROPPED","outcome":"ok"},"seq":7}',
    );
  });

  it('accepts an intact log and reports how far its heads reach', () => {
    const log = buildLog(12, SPARSE);
    const report = unwrap(verify(log));
    const tree = new MerkleTree();
    for (const entry of log.entries) tree.append(unwrap(auditLeaf(entry)));
    assert.deepEqual(report, {
      entries: 12,
      treeHeads: 3,
      coveredSize: 10,
      root: Buffer.from(unwrap(tree.root())).toString('hex'),
      prefixRoots: Array.from({ length: 13 }, (_, k) =>
        Buffer.from(unwrap(tree.root(k))).toString('hex'),
      ),
    });
    // The same log after a round trip through a JSON file, as an auditor receives it.
    assert.ok(verify(JSON.parse(JSON.stringify(log))).ok);
    assert.deepEqual(
      unwrap(verify({ entries: [], treeHeads: buildLog(0, [0]).treeHeads })).root,
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
  });

  it('names a modified entry, exactly when a head follows every entry', () => {
    const tamper = (log: Log) => {
      log.entries[4]!.event['outcome'] = 'fail';
      return log;
    };
    refused(verify(tamper(buildLog(10, EVERY))), 'audit.root_mismatch', ['entries', 4], /seq 4/);
    // With sparser heads the change is placed between the last head that matched (size 3) and
    // the first that does not (size 6).
    refused(
      verify(tamper(buildLog(10, SPARSE))),
      'audit.root_mismatch',
      ['treeHeads', 1],
      /seq 3\.\.5/,
    );
  });

  it('names a deleted entry', () => {
    const log = buildLog(10, SPARSE);
    log.entries.splice(4, 1);
    refused(verify(log), 'audit.bad_sequence', ['entries', 4, 'seq'], /seq 4 is missing/);
    // Deleting and renumbering the rest hides the gap but not the change of root.
    const renumbered = buildLog(10, EVERY);
    renumbered.entries.splice(4, 1);
    renumbered.entries.forEach((entry, i) => (entry.seq = i));
    refused(verify(renumbered), 'audit.root_mismatch', ['entries', 4]);
  });

  it('names an inserted entry', () => {
    const forged = { seq: 4, event: { ...event(4), actor: { kind: 'site', id: 'site-9' } } };
    const sparse = buildLog(10, SPARSE);
    sparse.entries.splice(4, 0, forged);
    refused(verify(sparse), 'audit.bad_sequence', ['entries', 5, 'seq'], /positions 4 and 5/);
    const dense = buildLog(10, EVERY);
    dense.entries.splice(4, 0, forged);
    refused(verify(dense), 'audit.root_mismatch', ['entries', 4]);
    // An inserted entry carrying a seq of its own shows as the one that is out of place.
    const fresh = buildLog(10, SPARSE);
    fresh.entries.splice(4, 0, { seq: 10, event: event(10) });
    refused(verify(fresh), 'audit.bad_sequence', ['entries', 4, 'seq'], /seq 4 is at position 5/);
  });

  it('names reordered entries', () => {
    const log = buildLog(10, SPARSE);
    [log.entries[4], log.entries[5]] = [log.entries[5]!, log.entries[4]!];
    refused(verify(log), 'audit.bad_sequence', ['entries', 4, 'seq'], /seq 4 is at position 5/);
    // Swapping the events but not the seqs is a change of content.
    const swapped = buildLog(10, EVERY);
    const [a, b] = [swapped.entries[4]!.event, swapped.entries[5]!.event];
    [swapped.entries[4]!.event, swapped.entries[5]!.event] = [b, a];
    refused(verify(swapped), 'audit.root_mismatch', ['entries', 4]);
  });

  it('names a head with a bad signature, or signed by another key', () => {
    const log = buildLog(10, SPARSE);
    const head = log.treeHeads[1]!;
    log.treeHeads[1] = { ...head, root: log.treeHeads[2]!.root };
    refused(verify(log), 'audit.bad_signature', ['treeHeads', 1], /size 6/);
    const other = sodium.crypto_sign_seed_keypair(new Uint8Array(32).fill(2));
    refused(verifyAuditLog(sodium, other.publicKey, buildLog(10, SPARSE)), 'audit.bad_signature', [
      'treeHeads',
      0,
    ]);
  });

  it('reports the first failure in log order', () => {
    const log = buildLog(10, SPARSE);
    log.entries[1]!.event['round'] = 9;
    log.entries.splice(7, 1);
    refused(verify(log), 'audit.root_mismatch', ['treeHeads', 0], /seq 0\.\.2/);
  });

  it('names the missing entries when a head covers more than the log holds', () => {
    const log = buildLog(10, SPARSE);
    log.entries.splice(8);
    refused(verify(log), 'audit.truncated', ['treeHeads', 2], /seq 8\.\.9 are missing/);
  });

  it('cannot detect a change after the last head, and says how far the heads reach', () => {
    const log = buildLog(12, [3, 6]);
    log.entries[8]!.event['outcome'] = 'fail';
    log.entries.splice(10);
    assert.deepEqual(
      { ...unwrap(verify(log)), root: undefined, prefixRoots: undefined },
      { entries: 10, treeHeads: 2, coveredSize: 6, root: undefined, prefixRoots: undefined },
    );
  });

  it('refuses heads that go back in size or time', () => {
    const log = buildLog(10, SPARSE);
    [log.treeHeads[0], log.treeHeads[1]] = [log.treeHeads[1]!, log.treeHeads[0]!];
    refused(verify(log), 'audit.head_order', ['treeHeads', 1]);
    const clock = buildLog(10, SPARSE);
    clock.treeHeads[2] = signTreeHead(sodium, coordinator.privateKey, {
      size: 10,
      root: Buffer.from(clock.treeHeads[2]!.root, 'hex'),
      time: new Date(Date.UTC(2026, 2, 1, 11)),
    });
    refused(verify(clock), 'audit.head_order', ['treeHeads', 2]);
    const shrunk = buildLog(10, SPARSE);
    shrunk.treeHeads.push(
      signTreeHead(sodium, coordinator.privateKey, {
        size: 3,
        root: Buffer.from(shrunk.treeHeads[0]!.root, 'hex'),
        time: new Date(Date.UTC(2026, 2, 1, 13)),
      }),
    );
    refused(verify(shrunk), 'audit.head_order', ['treeHeads', 3], /size 3/);
  });

  it('refuses two signed heads of one size with different roots', () => {
    const log = buildLog(10, SPARSE);
    const fork = buildLog(6, [6]);
    fork.entries[0]!.event['outcome'] = 'fail';
    const tree = new MerkleTree();
    for (const entry of fork.entries) tree.append(unwrap(auditLeaf(entry)));
    const equivocation = signTreeHead(sodium, coordinator.privateKey, {
      size: 6,
      root: unwrap(tree.root()),
      time: new Date(Date.UTC(2026, 2, 1, 12, 0, 7)),
    });
    log.treeHeads.splice(2, 0, equivocation);
    refused(verify(log), 'audit.root_mismatch', ['treeHeads', 2], /two different logs/);
  });

  it('refuses a malformed export, naming where, without throwing', () => {
    const log = buildLog(4, [4]);
    const cases: [unknown, (string | number)[]][] = [
      [null, []],
      [{ entries: log.entries }, ['treeHeads']],
      [{ ...log, extra: 1 }, []],
      [{ ...log, entries: [{ seq: -1, event: {} }] }, ['entries', 0, 'seq']],
      [{ ...log, entries: [{ seq: '0', event: {} }] }, ['entries', 0, 'seq']],
      [{ ...log, entries: [{ seq: 0, event: [] }] }, ['entries', 0, 'event']],
      [{ ...log, entries: [{ seq: 0, event: {}, note: 'x' }] }, ['entries', 0]],
      [{ ...log, treeHeads: [{ ...log.treeHeads[0], size: '4' }] }, ['treeHeads', 0, 'size']],
    ];
    for (const [raw, path] of cases) {
      const result = verify(raw);
      refused(result, 'audit.malformed', path);
    }
    // In memory (not from a file) an event can hold what JSON cannot.
    const unencodable = buildLog(4, [4]);
    unencodable.entries[2]!.event['dp'] = { eps: Number.NaN };
    refused(verify(unencodable), 'json.unencodable', ['entries', 2, 'event', 'dp', 'eps']);
  });
});
