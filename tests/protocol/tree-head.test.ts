import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import {
  MerkleTree,
  TREE_HEAD_SIGNATURE_LABEL,
  loadSodium,
  signTreeHead,
  treeHeadSigningBytes,
  unwrap,
  verifyConsistency,
  verifyTreeHead,
  type IdentityKeyPair,
  type SignedTreeHead,
  type Sodium,
} from '../../protocol/index.js';

let sodium: Sodium;
let coordinator: IdentityKeyPair;
let other: IdentityKeyPair;

before(async () => {
  sodium = await loadSodium();
  coordinator = sodium.crypto_sign_seed_keypair(new Uint8Array(32).fill(1));
  other = sodium.crypto_sign_seed_keypair(new Uint8Array(32).fill(2));
});

const ROOT = new Uint8Array(
  Buffer.from('5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328', 'hex'),
);
const TIME = new Date('2026-03-01T12:00:00.250Z');

function signed(): SignedTreeHead {
  return signTreeHead(sodium, coordinator.privateKey, { size: 8, root: ROOT, time: TIME });
}

function refusedWith(raw: unknown, code: string, key = coordinator.publicKey): void {
  const result = verifyTreeHead(sodium, key, raw);
  assert.equal(result.ok, false, `accepted ${JSON.stringify(raw)}`);
  if (!result.ok) assert.equal(result.error.code, code);
}

describe('signed tree heads', () => {
  it('signs the documented bytes: label, 0x00, size u64 BE, root, time', () => {
    const head = signed();
    assert.deepEqual(
      { size: head.size, root: head.root, time: head.time },
      { size: 8, root: Buffer.from(ROOT).toString('hex'), time: '2026-03-01T12:00:00.250Z' },
    );
    const expected = Buffer.concat([
      Buffer.from('fedistill/1 audit tree head', 'ascii'),
      Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 8]),
      ROOT,
      Buffer.from('2026-03-01T12:00:00.250Z', 'ascii'),
    ]);
    assert.equal(TREE_HEAD_SIGNATURE_LABEL, 'fedistill/1 audit tree head');
    assert.deepEqual(Buffer.from(treeHeadSigningBytes(head)), expected);
    assert.ok(
      sodium.crypto_sign_verify_detached(
        Buffer.from(head.signature, 'hex'),
        expected,
        coordinator.publicKey,
      ),
    );
    assert.deepEqual(verifyTreeHead(sodium, coordinator.publicKey, head), {
      ok: true,
      value: head,
    });
  });

  it('refuses a head whose size, root, time or signature was changed', () => {
    const head = signed();
    const flipHex = (s: string) => (s[0] === '0' ? '1' : '0') + s.slice(1);
    refusedWith({ ...head, size: 9 }, 'audit.bad_signature');
    refusedWith({ ...head, size: 2 ** 32 + 8 }, 'audit.bad_signature');
    refusedWith({ ...head, root: flipHex(head.root) }, 'audit.bad_signature');
    refusedWith({ ...head, time: '2026-03-01T12:00:00.251Z' }, 'audit.bad_signature');
    refusedWith({ ...head, signature: flipHex(head.signature) }, 'audit.bad_signature');
  });

  it('refuses a head signed by another key, or checked against a key of the wrong length', () => {
    const forged = signTreeHead(sodium, other.privateKey, { size: 8, root: ROOT, time: TIME });
    refusedWith(forged, 'audit.bad_signature');
    refusedWith(signed(), 'audit.bad_signature', coordinator.publicKey.subarray(1));
  });

  it('refuses malformed heads without throwing', () => {
    const head = signed();
    for (const raw of [
      null,
      'head',
      { ...head, size: -1 },
      { ...head, size: 1.5 },
      { ...head, size: 2 ** 53 },
      { ...head, root: head.root.toUpperCase() },
      { ...head, root: head.root.slice(2) },
      { ...head, time: '2026-03-01T12:00:00Z' },
      { ...head, time: '2026-03-01T13:00:00.250+01:00' },
      { ...head, time: '2026-02-30T12:00:00.250Z' },
      { ...head, signature: head.signature.slice(2) },
      { ...head, extra: 1 },
    ]) {
      refusedWith(raw, 'audit.malformed');
    }
  });

  it('lets a site check that a new head extends the one it holds', () => {
    const tree = new MerkleTree();
    const heads: SignedTreeHead[] = [];
    for (let i = 0; i < 11; i += 1) {
      tree.append(new TextEncoder().encode(`event ${i}`));
      if (i === 4 || i === 10) {
        const root = unwrap(tree.root());
        heads.push(
          signTreeHead(sodium, coordinator.privateKey, { size: tree.size, root, time: TIME }),
        );
      }
    }
    const [older, newer] = heads.map((h) =>
      unwrap(verifyTreeHead(sodium, coordinator.publicKey, h)),
    );
    const claim = {
      size1: older!.size,
      size2: newer!.size,
      root1: new Uint8Array(Buffer.from(older!.root, 'hex')),
      root2: new Uint8Array(Buffer.from(newer!.root, 'hex')),
      proof: unwrap(tree.consistencyProof(older!.size, newer!.size)),
    };
    assert.ok(verifyConsistency(claim).ok);
    // A coordinator that rewrote event 2 cannot prove its new head extends the old one.
    const forked = new MerkleTree();
    for (let i = 0; i < 11; i += 1)
      forked.append(new TextEncoder().encode(`event ${i === 2 ? 'X' : i}`));
    const fork = {
      ...claim,
      root2: unwrap(forked.root()),
      proof: unwrap(forked.consistencyProof(older!.size, newer!.size)),
    };
    assert.equal(verifyConsistency(fork).ok, false);
  });
});
