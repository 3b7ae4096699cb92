import {
  decodeTensorBlob,
  fail,
  ok,
  type NamedTensor,
  type Result,
} from '../../../protocol/index.js';
import type { AggregationStrategy } from '../../aggregation/strategy.js';
import type { AuditEvent } from '../../events/coordinator-events.js';
import {
  EdgeContributions,
  gatheredEvent,
  type FoldEdges,
  type Gathered,
  type RawPartial,
} from './edge-partials.js';
import type { FoldedUpdate, FoldResult, RoundFold, StageEnd } from './round-fold.js';

/**
 * An attempt aggregated in the clear by the run's strategy (FedAvg, DP-FedAvg, a robust rule).
 * With edge nodes and a strategy whose terms are fixed when the attempt opens, the edges fold
 * their sites' updates into partial sums, which the leader adds at the close (edge-partials.ts).
 */
export class PlainFold implements RoundFold {
  readonly roundStart = {};
  readonly resumable = true;
  readonly stage = 'updates';
  private acc: unknown;
  private folded = 0;
  /** The updates edges folded, when the strategy's terms let them. */
  private readonly atEdges: EdgeContributions | undefined;

  constructor(
    private readonly strategy: AggregationStrategy<unknown>,
    global: readonly NamedTensor[],
    /** Fewer updates than this and the attempt fails: nothing is applied. */
    private readonly quorum: number,
    edges?: FoldEdges,
  ) {
    this.acc = strategy.begin(global);
    const terms = strategy.partialTerms?.(this.acc);
    this.atEdges = edges && terms && EdgeContributions.open(edges, terms);
  }

  update(site: string, update: FoldedUpdate): Result<true> {
    if ('atEdge' in update) {
      if (!this.atEdges) return fail('protocol.unexpected_message', 'no edge folds this attempt');
      this.atEdges.record(site, update);
    } else {
      const folded = this.foldBytes(site, update.bytes, update.numExamples);
      if (!folded.ok) return folded;
    }
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

  /** Adds an edge's partial sum, made under this attempt's terms. */
  private addPartial({ bytes, entries }: RawPartial): Result<true> {
    const sum = decodeTensorBlob(bytes);
    if (!sum.ok) return sum;
    const added = this.strategy.foldPartial?.(this.acc, { sum: sum.value, entries });
    if (!added?.ok) return added ?? fail('protocol.unexpected_message', 'no partial sums here');
    this.acc = added.value;
    return ok(true);
  }

  step(): Result<true> {
    return fail('protocol.unexpected_message', 'secure aggregation steps in a plain round');
  }

  endStage(): StageEnd | Promise<StageEnd> {
    if (this.folded < this.quorum) {
      return { result: { ok: false, reason: `${this.folded} of ${this.quorum} required updates` } };
    }
    if (!this.atEdges?.any) return { result: this.close() };
    return this.atEdges
      .gather(
        (partial) => this.addPartial(partial),
        (site, bytes, numExamples) => this.foldBytes(site, bytes, numExamples),
      )
      .then(
        (gathered) => ({ result: this.close(gathered) }),
        (error: Error) => ({ result: { ok: false, reason: error.message } }),
      );
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
    if (gathered) audit.push(gatheredEvent(gathered.value));
    return { ok: true, model, audit };
  }

  end(): void {}
}
