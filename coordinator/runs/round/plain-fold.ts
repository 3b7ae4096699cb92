import {
  decodeTensorBlob,
  fail,
  ok,
  type NamedTensor,
  type Result,
} from '../../../protocol/index.js';
import type { AggregationStrategy } from '../../aggregation/strategy.js';
import type { FoldedUpdate, RoundFold, StageEnd } from './round-fold.js';

/** An attempt aggregated in the clear by the run's strategy (FedAvg, DP-FedAvg, a robust rule). */
export class PlainFold implements RoundFold {
  readonly roundStart = {};
  readonly resumable = true;
  readonly stage = 'updates';
  private acc: unknown;
  private folded = 0;

  constructor(
    private readonly strategy: AggregationStrategy<unknown>,
    global: readonly NamedTensor[],
    /** Fewer updates than this and the attempt fails: nothing is applied. */
    private readonly quorum: number,
  ) {
    this.acc = strategy.begin(global);
  }

  update(site: string, update: FoldedUpdate): Result<true> {
    // Every strategy's fold refuses NaN and infinities; the mean family in its summing pass.
    const delta = decodeTensorBlob(update.bytes, { finiteCheck: 'caller' });
    if (!delta.ok) return delta;
    const folded = this.strategy.fold(this.acc, {
      site,
      delta: delta.value,
      numExamples: update.numExamples,
    });
    if (!folded.ok) return folded;
    this.acc = folded.value;
    this.folded++;
    return ok(true);
  }

  step(): Result<true> {
    return fail('protocol.unexpected_message', 'secure aggregation steps in a plain round');
  }

  endStage(): StageEnd {
    const model = this.folded >= this.quorum ? this.strategy.close(this.acc) : undefined;
    if (!model) {
      return { result: { ok: false, reason: `${this.folded} of ${this.quorum} required updates` } };
    }
    const audit = (this.strategy.bounded?.(this.acc) ?? []).map((b) => ({
      event: 'update.bounded',
      site: b.site,
      norm: b.norm,
      max_norm: b.maxNorm,
      num_examples: b.numExamples,
      weight: b.weight,
    }));
    return { result: { ok: true, model, audit } };
  }

  end(): void {}
}
