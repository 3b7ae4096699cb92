import { range, shuffleInPlace } from '../../protocol/index.js';

/** A standard normal draw (Box-Muller). */
function normal(random: () => number): number {
  const u = 1 - random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** A Gamma(shape, 1) draw (Marsaglia & Tsang 2000; shape < 1 boosted by U^(1/shape)). */
export function gammaSample(shape: number, random: () => number): number {
  if (shape < 1) return gammaSample(shape + 1, random) * Math.pow(1 - random(), 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = normal(random);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = 1 - random();
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}

export function dirichletSample(alpha: number, k: number, random: () => number): number[] {
  const draws = range(k).map(() => gammaSample(alpha, random));
  const total = draws.reduce((a, b) => a + b, 0);
  return draws.map((g) => g / total);
}

/**
 * Cuts `items` into consecutive pieces in proportion to `shares` (which sum to 1): each cut falls
 * at the rounded cumulative share, so the pieces' sizes add up to the whole; the last takes the rest.
 */
export function cutByShares<T>(items: readonly T[], shares: readonly number[]): T[][] {
  let start = 0;
  let cumulative = 0;
  return shares.map((share, i) => {
    cumulative += share;
    const end = i === shares.length - 1 ? items.length : Math.round(cumulative * items.length);
    const piece = items.slice(start, end);
    start = end;
    return piece;
  });
}

/**
 * Non-IID label skew (Hsu, Qi & Brown 2019, arXiv 1909.06335): for each class, the class's
 * rows are shared among the sites in proportions drawn from Dirichlet(alpha). The draw is
 * repeated until every site holds at least `minRows` rows.
 */
export function dirichletPartition({
  labels,
  sites,
  alpha,
  minRows,
  random,
}: {
  readonly labels: ArrayLike<number>;
  readonly sites: number;
  readonly alpha: number;
  readonly minRows: number;
  readonly random: () => number;
}): number[][] {
  const classes = new Map<number, number[]>();
  for (let i = 0; i < labels.length; i++) {
    const rows = classes.get(labels[i]!) ?? [];
    rows.push(i);
    classes.set(labels[i]!, rows);
  }
  for (let attempt = 0; attempt < 1000; attempt++) {
    const parts: number[][] = range(sites).map(() => []);
    for (const rows of [...classes.keys()].sort((a, b) => a - b).map((c) => classes.get(c)!)) {
      const shuffled = shuffleInPlace([...rows], random);
      const shares = dirichletSample(alpha, sites, random);
      cutByShares(shuffled, shares).forEach((piece, site) => parts[site]!.push(...piece));
    }
    if (parts.every((p) => p.length >= minRows)) return parts.map((p) => p.sort((a, b) => a - b));
  }
  throw new Error(
    `no Dirichlet(${alpha}) split of ${labels.length} rows gives ${sites} sites ${minRows} rows each`,
  );
}
