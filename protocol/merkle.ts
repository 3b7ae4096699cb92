import { createHash } from 'node:crypto';
import { fail, ok, type Result } from './errors.js';

/**
 * The Merkle tree of RFC 6962 section 2.1 (kept unchanged by RFC 9162): SHA-256, leaves hashed
 * as H(0x00 || data), interior nodes as H(0x01 || left || right), the empty tree as H(). The
 * prefixes keep a leaf from passing for a node (second-preimage resistance). Proof verification
 * follows transparency-dev/merkle `proof/verify.go`; every proof is refused unless its length is
 * exactly the one its sizes imply, so no hash in it goes unchecked.
 */

export const MERKLE_HASH_BYTES = 32;

const LEAF_PREFIX = Uint8Array.of(0x00);
const NODE_PREFIX = Uint8Array.of(0x01);

function sha256(...parts: readonly Uint8Array[]): Uint8Array {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return new Uint8Array(hash.digest());
}

export function hashLeaf(data: Uint8Array): Uint8Array {
  return sha256(LEAF_PREFIX, data);
}

export function hashChildren(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256(NODE_PREFIX, left, right);
}

/** MTH({}): the root of the tree with no leaves. */
export function emptyTreeRoot(): Uint8Array {
  return sha256();
}

/** RFC 6962's split point k: the largest power of two strictly below n (n >= 2). */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** One level of the tree: 32-byte hashes packed in one growing buffer, not an object each. */
class HashColumn {
  private bytes = new Uint8Array(MERKLE_HASH_BYTES * 64);
  length = 0;

  push(hash: Uint8Array): void {
    if ((this.length + 1) * MERKLE_HASH_BYTES > this.bytes.length) {
      const grown = new Uint8Array(this.bytes.length * 2);
      grown.set(this.bytes);
      this.bytes = grown;
    }
    this.bytes.set(hash, this.length * MERKLE_HASH_BYTES);
    this.length += 1;
  }

  at(index: number): Uint8Array {
    const start = index * MERKLE_HASH_BYTES;
    return this.bytes.slice(start, start + MERKLE_HASH_BYTES);
  }
}

/**
 * An append-only RFC 6962 tree. It keeps the hash of every complete (power-of-two, aligned)
 * subtree, about two hashes per leaf, so the root of any prefix costs O(log n) hashes and a
 * proof O(log^2 n), and appending costs O(1) amortised. Proof order is RFC 6962's PATH and
 * SUBPROOF: from the leaf side up.
 */
export class MerkleTree {
  /** levels[h][i] = MTH of leaves [i * 2^h, (i + 1) * 2^h). */
  private readonly levels: HashColumn[] = [new HashColumn()];

  get size(): number {
    return this.levels[0]!.length;
  }

  /** Appends a leaf (its data, not its hash) and returns its index. */
  append(data: Uint8Array): number {
    const index = this.size;
    let hash = hashLeaf(data);
    for (let level = 0; ; level += 1) {
      const column = (this.levels[level] ??= new HashColumn());
      column.push(hash);
      if (column.length % 2 === 1) break;
      hash = hashChildren(column.at(column.length - 2), hash);
    }
    return index;
  }

  /** MTH of the first `size` leaves: the root a tree head of that size signs. */
  root(size = this.size): Result<Uint8Array> {
    if (!isIndexBelow(size, this.size + 1)) {
      return fail('audit.bad_range', `no prefix of ${size} leaves in a tree of ${this.size}`);
    }
    return ok(size === 0 ? emptyTreeRoot() : this.subtree(0, size));
  }

  /** RFC 6962 PATH(index, D[0:size]). */
  inclusionProof(index: number, size: number): Result<Uint8Array[]> {
    if (!isIndexBelow(size, this.size + 1) || !isIndexBelow(index, size)) {
      return fail('audit.bad_range', `no leaf ${index} of ${size} in a tree of ${this.size}`);
    }
    const topDown: Uint8Array[] = [];
    let [lo, hi] = [0, size];
    while (hi - lo > 1) {
      const mid = lo + splitPoint(hi - lo);
      if (index < mid) {
        topDown.push(this.subtree(mid, hi));
        hi = mid;
      } else {
        topDown.push(this.subtree(lo, mid));
        lo = mid;
      }
    }
    return ok(topDown.reverse());
  }

