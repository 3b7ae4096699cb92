import { Logger } from '@nestjs/common';
import {
  decodeTensorBlob,
  encodeTensorBlob,
  ok,
  toHex,
  type Result,
  type RoundUpdate,
} from '../../protocol/index.js';
import { PartialFold } from '../aggregation/partial-sum.js';
import { WeightedSumMemory } from '../aggregation/weighted-sum.js';
import type { AttemptRef, FoldAttempt } from '../runs/round/edge-partials.js';
import type { UpdateStore } from '../store/store.js';
import type { Envelope } from './node-bus.js';

interface OpenFold {
  readonly attempt: FoldAttempt;
  /** The partial sum, once the global model is read; undefined if it could not be. */
  readonly fold: Promise<PartialFold | undefined>;
}

/**
 * An edge node's partial sums, one open attempt per run: each update its sites send is checked
 * and folded here under the terms the leader announced, and its bytes are staged in the store
 * (a restarted leader, or one whose edge died, refolds from them) before the leader hears of it.
 * The leader adds the partial sums at the attempt's close, so it never handles those bytes.
 */
export class EdgeFolds {
  private readonly logger = new Logger('EdgeFolds');
  private readonly open = new Map<string, OpenFold>();
  /** One sum's memory per run: a run folds one attempt at a time. */
  private readonly memories = new Map<string, WeightedSumMemory>();

  constructor(
    /** A stored blob by content hash (hex); the global model the leader wrote. */
    private readonly readBlob: (hash: string) => Promise<Uint8Array>,
    private readonly updates: Pick<UpdateStore, 'stage'>,
  ) {}

  /** The leader opened an attempt: its run's previous partial sum is void from now on. */
  begin(attempt: FoldAttempt): void {
    const memory = this.memories.get(attempt.runId) ?? new WeightedSumMemory();
    this.memories.set(attempt.runId, memory);
    const fold = this.readBlob(attempt.modelHash).then(
      (bytes) => {
        const global = decodeTensorBlob(bytes);
        if (!global.ok) throw new Error(global.error.message);
        // The memory is the run's: only the latest attempt may start a sum in it.
        if (this.open.get(attempt.runId)?.attempt !== attempt) return undefined;
        return new PartialFold(global.value, attempt.terms, memory);
      },
      (error: Error) => {
        this.logger.warn(`round ${attempt.round}'s updates go to the leader: ${error.message}`);
        return undefined;
      },
    );
    this.open.set(attempt.runId, { attempt, fold });
  }

  /**
   * Folds a pulled update into its attempt's partial sum and stages its bytes: the attempt
   * (0-based) it went into, or a coded refusal (its delta does not fit the model, or holds NaN);
   * undefined when this edge folds no attempt for it, and the bytes go to the leader.
   */
  async fold(
    site: string,
    update: RoundUpdate,
    bytes: Uint8Array,
  ): Promise<Result<number> | undefined> {
    const open = this.open.get(update.runId);
    if (open?.attempt.round !== update.round || open.attempt.modelVersion !== update.baseVersion) {
      return undefined;
    }
    const fold = await open.fold;
    if (!fold || this.open.get(update.runId) !== open) return undefined;
    // What the leader will refuse goes to it unfolded: an update in the sum that the leader
    // did not keep voids the sum, and the leader refolds this edge's updates one by one.
    const { maxExamples } = open.attempt;
    if (fold.holds(site) || (maxExamples !== undefined && update.numExamples > maxExamples)) {
      return undefined;
    }
    const delta = decodeTensorBlob(bytes, { finiteCheck: 'caller' });
    if (!delta.ok) return delta;
    const added = fold.add(site, delta.value, update.numExamples);
    if (!added.ok) return added;
    try {
      await this.updates.stage({
        runId: update.runId,
        round: update.round,
        site,
        blobHash: toHex(update.delta.hash),
        bytes,
      });
    } catch (error) {
      // The bytes go to the leader instead; its gather then finds this sum holding an update
      // it did not expect, and refolds this edge's updates itself.
      this.logger.warn(`${site}'s update goes to the leader: ${(error as Error).message}`);
      return undefined;
    }
    return ok(open.attempt.attempt);
  }

  /** The answer to the leader's gather: the sum of exactly `sites`' updates, or why not. */
  async gather(ref: AttemptRef, sites: readonly string[]): Promise<Envelope> {
    const answer = (partial: Extract<Envelope, { t: 'partial' }>['partial']): Envelope => ({
      t: 'partial',
      runId: ref.runId,
      round: ref.round,
      attempt: ref.attempt,
      partial,
    });
    const open = this.open.get(ref.runId);
    const { attempt } = open ?? {};
    if (attempt?.round !== ref.round || attempt.attempt !== ref.attempt) {
      return answer({ missing: 'this edge folds another attempt' });
    }
    const partial = (await open!.fold)?.of(sites);
    if (!partial) return answer({ missing: 'this edge holds other updates' });
    const sum = encodeTensorBlob(partial.sum, 'float32');
    if (!sum.ok) return answer({ missing: sum.error.message });
    return answer({ sum: sum.value, entries: [...partial.entries] });
  }
}
