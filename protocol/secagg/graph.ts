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

/** A degree and threshold for n sites: k = min(n - 1, 2 ceil(log2 n) + 2), t = floor(k/2) + 1. */
export function defaultDegree(sites: number): { degree: number; threshold: number } {
  const degree = Math.max(1, Math.min(sites - 1, 2 * Math.ceil(Math.log2(Math.max(2, sites))) + 2));
  return { degree, threshold: Math.floor(degree / 2) + 1 };
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