  /** RFC 6962 PROOF(size1, D[0:size2]); sizes 0 < size1 <= size2 (the empty tree needs none). */
  consistencyProof(size1: number, size2: number): Result<Uint8Array[]> {
    if (!isIndexBelow(size2, this.size + 1) || !isIndexBelow(size1 - 1, size2)) {
      return fail(
        'audit.bad_range',
        `no consistency proof from ${size1} to ${size2} in a tree of ${this.size}`,
      );
    }
    const topDown: Uint8Array[] = [];
    let [lo, hi, old] = [0, size2, size1];
    // While lo is 0, the subtree the walk ends on is the old tree itself, whose root the verifier
    // already has, so it is left out (RFC 6962 SUBPROOF's flag b).
    let prefix = true;
    while (old !== hi - lo) {
      const k = splitPoint(hi - lo);
      if (old <= k) {
        topDown.push(this.subtree(lo + k, hi));
        hi = lo + k;
      } else {
        topDown.push(this.subtree(lo, lo + k));
        lo += k;
        old -= k;
        prefix = false;
      }
    }
    if (!prefix) topDown.push(this.subtree(lo, hi));
    return ok(topDown.reverse());
  }

  /** MTH(D[lo:hi]) for 0 <= lo < hi <= size, from stored complete subtrees where they fit. */
  private subtree(lo: number, hi: number): Uint8Array {
    const n = hi - lo;
    // Bitwise tests are exact below 2^31; no in-memory level holds a larger subtree anyway.
    if (n <= 2 ** 30 && (n & (n - 1)) === 0 && lo % n === 0) {
      return this.levels[Math.log2(n)]!.at(lo / n);
    }
    const mid = lo + splitPoint(n);
    return hashChildren(this.subtree(lo, mid), this.subtree(mid, hi));
  }
}

/** A safe integer in [0, bound): sizes and indices from outside may be anything. */
function isIndexBelow(value: number, bound: number): boolean {
  return Number.isSafeInteger(value) && value >= 0 && value < bound;
}

function isHash(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array && value.length === MERKLE_HASH_BYTES;
}

