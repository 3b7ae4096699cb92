import {
  canonicalJson,
  hashLeaf,
  MerkleTree,
  signTreeHead,
  toHex,
  treeHeadSigningBytes,
  unwrap,
  type Sodium,
} from '../../protocol/index.js';

/**
 * The vectors of PROTOCOL.md section 10 on fixed inputs: canonical JSON, Merkle roots and
 * proofs, and a signed tree head. Written by write-vectors.ts, checked by
 * tests/protocol/conformance.test.ts.
 */

/** Cases JCS gets wrong when done by hand: key order, numbers, escapes, non-ASCII. */
export const CANONICAL_JSON_INPUTS: readonly unknown[] = [
  { b: 1, a: 2, A: 3, '': 0 },
  { '\u20ac': 1, '\r': 2, '\ud83d\ude00': 3, e: 4, é: 5 },
  [0, -0, 1e21, 1e-7, 0.1, 1.5e-7, 123456789012345680000, -1.25, 5e-324, 2 ** 53 + 2],
  '\b\t\n\f\r"\\ \u0000\u001f\u007f\u2028 é 😀',
  { nested: { z: [true, false, null], y: {} }, seq: 7 },
];

export function canonicalJsonVector() {
  return {
    kind: 'canonical-json',
    description:
      'fedistill protocol v1: canonical JSON (section 10.1, RFC 8785): each input (as JSON text) and its canonical form, with the UTF-8 bytes in hex',
    cases: CANONICAL_JSON_INPUTS.map((input) => {
      const canonical = unwrap(canonicalJson(input));
      return {
        input: JSON.stringify(input),
        canonical,
        utf8: Buffer.from(canonical, 'utf8').toString('hex'),
      };
    }),
  };
}

/** Leaf data d_i = the ASCII of "leaf <i>": 7 leaves, an unbalanced tree. */
export const MERKLE_LEAVES = 7;
const leafData = (i: number) => new TextEncoder().encode(`leaf ${i}`);

export function merkleVector() {
  const tree = new MerkleTree();
  for (let i = 0; i < MERKLE_LEAVES; i++) tree.append(leafData(i));
  const hex = (hashes: Uint8Array[]) => hashes.map(toHex);
  return {
    kind: 'merkle',
    description:
      'fedistill protocol v1: RFC 6962 Merkle tree with SHA-256 (sections 10.2, 10.3) over leaf data "leaf <i>" (ASCII); roots of every prefix, inclusion and consistency proofs',
    leaves: Array.from({ length: MERKLE_LEAVES }, (_, i) => ({
      data: toHex(leafData(i)),
      leafHash: toHex(hashLeaf(leafData(i))),
    })),
    roots: Array.from({ length: MERKLE_LEAVES + 1 }, (_, size) => ({
      size,
      root: toHex(unwrap(tree.root(size))),
    })),
    inclusion: [
      [0, 1],
      [0, 7],
      [3, 7],
      [6, 7],
      [4, 5],
    ].map(([index, size]) => ({
      index: index!,
      size: size!,
      proof: hex(unwrap(tree.inclusionProof(index!, size!))),
    })),
    consistency: [
      [1, 7],
      [3, 7],
      [4, 7],
      [6, 7],
      [7, 7],
      [2, 5],
    ].map(([size1, size2]) => ({
      size1: size1!,
      size2: size2!,
      proof: hex(unwrap(tree.consistencyProof(size1!, size2!))),
    })),
  };
}

export const TREE_HEAD_INPUT = {
  coordinatorSeed: '01'.repeat(32),
  size: MERKLE_LEAVES,
  time: '2026-03-01T12:00:00.250Z',
};

export function treeHeadVector(sodium: Sodium) {
  const identity = sodium.crypto_sign_seed_keypair(
    Buffer.from(TREE_HEAD_INPUT.coordinatorSeed, 'hex'),
  );
  const root = Buffer.from(merkleVector().roots[TREE_HEAD_INPUT.size]!.root, 'hex');
  const head = signTreeHead(sodium, identity.privateKey, {
    size: TREE_HEAD_INPUT.size,
    root,
    time: new Date(TREE_HEAD_INPUT.time),
  });
  return {
    kind: 'tree-head',
    description:
      'fedistill protocol v1: a signed tree head (section 10.4) over the 7-leaf tree of merkle-v1.json, by crypto_sign_seed_keypair(coordinatorSeed); Ed25519 is deterministic',
    inputs: {
      ...TREE_HEAD_INPUT,
      coordinatorPublicKey: toHex(identity.publicKey),
      root: toHex(root),
    },
    signedBytes: toHex(treeHeadSigningBytes(head)),
    head,
  };
}
