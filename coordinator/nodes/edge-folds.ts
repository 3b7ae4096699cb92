import { Logger } from '@nestjs/common';
import {
  addInto,
  bytesToUint32,
  decodeTensorBlob,
  encodeTensorBlob,
  fail,
  ok,
  toHex,
  uint32ToBytes,
  type Result,
  type RoundUpdate,
} from '../../protocol/index.js';
import type { PartialEntry, PartialTerms } from '../aggregation/fold-terms.js';
import { holdsExactly, PartialFold } from '../aggregation/partial-sum.js';
import { WeightedSumMemory } from '../aggregation/weighted-sum.js';
import type { AttemptRef, FoldAttempt, RawPartial } from '../runs/round/edge-partials.js';
import type { UpdateStore } from '../store/store.js';
import type { Envelope } from './node-bus.js';

/** An attempt's running sum at an edge: over tensors (plain) or masked inputs (secure). */
interface EdgeSum {
  holds(site: string): boolean;
  /** Checks and adds the update blob's bytes, or refuses them with the leader's code. */
  add(site: string, bytes: Uint8Array, numExamples: number): Result<true>;
  /** The sum of exactly `sites`' updates, or why not. */
  of(sites: readonly string[]): Result<RawPartial>;
}

/** A plain attempt's sum, under the mean family's bounds or DP-FedAvg's clip. */
class TensorSum implements EdgeSum {
  constructor(private readonly fold: PartialFold) {}

  holds(site: string): boolean {
    return this.fold.holds(site);
  }

  add(site: string, bytes: Uint8Array, numExamples: number): Result<true> {
    const delta = decodeTensorBlob(bytes, { finiteCheck: 'caller' });
    return delta.ok ? this.fold.add(site, delta.value, numExamples) : delta;
  }

  of(sites: readonly string[]): Result<RawPartial> {
    const partial = this.fold.of(sites);
    if (!partial) return fail('session.closed', 'this edge holds other updates');
    const bytes = encodeTensorBlob(partial.sum, 'float32');
    return bytes.ok ? ok({ bytes: bytes.value, entries: partial.entries }) : bytes;
  }
}

/** A secure attempt's masked inputs, added mod 2^32: SecAgg+ needs only their sum. */
class MaskedSum implements EdgeSum {
  private readonly sum: Uint32Array;
  private readonly entries: PartialEntry[] = [];

  constructor(dimension: number) {
    this.sum = new Uint32Array(dimension);
  }

  holds(site: string): boolean {
    return this.entries.some((e) => e.site === site);
  }

  add(site: string, bytes: Uint8Array, numExamples: number): Result<true> {
    if (bytes.length !== 4 * this.sum.length) {
      return fail(
        'update.shape_mismatch',
        `a masked update has ${this.sum.length} values, not ${bytes.length / 4}`,
      );
    }
    addInto(this.sum, bytesToUint32(bytes));
    // A masked input's norm is unknown here, as it should be.
    this.entries.push({ site, norm: 0, numExamples });
    return ok(true);
  }

  of(sites: readonly string[]): Result<RawPartial> {
    if (!holdsExactly(this.entries, sites)) {
      return fail('session.closed', 'this edge holds other updates');
    }
    return ok({ bytes: uint32ToBytes(this.sum), entries: [...this.entries] });
  }
}

interface OpenFold {
  readonly attempt: FoldAttempt;
  /** The sum, once what it needs is read (a plain sum, the global model); undefined if not. */
  readonly sum: Promise<EdgeSum | undefined>;
}

/**
 * An edge node's partial sums, one open attempt per run: each update its sites send is checked
 * and added here under the terms the leader announced, and its bytes are staged in the store
 * (a restarted leader, or one whose edge died, refolds from them) before the leader hears of it.
 * The leader adds the partial sums at the attempt's close (or, secure, at the masked stage's),
 * so it never handles those bytes.
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
    const { terms } = attempt;
    const sum =
      terms.kind === 'masked'
        ? Promise.resolve(new MaskedSum(terms.dimension))
        : this.tensorSum(attempt, terms);
    this.open.set(attempt.runId, { attempt, sum });
  }

  private async tensorSum(attempt: FoldAttempt, terms: PartialTerms): Promise<EdgeSum | undefined> {
    const memory = this.memories.get(attempt.runId) ?? new WeightedSumMemory();
    this.memories.set(attempt.runId, memory);
    try {
      const global = decodeTensorBlob(await this.readBlob(attempt.modelHash));
      if (!global.ok) throw new Error(global.error.message);
      // The memory is the run's: only the latest attempt may start a sum in it.
      if (this.open.get(attempt.runId)?.attempt !== attempt) return undefined;
      return new TensorSum(new PartialFold(global.value, terms, memory));
    } catch (error) {
      this.logger.warn(
        `round ${attempt.round}'s updates go to the leader: ${(error as Error).message}`,
      );
      return undefined;
    }
  }

  /** Forgets every sum: the leader changed, and the sums were made for the old one. */
  reset(): void {
    this.open.clear();
  }

  /**
   * Adds a pulled update to its attempt's partial sum and stages its bytes: the attempt
   * (0-based) it went into, or a coded refusal (its delta does not fit the model, or holds NaN);
   * undefined when this edge sums no attempt for it, and the bytes go to the leader.
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
    const sum = await open.sum;
    if (!sum || this.open.get(update.runId) !== open) return undefined;
    // What the leader will refuse goes to it unfolded: an update in the sum that the leader
    // did not keep voids the sum, and the leader refolds this edge's updates one by one.
    const { maxExamples } = open.attempt;
    if (sum.holds(site) || (maxExamples !== undefined && update.numExamples > maxExamples)) {
      return undefined;
    }
    const added = sum.add(site, bytes, update.numExamples);
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
      return answer({ missing: 'this edge sums another attempt' });
    }
    const partial = (await open!.sum)?.of(sites);
    if (!partial?.ok) return answer({ missing: partial?.error.message ?? 'no sum here' });
    return answer({ sum: partial.value.bytes, entries: [...partial.value.entries] });
  }
}
