import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MerkleTree,
  emptyTreeRoot,
  hashChildren,
  hashLeaf,
  unwrap,
  verifyConsistency,
  verifyInclusion,
  type ConsistencyClaim,
  type InclusionClaim,
  type Result,
} from '../../protocol/index.js';

// The RFC 6962 test leaves and roots used by Certificate Transparency implementations
// (transparency-dev/merkle proof/verify_test.go), recomputed independently from RFC 6962 2.1.
const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const text = (s: string) => new TextEncoder().encode(s);
const LEAVES = [
  '',
  '00',
  '10',
  '2021',
  '3031',
  '40414243',
  '5051525354555657',
  '606162636465666768696a6b6c6d6e6f',
].map(hex);
const ROOTS = [
  'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];
const INCLUSION_VECTORS = [
  {
    index: 0,
    size: 8,
    proof: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    index: 5,
    size: 8,
    proof: [
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  {
    index: 2,
    size: 3,
    proof: ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125'],
  },
  {
    index: 1,
    size: 5,
    proof: [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
];
const CONSISTENCY_VECTORS = [
  { size1: 1, size2: 8, proof: INCLUSION_VECTORS[0]!.proof },
  {
    size1: 6,
    size2: 8,
    proof: [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  {
    size1: 2,
    size2: 5,
    proof: [
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
  {
    size1: 6,
    size2: 7,
    proof: [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
];

function treeOf(leaves: readonly Uint8Array[]): MerkleTree {
  const tree = new MerkleTree();
  for (const leaf of leaves) tree.append(leaf);
  return tree;
}

const toHex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const flipped = (bytes: Uint8Array, index = 0) => {
  const copy = Uint8Array.from(bytes);
  copy[index]! ^= 0x10;
  return copy;
};

/** A refusal must be a coded result, never an exception. */
function assertRefused(result: Result<unknown>, code: string, label: string): void {
  assert.equal(result.ok, false, `${label} was accepted`);
  if (!result.ok) assert.equal(result.error.code, code, label);
}

/** MTH straight from RFC 6962 2.1, to check the incremental tree against. */
function referenceRoot(leaves: readonly Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return emptyTreeRoot();
  if (leaves.length === 1) return hashLeaf(leaves[0]!);
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return hashChildren(referenceRoot(leaves.slice(0, k)), referenceRoot(leaves.slice(k)));
}

/**
 * Adversarial variants of a valid inclusion claim; every one must be refused. Size and root are
 * only changed together with each other in ways no signed head would allow (a root of another
 * size), as in transparency-dev/merkle's corruption tests.
 */
function forgedInclusions(claim: InclusionClaim): [string, InclusionClaim][] {
  const { index, size, proof, root } = claim;
  const forged: [string, InclusionClaim][] = [
    ['index + 1', { ...claim, index: index + 1 }],
    ['index - 1', { ...claim, index: index - 1 }],
    ['index ^ 2', { ...claim, index: index ^ 2 }],
    ['size * 2', { ...claim, size: size * 2 }],
    ['size / 2', { ...claim, size: Math.floor(size / 2) }],
    ['another leaf', { ...claim, leafHash: hashLeaf(text('WrongLeaf')) }],
    ['the leaf data instead of its hash', { ...claim, leafHash: text('WrongLeaf') }],
    ['the empty root', { ...claim, root: emptyTreeRoot() }],
    ['a flipped root', { ...claim, root: flipped(root) }],
    ['an extra hash at the end', { ...claim, proof: [...proof, root] }],
    ['an extra hash in front', { ...claim, proof: [root, ...proof] }],
    ['an empty extra element', { ...claim, proof: [...proof, new Uint8Array(0)] }],
  ];
  if (proof.length > 0) {
    forged.push(['a truncated proof', { ...claim, proof: proof.slice(0, -1) }]);
    forged.push([
      'a short element',
      { ...claim, proof: [proof[0]!.subarray(1), ...proof.slice(1)] },
    ]);
  }
  if (proof.length > 1)
    forged.push(['the proof reversed', { ...claim, proof: [...proof].reverse() }]);
  proof.forEach((_, i) =>
    forged.push([
      `proof[${i}] flipped`,
      { ...claim, proof: proof.map((p, j) => (i === j ? flipped(p) : p)) },
    ]),
  );
  return forged;
}

/** Adversarial variants of a valid consistency claim (s1 < s2); every one must be refused. */
function forgedConsistencies(claim: ConsistencyClaim): [string, ConsistencyClaim][] {
  const { size1, size2, root1, root2, proof } = claim;
  const forged: [string, ConsistencyClaim][] = [
    ['size1 - 1', { ...claim, size1: size1 - 1 }],
    ['size1 + 1', { ...claim, size1: size1 + 1 }],
    ['size1 ^ 2', { ...claim, size1: size1 ^ 2 }],
    ['size2 * 2', { ...claim, size2: size2 * 2 }],
    ['size2 / 2', { ...claim, size2: Math.floor(size2 / 2) }],
    ['swapped sizes', { ...claim, size1: size2, size2: size1 }],
    ['swapped roots', { ...claim, root1: root2, root2: root1 }],
    ['swapped sizes and roots', { size1: size2, size2: size1, root1: root2, root2: root1, proof }],
    ['a flipped old root', { ...claim, root1: flipped(root1) }],
    ['a flipped new root', { ...claim, root2: flipped(root2) }],
    ['an empty proof', { ...claim, proof: [] }],
    ['a truncated proof', { ...claim, proof: proof.slice(0, -1) }],
    ['the old root appended', { ...claim, proof: [...proof, root1] }],
    ['the new root appended', { ...claim, proof: [...proof, root2] }],
    ['the old root in front', { ...claim, proof: [root1, ...proof] }],
    ['proof[0] repeated in front', { ...claim, proof: [proof[0]!, ...proof] }],
    ['an empty element in front', { ...claim, proof: [new Uint8Array(0), ...proof] }],
  ];
  proof.forEach((_, i) =>
    forged.push([
      `proof[${i}] flipped`,
      { ...claim, proof: proof.map((p, j) => (i === j ? flipped(p) : p)) },
    ]),
  );
  return forged;
}

describe('merkle tree (RFC 6962)', () => {
  it('hashes leaves and nodes with their domain-separation prefixes', () => {
    assert.equal(
      toHex(hashLeaf(text('L123456'))),
      '395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56',
    );
    assert.equal(
      toHex(hashChildren(text('N123'), text('N456'))),
      'aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb',
    );
    assert.equal(toHex(emptyTreeRoot()), ROOTS[0]);
  });

  it('computes the reference roots of the first 0 to 8 test leaves', () => {
    const tree = new MerkleTree();
    assert.equal(toHex(unwrap(tree.root())), ROOTS[0]);
    LEAVES.forEach((leaf, i) => {
      assert.equal(tree.append(leaf), i);
      assert.equal(toHex(unwrap(tree.root())), ROOTS[i + 1], `size ${i + 1}`);
    });
    // Any prefix of the grown tree has the root it had when it was the whole tree.
    ROOTS.forEach((root, size) => assert.equal(toHex(unwrap(tree.root(size))), root));
  });

  it('gives the reference inclusion proofs, leaf 0 of 8 among them', () => {
    const tree = treeOf(LEAVES);
    for (const { index, size, proof } of INCLUSION_VECTORS) {
      assert.deepEqual(unwrap(tree.inclusionProof(index, size)).map(toHex), proof);
      const claim = {
        index,
        size,
        leafHash: hashLeaf(LEAVES[index]!),
        proof: proof.map(hex),
        root: hex(ROOTS[size]!),
      };
      assert.deepEqual(verifyInclusion(claim), { ok: true, value: true });
    }
  });

  it('gives the reference consistency proofs', () => {
    const tree = treeOf(LEAVES);
    for (const { size1, size2, proof } of CONSISTENCY_VECTORS) {
      assert.deepEqual(unwrap(tree.consistencyProof(size1, size2)).map(toHex), proof);
      const claim = {
        size1,
        size2,
        root1: hex(ROOTS[size1]!),
        root2: hex(ROOTS[size2]!),
        proof: proof.map(hex),
      };
      assert.deepEqual(verifyConsistency(claim), { ok: true, value: true });
    }
  });

  it('proves and verifies every leaf of every tree of 1 to 8 leaves, and refuses forgeries', () => {
    const tree = treeOf(LEAVES);
    for (let size = 1; size <= 8; size += 1) {
      for (let index = 0; index < size; index += 1) {
        const claim = {
          index,
          size,
          leafHash: hashLeaf(LEAVES[index]!),
          proof: unwrap(tree.inclusionProof(index, size)),
          root: hex(ROOTS[size]!),
        };
        assert.ok(verifyInclusion(claim).ok, `leaf ${index} of ${size}`);
        for (const [label, forged] of forgedInclusions(claim)) {
          assertRefused(
            verifyInclusion(forged),
            'audit.bad_proof',
            `${label}, leaf ${index}/${size}`,
          );
        }
      }
    }
  });

  it('proves consistency for every 1 <= size1 <= size2 <= 8, and refuses forgeries', () => {
    const tree = treeOf(LEAVES);
    for (let size2 = 1; size2 <= 8; size2 += 1) {
      for (let size1 = 1; size1 <= size2; size1 += 1) {
        const claim = {
          size1,
          size2,
          root1: hex(ROOTS[size1]!),
          root2: hex(ROOTS[size2]!),
          proof: unwrap(tree.consistencyProof(size1, size2)),
        };
        assert.ok(verifyConsistency(claim).ok, `${size1} -> ${size2}`);
        if (size1 === size2) {
          assert.equal(claim.proof.length, 0);
          continue;
        }
        for (const [label, forged] of forgedConsistencies(claim)) {
          assertRefused(
            verifyConsistency(forged),
            'audit.bad_proof',
            `${label}, ${size1}->${size2}`,
          );
        }
      }
    }
  });

  it('refuses a consistency proof that only checks out for the new root', () => {
    // The immudb client bug (GHSA-672p-m5jq-mrh8): a proof built for another old tree leads to
    // the right new root, so a verifier that skips the old root accepts a rewritten history.
    const tree = treeOf(LEAVES);
    const rewritten = treeOf([text('forged'), ...LEAVES.slice(1)]);
    const claim = {
      size1: 6,
      size2: 8,
      root1: hex(ROOTS[6]!),
      root2: unwrap(rewritten.root(8)),
      proof: unwrap(rewritten.consistencyProof(6, 8)),
    };
    assertRefused(verifyConsistency(claim), 'audit.bad_proof', 'a proof for a rewritten log');
    const honest = { ...claim, root2: hex(ROOTS[8]!), proof: unwrap(tree.consistencyProof(6, 8)) };
    assert.ok(verifyConsistency(honest).ok);
  });

  it('refuses impossible sizes and indices without throwing', () => {
    const root = hex(ROOTS[8]!);
    const leafHash = hashLeaf(LEAVES[0]!);
    const proof = INCLUSION_VECTORS[0]!.proof.map(hex);
    for (const [index, size] of [
      [0, 0],
      [1, 0],
      [8, 8],
      [-1, 8],
      [0.5, 8],
      [Number.NaN, 8],
      [0, Number.POSITIVE_INFINITY],
      [0, 2 ** 53],
    ] as const) {
      assertRefused(
        verifyInclusion({ index, size, leafHash, proof, root }),
        'audit.bad_proof',
        `leaf ${index} of ${size}`,
      );
    }
    const roots = { root1: hex(ROOTS[4]!), root2: root };
    for (const [size1, size2, proofOf] of [
      [0, 8, []],
      [0, 0, []],
      [0, 8, [root]],
      [8, 4, proof],
      [9, 8, proof],
      [4, 4, [root]],
      [-4, 8, proof],
      [4.5, 8, proof],
    ] as const) {
      assertRefused(
        verifyConsistency({ size1, size2, proof: proofOf, ...roots }),
        'audit.bad_proof',
        `${size1} -> ${size2}`,
      );
    }
    // The empty tree is a prefix of every tree: there is nothing to prove, and no proof is taken.
    const empty = emptyTreeRoot();
    for (const [size2, root2] of [
      [0, empty],
      [8, root],
    ] as const) {
      assertRefused(
        verifyConsistency({ size1: 0, size2, root1: empty, root2, proof: [] }),
        'audit.bad_proof',
        `0 -> ${size2}`,
      );
    }
    // Equal sizes need equal roots and an empty proof.
    assertRefused(
      verifyConsistency({ size1: 8, size2: 8, root1: root, root2: root, proof: [root] }),
      'audit.bad_proof',
      'equal sizes with a proof',
    );
    assertRefused(
      verifyConsistency({ size1: 8, size2: 8, root1: hex(ROOTS[7]!), root2: root, proof: [] }),
      'audit.bad_proof',
      'equal sizes, different roots',
    );
    // Hostile values where typed hashes are expected.
    const claim = { index: 0, size: 8, leafHash, proof, root };
    const junk = [null, 'x'.repeat(32), Array.from({ length: 32 }, () => 0)] as unknown[];
    for (const bad of junk) {
      const asHash = bad as Uint8Array;
      assertRefused(verifyInclusion({ ...claim, root: asHash }), 'audit.bad_proof', `${bad}`);
      assertRefused(
        verifyInclusion({ ...claim, proof: [asHash, ...proof.slice(1)] }),
        'audit.bad_proof',
        `${bad}`,
      );
    }
    assertRefused(
      verifyInclusion({ ...claim, proof: null as unknown as Uint8Array[] }),
      'audit.bad_proof',
      'a null proof',
    );
  });

  it('refuses a proof of the wrong length before hashing it', () => {
    const claim = {
      index: 0,
      size: 8,
      leafHash: hashLeaf(LEAVES[0]!),
      proof: [...INCLUSION_VECTORS[0]!.proof.map(hex), hex(ROOTS[8]!)],
      root: hex(ROOTS[8]!),
    };
    const inclusion = verifyInclusion(claim);
    assert.match(inclusion.ok ? '' : inclusion.error.message, /has 3 hashes, not 4/);
    const consistency = verifyConsistency({
      size1: 6,
      size2: 8,
      root1: hex(ROOTS[6]!),
      root2: hex(ROOTS[8]!),
      proof: [...CONSISTENCY_VECTORS[1]!.proof.map(hex), hex(ROOTS[8]!)],
    });
    assert.match(consistency.ok ? '' : consistency.error.message, /has 3 hashes, not 4/);
  });

  it('checks proof lengths with sizes past 32 bits', () => {
    // Bitwise operators would wrap these sizes; the expected lengths are 40 + 1 and
    // 0 + 52 (inner + border) hashes.
    const size = 2 ** 41;
    const index = 2 ** 40 + 3;
    const random = (n: number) => Array.from({ length: n }, (_, i) => hashLeaf(text(`${i}`)));
    const claim = { index, size, leafHash: hashLeaf(text('x')), root: emptyTreeRoot() };
    const short = verifyInclusion({ ...claim, proof: random(40) });
    assertRefused(short, 'audit.bad_proof', 'a 40-hash proof');
    assert.match(short.ok ? '' : short.error.message, /has 41 hashes/);
    const full = verifyInclusion({ ...claim, proof: random(41) });
    assert.match(full.ok ? '' : full.error.message, /does not lead to the root/);
    const biggest = verifyInclusion({
      ...claim,
      index: 2 ** 53 - 2,
      size: 2 ** 53 - 1,
      proof: random(2),
    });
    assert.match(biggest.ok ? '' : biggest.error.message, /has 52 hashes/);
  });

  it('matches RFC 6962 over a thousand leaves, for every prefix and sampled proofs', () => {
    const leaves = Array.from({ length: 1000 }, (_, i) => text(`event ${i}`));
    const tree = treeOf(leaves);
    for (const size of [1, 2, 3, 255, 256, 257, 511, 512, 513, 999, 1000]) {
      const root = unwrap(tree.root(size));
      assert.deepEqual(root, referenceRoot(leaves.slice(0, size)), `root of ${size}`);
      for (const index of new Set(
        [0, 1, size >> 1, size - 2, size - 1].filter((i) => i >= 0 && i < size),
      )) {
        const proof = unwrap(tree.inclusionProof(index, size));
        const leafHash = hashLeaf(leaves[index]!);
        assert.ok(verifyInclusion({ index, size, leafHash, proof, root }).ok, `${index}/${size}`);
      }
      for (const size1 of new Set(
        [1, 2, 7, 128, size >> 1, size - 1].filter((s) => s >= 1 && s <= size),
      )) {
        const proof = unwrap(tree.consistencyProof(size1, size));
        const root1 = unwrap(tree.root(size1));
        assert.ok(verifyConsistency({ size1, size2: size, root1, root2: root, proof }).ok);
      }
    }
  });

  it('refuses to prove what the tree does not hold', () => {
    const tree = treeOf(LEAVES);
    assertRefused(tree.root(9), 'audit.bad_range', 'root of 9');
    assertRefused(tree.inclusionProof(8, 8), 'audit.bad_range', 'leaf 8 of 8');
    assertRefused(tree.inclusionProof(0, 9), 'audit.bad_range', 'leaf 0 of 9');
    assertRefused(tree.inclusionProof(0, 0), 'audit.bad_range', 'leaf 0 of 0');
    assertRefused(tree.consistencyProof(0, 8), 'audit.bad_range', '0 -> 8');
    assertRefused(tree.consistencyProof(5, 4), 'audit.bad_range', '5 -> 4');
    assertRefused(tree.consistencyProof(4, 9), 'audit.bad_range', '4 -> 9');
  });
});
