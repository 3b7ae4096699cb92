import { fail, ok, type Result } from '../errors.js';
import type { Sodium } from '../sodium.js';
import { MAX_SHARES } from './shamir.js';
import { encodeFields } from './round-context.js';

/**
 * The SecAgg+ communication graph (Bell et al. 2020, as Flower builds it): the sorted site names
 * are shuffled by a seeded, unbiased Fisher-Yates, laid on a ring, and each site is linked to
 * the k/2 sites on each side (a circulant graph, k-regular). Every party computes it alone from
 * (run seed, round, attempt, participants), so a coordinator cannot hand sites different graphs
 * without them disagreeing on who their neighbours are.
 *
 * k is rounded up to an even number; at k >= n - 1 the graph is complete (degree n - 1).
 * A site's shares go only to its neighbours, and the share index a neighbour holds is its
 * 1-based position in the owner's neighbour list, so k is at most 255 (GF(2^8) Shamir).
 *
 * The threshold t must satisfy k/2 < t <= k: more than half the neighbourhood must answer, so
 * a coordinator cannot split the neighbours into two groups and collect t shares of each kind
 * for one site (Bonawitz et al. 2017, section 4, honest-majority requirement).
 */
export interface GraphParams {
  /** The run's seed (RunSpec.seed). */
  readonly seed: number;
  readonly round: number;
  readonly attempt: number;
  readonly participants: readonly string[];
  /** The requested degree k (neighbours per site). */
  readonly degree: number;
  readonly threshold: number;
}

export interface NeighbourGraph {
  /** The sites in ring order (the seeded shuffle). */
  readonly order: readonly string[];
  /** The actual degree: k rounded up to even, or n - 1 for a complete graph. */
  readonly degree: number;
  readonly threshold: number;
  /** Each site's neighbours; a neighbour's share index is its position here plus one. */
  readonly neighbours: ReadonlyMap<string, readonly string[]>;
}

const GRAPH_LABEL = 'fedistill/1 secagg graph';

/** The degree a ring of n sites gets for a requested degree: rounded up to even, at most n - 1. */
export function ringDegree(sites: number, degree: number): number {
  return degree >= sites - 1 ? sites - 1 : Math.min(sites - 1, degree + (degree % 2));
}

/** k and t as they will be used for n sites, or why they cannot be. */
export function effectiveDegree(
  sites: number,
  degree: number,
  threshold: number,
): Result<{ degree: number; threshold: number }> {
  if (!Number.isInteger(sites) || sites < 2) {
    return fail('secagg.bad_parameters', `${sites} sites; secure aggregation needs at least 2`);
  }
  if (!Number.isInteger(degree) || degree < 1) {
    return fail('secagg.bad_parameters', `degree ${degree} is not a positive integer`);
  }
  const k = ringDegree(sites, degree);
  if (k > MAX_SHARES) {
    return fail('secagg.bad_parameters', `degree ${k} is over ${MAX_SHARES} (GF(2^8) shares)`);
  }
  if (!Number.isInteger(threshold) || threshold > k || 2 * threshold <= k) {
    return fail(
      'secagg.bad_parameters',
      `threshold ${threshold} is not in ${Math.floor(k / 2) + 1}..${k} for degree ${k}`,
    );
  }
  return ok({ degree: k, threshold });
}

/** What a round's graph is sized against (PROTOCOL.md section 11.1). */
export interface GraphThreat {
  /** The share of a round's sites that may collude with the coordinator (gamma). */
  readonly corruptFraction: number;
  /** The share that may drop between sharing keys and unmasking (delta). */
  readonly dropoutFraction: number;
  /** The most probability, over the whole round, that some neighbourhood breaks either bound. */
  readonly failureProbability: number;
}

export const DEFAULT_GRAPH_THREAT: GraphThreat = {
  corruptFraction: 0.05,
  dropoutFraction: 0.1,
  failureProbability: 2 ** -20,
};

/** P(X >= x) for X ~ Binomial(k, p), summed from the pmf's recurrence. */
export function binomialTail(k: number, p: number, x: number): number {
  if (x <= 0) return 1;
  if (x > k) return 0;
  let pmf = (1 - p) ** k;
  let tail = 0;
  for (let i = 0; i < k; i++) {
    if (i >= x) tail += pmf;
    pmf *= ((k - i) / (i + 1)) * (p / (1 - p));
  }
  return tail + pmf;
}

/**
 * The smallest even degree k, with t = floor(k/2) + 1, for which a union bound over the n sites
 * keeps below `failureProbability` both that some site has t or more corrupt neighbours (which
 * could rebuild its secrets) and that some site keeps fewer than t live ones (its secrets would
 * be lost): Bell et al. 2020's sizing, each neighbour corrupt or dropped independently. Where no
 * such k is below n - 1, the graph is complete.
 */
export function degreeFor(
  sites: number,
  threat: GraphThreat = DEFAULT_GRAPH_THREAT,
): { degree: number; threshold: number } {
  const { corruptFraction, dropoutFraction, failureProbability } = threat;
  for (let k = 2; k < sites - 1; k += 2) {
    const t = Math.floor(k / 2) + 1;
    const corrupt = sites * binomialTail(k, corruptFraction, t);
    const lost = sites * binomialTail(k, dropoutFraction, k - t + 1);
    if (corrupt <= failureProbability && lost <= failureProbability)
      return { degree: k, threshold: t };
  }
  const complete = Math.max(1, sites - 1);
  return { degree: complete, threshold: Math.floor(complete / 2) + 1 };
}

export function neighbourGraph(sodium: Sodium, params: GraphParams): Result<NeighbourGraph> {
  const sorted = [...params.participants].sort();
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i] === sorted[i - 1]) {
      return fail('secagg.duplicate', `participant ${sorted[i]} is listed twice`);
    }
  }
  const k = effectiveDegree(sorted.length, params.degree, params.threshold);
  if (!k.ok) return k;
  const { degree, threshold } = k.value;

  const key = sodium.crypto_generichash(
    32,
    encodeFields(GRAPH_LABEL, String(params.seed), params.round, params.attempt, ...sorted),
    null,
  );
  const order = shuffle(sodium, sorted, key);
  const n = order.length;
  const neighbours = new Map<string, string[]>();
  order.forEach((site, position) => {
    const list: string[] = [];
    if (degree === n - 1) {
      for (let step = 1; step < n; step++) list.push(order[(position + step) % n]!);
    } else {
      for (let step = degree / 2; step >= 1; step--) list.push(order[(position - step + n) % n]!);
      for (let step = 1; step <= degree / 2; step++) list.push(order[(position + step) % n]!);
    }
    neighbours.set(site, list);
  });
  return ok({ order, degree, threshold, neighbours });
}

/** Fisher-Yates driven by ChaCha20 output under `key`, with rejection so each swap is uniform. */
function shuffle(sodium: Sodium, items: readonly string[], key: Uint8Array): string[] {
  const out = [...items];
  let block = 0;
  let words = new Uint32Array(0);
  let next = 0;
  const draw = (): number => {
    if (next === words.length) {
      const blockKey = sodium.crypto_generichash(32, encodeFields('block', block++), key);
      const bytes = sodium.randombytes_buf_deterministic(4 * 256, blockKey);
      words = new Uint32Array(256);
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (let i = 0; i < 256; i++) words[i] = view.getUint32(4 * i, true);
      next = 0;
    }
    return words[next++]!;
  };
  for (let i = out.length - 1; i > 0; i--) {
    const bound = i + 1;
    const limit = Math.floor(2 ** 32 / bound) * bound;
    let r = draw();
    while (r >= limit) r = draw();
    const j = r % bound;
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
