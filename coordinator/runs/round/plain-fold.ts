import {
  decodeTensorBlob,
  fail,
  ok,
  type NamedTensor,
  type Result,
} from '../../../protocol/index.js';
import type { AggregationStrategy } from '../../aggregation/strategy.js';
import type { AuditEvent } from '../../events/coordinator-events.js';
import type { EdgePartials, FoldAttempt } from './edge-partials.js';
import type { FoldedUpdate, FoldResult, RoundFold, StageEnd } from './round-fold.js';

/** How a plain attempt reaches the edge nodes that fold for it, and the bytes they staged. */
export interface PlainFoldEdges {
  readonly partials: EdgePartials;
  readonly attempt: Omit<FoldAttempt, 'terms'>;
  /** The bytes an edge staged for the site's update, or undefined when it staged none. */
  readonly readStaged: (site: string, blobHash: string) => Promise<Uint8Array | undefined>;
}

/** How the edges' updates reached the sum: in how many edges' partial sums, or refolded here. */
interface Gathered {
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
 * An attempt aggregated in the clear by the run's strategy (FedAvg, DP-FedAvg, a robust rule).
 * With edge nodes and a strategy whose terms are fixed when the attempt opens, the edges fold
 * their sites' updates into partial sums; at close the leader adds each edge's sum, and refolds
 * from the bytes the edges staged whatever an edge cannot give (it died, or holds an update the
 * leader did not keep), so every acknowledged update is in the model once.
 */
export class PlainFold implements RoundFold {
  readonly roundStart = {};
  readonly resumable = true;
  readonly stage = 'updates';
  private acc: unknown;
  private folded = 0;
  /** Updates folded at edges, by edge, under this attempt's terms. */
  private readonly atEdges = new Map<string, AtEdge[]>();
  /** Updates an edge folded under another attempt's terms: refolded here from the store. */
  private readonly elsewhere: AtEdge[] = [];

  constructor(
    private readonly strategy: AggregationStrategy<unknown>,
    global: readonly NamedTensor[],
    /** Fewer updates than this and the attempt fails: nothing is applied. */
    private readonly quorum: number,
    private readonly edges?: PlainFoldEdges,
  ) {
    this.acc = strategy.begin(global);
    const terms = strategy.partialTerms?.(this.acc);
    if (edges && terms) edges.partials.announce({ ...edges.attempt, terms });
  }

  update(site: string, update: FoldedUpdate): Result<true> {
    if ('atEdge' in update) {
      const entry = { site, numExamples: update.numExamples, blobHash: update.blobHash };
      const { edge, attempt } = update.atEdge;
      if (attempt !== this.edges?.attempt.attempt) this.elsewhere.push(entry);
      else this.atEdges.set(edge, [...(this.atEdges.get(edge) ?? []), entry]);
      this.folded++;
      return ok(true);
    }
    const folded = this.foldBytes(site, update.bytes, update.numExamples);
    if (!folded.ok) return folded;
    this.folded++;
    return ok(true);
  }

  /** Decodes and folds one update; every strategy's fold refuses NaN and infinities. */
  private foldBytes(site: string, bytes: Uint8Array, numExamples: number): Result<true> {
    const delta = decodeTensorBlob(bytes, { finiteCheck: 'caller' });
    if (!delta.ok) return delta;
    const folded = this.strategy.fold(this.acc, { site, delta: delta.value, numExamples });
    if (!folded.ok) return folded;
    this.acc = folded.value;
    return ok(true);
  }

  step(): Result<true> {
    return fail('protocol.unexpected_message', 'secure aggregation steps in a plain round');
  }

  endStage(): StageEnd {
    if (this.folded < this.quorum) {
      return { result: { ok: false, reason: `${this.folded} of ${this.quorum} required updates` } };
    }
    if (this.atEdges.size === 0 && this.elsewhere.length === 0) return { result: this.close() };
    return {
      result: this.gather().then(
        (gathered) => this.close(gathered),
        (error: Error): FoldResult => ({ ok: false, reason: error.message }),
      ),
    };
  }

  /**
   * Adds each edge's partial sum; what an edge cannot give is refolded from its staged bytes.
   * An acknowledged update found nowhere fails the attempt rather than leaving it out.
   */
  private async gather(): Promise<Result<Gathered>> {
    const { partials, attempt, readStaged } = this.edges!;
    const refold = [...this.elsewhere];
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
      const added = partial.ok && this.strategy.foldPartial?.(this.acc, partial.value);
      if (added && added.ok) {
        this.acc = added.value;
        edges++;
      } else refold.push(...entries);
    }
    for (const { site, blobHash, numExamples } of refold) {
      const bytes = await readStaged(site, blobHash);
      if (!bytes) return fail('store.unavailable', `the update of ${site} was staged nowhere`);
      const folded = this.foldBytes(site, bytes, numExamples);
      if (!folded.ok) return folded;
    }
    const atEdges = [...this.atEdges.values()].reduce((n, entries) => n + entries.length, 0);
    return ok({
      edges,
      partial: atEdges + this.elsewhere.length - refold.length,
      refolded: refold.length,
    });
  }

  private close(gathered?: Result<Gathered>): FoldResult {
    if (gathered && !gathered.ok) {
      return { ok: false, reason: gathered.error.message, issue: gathered.error };
    }
    const model = this.strategy.close(this.acc);
    if (!model) return { ok: false, reason: `${this.folded} of ${this.quorum} required updates` };
    const audit: AuditEvent[] = (this.strategy.bounded?.(this.acc) ?? []).map((b) => ({
      event: 'update.bounded',
      site: b.site,
      norm: b.norm,
      max_norm: b.maxNorm,
      num_examples: b.numExamples,
      weight: b.weight,
    }));
    if (gathered) {
      // Where the updates were summed: the auditor can tell the edges' sums from refolds.
      const { edges, partial, refolded } = gathered.value;
      audit.push({ event: 'round.gathered', edges, partial_updates: partial, refolded });
    }
    return { ok: true, model, audit };
  }

  end(): void {}
}
