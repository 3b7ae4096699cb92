import type { PartialEntry, PartialTerms } from '../../aggregation/fold-terms.js';
import { fail, ok, type Result } from '../../../protocol/index.js';
import type { FoldedUpdate } from './round-fold.js';

/** One attempt of one run's round. */
export interface AttemptRef {
  readonly runId: string;
  readonly round: number;
  /** 0-based. */
  readonly attempt: number;
}

/**
 * What an edge sums an attempt's updates under: a plain attempt's terms (partial-sum.ts), or a
 * secure attempt's masked inputs, which add mod 2^32 whoever adds them (SecAgg+ recovers the
 * survivors' sum, not their inputs).
 */
export type EdgeTerms = PartialTerms | { readonly kind: 'masked'; readonly dimension: number };

/** What an edge node needs to fold an attempt's updates: the model they apply to, and the terms. */
export interface FoldAttempt extends AttemptRef {
  readonly modelVersion: number;
  /** Content hash (hex) of the global model blob, which the store holds. */
  readonly modelHash: string;
  readonly terms: EdgeTerms;
  /** The most examples an update may claim (the run's maxExamplesPerSite). */
  readonly maxExamples?: number | undefined;
}

/**
 * An edge's sum as it crosses the bus: a float32 tensor blob (plain) or uint32 values (masked),
 * and the updates in it (a masked input's norm is unknown, and given as 0).
 */
export interface RawPartial {
  readonly bytes: Uint8Array;
  readonly entries: readonly PartialEntry[];
}

/**
 * The edge nodes that fold their sites' updates for this leader (hierarchical aggregation):
 * told each attempt's terms when it opens, asked for their partial sums when it closes.
 */
export interface EdgePartials {
  /** Tells every live edge the attempt's terms: from now on they fold its updates under them. */
  announce(fold: FoldAttempt): void;
  /**
   * The partial sum `edge` holds of exactly `sites`' updates to the attempt; fails when the edge
   * is gone or silent, or holds other updates, and the leader then refolds from the store.
   */
  gather(edge: string, attempt: AttemptRef, sites: readonly string[]): Promise<Result<RawPartial>>;
}

/** How an attempt reaches the edge nodes that fold for it, and the bytes they staged. */
export interface FoldEdges {
  readonly partials: EdgePartials;
  readonly attempt: Omit<FoldAttempt, 'terms'>;
  /** The bytes an edge staged for the site's update, or undefined when it staged none. */
  readonly readStaged: (site: string, blobHash: string) => Promise<Uint8Array | undefined>;
}

/** How the edges' updates reached the sum: in how many edges' sums, or refolded here. */
export interface Gathered {
  readonly edges: number;
  readonly partial: number;
  readonly refolded: number;
}

interface AtEdge {
  readonly site: string;
  readonly numExamples: number;
  readonly blobHash: string;
}

/**
 * The updates edge nodes folded for one attempt, by edge, and their collection at its close:
 * each edge's sum is added, and whatever an edge cannot give (it died, or its sum holds an
 * update this leader did not keep) is refolded from the bytes it staged, so every acknowledged
 * update is in the aggregate once. An update an edge folded under another attempt's terms is
 * refolded too.
 */
export class EdgeContributions {
  private readonly atEdges = new Map<string, AtEdge[]>();
  private readonly elsewhere: AtEdge[] = [];

  constructor(private readonly edges: FoldEdges) {}

  /** Announces the attempt's terms to the edges. */
  static open(edges: FoldEdges, terms: EdgeTerms): EdgeContributions {
    edges.partials.announce({ ...edges.attempt, terms });
    return new EdgeContributions(edges);
  }

  get any(): boolean {
    return this.atEdges.size > 0 || this.elsewhere.length > 0;
  }

  record(site: string, update: Extract<FoldedUpdate, { atEdge: unknown }>): void {
    const entry = { site, numExamples: update.numExamples, blobHash: update.blobHash };
    const { edge, attempt } = update.atEdge;
    if (attempt !== this.edges.attempt.attempt) this.elsewhere.push(entry);
    else this.atEdges.set(edge, [...(this.atEdges.get(edge) ?? []), entry]);
  }

  /**
   * Adds each edge's sum with `add`, and refolds with `refold` what no edge can give. An
   * acknowledged update found nowhere fails the gather rather than being left out.
   */
  async gather(
    add: (partial: RawPartial) => Result<unknown>,
    refold: (site: string, bytes: Uint8Array, numExamples: number) => Result<unknown>,
  ): Promise<Result<Gathered>> {
    const { partials, attempt, readStaged } = this.edges;
    const missing = [...this.elsewhere];
    const answers = await Promise.all(
      [...this.atEdges].map(async ([edge, entries]) => ({
        entries,
        partial: await partials.gather(
          edge,
          attempt,
          entries.map((e) => e.site),
        ),
      })),
    );
    let edges = 0;
    for (const { entries, partial } of answers) {
      if (partial.ok && add(partial.value).ok) edges++;
      else missing.push(...entries);
    }
    for (const { site, blobHash, numExamples } of missing) {
      const bytes = await readStaged(site, blobHash);
      if (!bytes) return fail('store.unavailable', `the update of ${site} was staged nowhere`);
      const folded = refold(site, bytes, numExamples);
      if (!folded.ok) return folded;
    }
    const atEdges = [...this.atEdges.values()].reduce((n, entries) => n + entries.length, 0);
    return ok({
      edges,
      partial: atEdges + this.elsewhere.length - missing.length,
      refolded: missing.length,
    });
  }
}

/** The audit entry of a gather: where the updates were summed, edges' sums or refolds here. */
export function gatheredEvent({ edges, partial, refolded }: Gathered) {
  return { event: 'round.gathered', edges, partial_updates: partial, refolded };
}