function sameHash(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

export interface InclusionClaim {
  readonly index: number;
  readonly size: number;
  readonly leafHash: Uint8Array;
  readonly proof: readonly Uint8Array[];
  readonly root: Uint8Array;
}

export interface ConsistencyClaim {
  readonly size1: number;
  readonly size2: number;
  readonly root1: Uint8Array;
  readonly root2: Uint8Array;
  readonly proof: readonly Uint8Array[];
}

// Bit arithmetic on sizes is done in bigint: JavaScript's bitwise operators truncate to 32 bits.
function bitLength(x: bigint): number {
  return x === 0n ? 0 : x.toString(2).length;
}

function popCount(x: bigint): number {
  return x.toString(2).replaceAll('0', '').length;
}

function trailingZeros(x: bigint): number {
  const bits = x.toString(2);
  return bits.length - 1 - bits.lastIndexOf('1');
}

/** How an inclusion path splits: `inner` hashes below the right border, `border` along it. */
function decompose(index: bigint, size: bigint): { inner: number; border: number } {
  const inner = bitLength(index ^ (size - 1n));
  return { inner, border: popCount(index >> BigInt(inner)) };
}

function chainInner(seed: Uint8Array, proof: readonly Uint8Array[], index: bigint): Uint8Array {
  return proof.reduce(
    (hash, sibling, i) =>
      ((index >> BigInt(i)) & 1n) === 0n
        ? hashChildren(hash, sibling)
        : hashChildren(sibling, hash),
    seed,
  );
}

/** As chainInner, but only the left siblings: the hash of the same subtree in the older tree. */
function chainInnerRight(
  seed: Uint8Array,
  proof: readonly Uint8Array[],
  index: bigint,
): Uint8Array {
  return proof.reduce(
    (hash, sibling, i) => (((index >> BigInt(i)) & 1n) === 1n ? hashChildren(sibling, hash) : hash),
    seed,
  );
}

function chainBorderRight(seed: Uint8Array, proof: readonly Uint8Array[]): Uint8Array {
  return proof.reduce((hash, sibling) => hashChildren(sibling, hash), seed);
}

/** Why the hashes of a claim are malformed, or undefined when they are all 32 bytes. */
function checkHashes(
  claim: { readonly proof: readonly Uint8Array[] },
  roots: readonly unknown[],
): string | undefined {
  if (!roots.every(isHash)) return `a hash is not ${MERKLE_HASH_BYTES} bytes`;
  if (!Array.isArray(claim.proof) || !claim.proof.every(isHash)) {
    return `a proof is a list of ${MERKLE_HASH_BYTES}-byte hashes`;
  }
  return undefined;
}

/** Whether `leafHash` is leaf `index` of the tree of `size` leaves whose root is `root`. */
export function verifyInclusion(claim: InclusionClaim): Result<true> {
  const { index, size, leafHash, proof, root } = claim;
  if (!isIndexBelow(size, Number.MAX_SAFE_INTEGER + 1) || !isIndexBelow(index, size)) {
    return fail('audit.bad_proof', `no leaf ${index} in a tree of ${size}`);
  }
  const malformed = checkHashes(claim, [leafHash, root]);
  if (malformed !== undefined) return fail('audit.bad_proof', malformed);
  const { inner, border } = decompose(BigInt(index), BigInt(size));
  if (proof.length !== inner + border) {
    return fail(
      'audit.bad_proof',
      `an inclusion proof for leaf ${index} of ${size} has ${inner + border} hashes, not ${proof.length}`,
    );
  }
  const computed = chainBorderRight(
    chainInner(leafHash, proof.slice(0, inner), BigInt(index)),
    proof.slice(inner),
  );
  return sameHash(computed, root)
    ? ok(true)
    : fail('audit.bad_proof', `the inclusion proof for leaf ${index} does not lead to the root`);
}

/**
 * Whether the tree of `size2` leaves with `root2` extends the tree of `size1` leaves with
 * `root1`. Both roots are recomputed from the proof; accepting a proof that checks only the new
 * root is the immudb client bug (GHSA-672p-m5jq-mrh8). Sizes must satisfy 0 < size1 <= size2;
 * equal sizes need an empty proof and equal roots.
 */
export function verifyConsistency(claim: ConsistencyClaim): Result<true> {
  const { size1, size2, root1, root2, proof } = claim;
  if (!isIndexBelow(size2, Number.MAX_SAFE_INTEGER + 1) || !isIndexBelow(size1, size2 + 1)) {
    return fail('audit.bad_proof', `no consistency proof from size ${size1} to size ${size2}`);
  }
  if (size1 === 0) {
    return fail('audit.bad_proof', 'a consistency proof from the empty tree proves nothing');
  }
  const malformed = checkHashes(claim, [root1, root2]);
  if (malformed !== undefined) return fail('audit.bad_proof', malformed);
  if (size1 === size2) {
    return proof.length === 0 && sameHash(root1, root2)
      ? ok(true)
      : fail('audit.bad_proof', `two trees of ${size1} leaves need equal roots and no proof`);
  }
  const [old, size] = [BigInt(size1), BigInt(size2)];
  const decomposed = decompose(old - 1n, size);
  const shift = trailingZeros(old);
  const inner = decomposed.inner - shift;
  // The old root is itself a complete subtree when size1 is a power of two: no seed is sent.
  const oldIsComplete = old === 1n << BigInt(shift);
  const start = oldIsComplete ? 0 : 1;
  const expected = start + inner + decomposed.border;
  if (proof.length !== expected) {
    return fail(
      'audit.bad_proof',
      `a consistency proof from ${size1} to ${size2} has ${expected} hashes, not ${proof.length}`,
    );
  }
  const seed = oldIsComplete ? root1 : proof[0]!;
  const path = proof.slice(start);
  const mask = (old - 1n) >> BigInt(shift);
  const oldRoot = chainBorderRight(
    chainInnerRight(seed, path.slice(0, inner), mask),
    path.slice(inner),
  );
  if (!sameHash(oldRoot, root1)) {
    return fail('audit.bad_proof', `the consistency proof does not lead to the root of ${size1}`);
  }
  const newRoot = chainBorderRight(chainInner(seed, path.slice(0, inner), mask), path.slice(inner));
  return sameHash(newRoot, root2)
    ? ok(true)
    : fail('audit.bad_proof', `the consistency proof does not lead to the root of ${size2}`);
}
