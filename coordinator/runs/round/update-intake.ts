import {
  fail,
  ok,
  toHex,
  type BlobManifest,
  type Result,
  type RoundUpdate,
} from '../../../protocol/index.js';
import type { AuditEvent } from '../../events/coordinator-events.js';
import type { CoordinatorStore } from '../../store/store.js';
import type { PullWatch } from '../../transfer/transfer.service.js';
import type { Clock } from '../clock.js';
import type { SiteChannel } from '../site-channel.js';
import type { AttemptStages } from './attempt-stages.js';
import { watchPull } from './pull-watch.js';
import type { LateAnswers, RoundLedger } from './round-ledger.js';
import type { RoundFold } from './round-fold.js';

/** The open attempt of a round: who is where, the stages it waits in, and its fold. */
export interface OpenAttempt {
  readonly ledger: RoundLedger;
  readonly stages: AttemptStages;
  readonly fold: RoundFold;
}

/** Where the run stands when an update arrives. */
export interface IntakeView {
  readonly version: number;
  /** The last round that closed with a new model: updates for it or earlier are late. */
  readonly lastClosedRound: number;
  readonly open: OpenAttempt | undefined;
  readonly late: LateAnswers;
}

/** How a pulled update ended: applied, dropped because its attempt was over, or refused. */
export type IntakeOutcome =
  | { readonly kind: 'accepted' | 'discarded' | 'refused' }
  /** The store could not keep it: the run cannot go on. */
  | { readonly kind: 'fatal'; readonly error: Error };

export interface UpdateIntakeOptions {
  readonly runId: string;
  /** The most examples an update may claim (the run's maxExamplesPerSite). */
  readonly maxExamples: number | undefined;
  /** The largest update blob accepted. */
  readonly maxUpdateBytes: number;
  readonly pull: (
    channel: SiteChannel,
    manifest: BlobManifest,
    maxBytes: number,
    watch: PullWatch,
  ) => Promise<Result<Uint8Array>>;
  /** A pull with no chunk for `updateIdleMs` on this clock is the site withholding its update. */
  readonly clock: Clock;
  readonly updateIdleMs: number;
  readonly store: CoordinatorStore;
  readonly audit: (event: AuditEvent) => void;
}

/**
 * A site's update, from its announcement to its acknowledgement: check, pull, fold, persist,
 * acknowledge. Durable before acknowledged: a store that cannot write stops the run. A pull
 * ends with its attempt or after `updateIdleMs` without a chunk (the site is then refused), so
 * no site holds an upload slot past either.
 */
export class UpdateIntake {
  /** Sites with an update pull in flight: at most one each, whichever attempt it was for. */
  private readonly pulling = new Set<string>();
  /** Folded updates whose save is in flight: acknowledged once it is durable. */
  private readonly saving = new Set<Promise<void>>();

  constructor(private readonly options: UpdateIntakeOptions) {}

  /**
   * Settles once every folded update's save has settled and its site was answered: an attempt
   * ends only after the updates it folded are stored and acknowledged, so a site hears that its
   * update was accepted before it hears of the next attempt.
   */
  async stored(): Promise<void> {
    await Promise.allSettled([...this.saving]);
  }

  /**
   * Checks a round.update. A straggler's (its round or attempt closed without it) is refused
   * with update.rejected and the session goes on; any other mismatch ends the session.
   * `pull`: the update is admitted and its blob is to be pulled.
   */
  check(channel: SiteChannel, update: RoundUpdate, view: IntakeView): Result<'straggler' | 'pull'> {
    const { runId } = this.options;
    const { open } = view;
    const site = channel.site;
    if (
      update.runId === runId &&
      (update.round <= view.lastClosedRound ||
        (update.round === open?.ledger.round && view.late.take(site)))
    ) {
      channel.send({
        type: 'update.rejected',
        runId,
        round: update.round,
        code: 'update.stale_round',
      });
      this.options.audit({
        event: 'update.rejected',
        round: update.round,
        site,
        code: 'update.stale_round',
      });
      return ok('straggler');
    }
    if (
      !open ||
      update.runId !== runId ||
      update.round !== open.ledger.round ||
      update.baseVersion !== view.version
    ) {
      return fail(
        'update.stale_round',
        `an update for round ${update.round} (version ${update.baseVersion}) is not expected`,
      );
    }
    if (this.pulling.has(site)) {
      return fail('update.duplicate', `${site}'s previous update is still being pulled`);
    }
    const { maxExamples } = this.options;
    if (maxExamples !== undefined && update.numExamples > maxExamples) {
      // Refused before its blob is pulled: the claim alone is the offence.
      this.options.audit({
        event: 'update.refused',
        round: update.round,
        site,
        code: 'update.count_over_cap',
        num_examples: update.numExamples,
        max_examples: maxExamples,
      });
      return fail(
        'update.count_over_cap',
        `${update.numExamples} examples claimed, the run allows ${maxExamples}`,
      );
    }
    const admitted = open.ledger.admit(site);
    return admitted.ok ? ok('pull') : admitted;
  }

  /**
   * Pulls an admitted update's blob and folds it into its attempt; an update an edge node
   * folded already is taken at its word (edges are the coordinator's own nodes).
   */
  async pull(channel: SiteChannel, update: RoundUpdate, open: OpenAttempt): Promise<IntakeOutcome> {
    const { runId, store, audit } = this.options;
    const site = channel.site;
    const blobHash = toHex(update.delta.hash);
    const atEdge = channel.foldedAtEdge?.(update.delta);
    const pulled = atEdge ? undefined : await this.pullBlob(channel, update, open);
    // The attempt may have ended (deadline) or the site left while the blob was in flight.
    if (!open.ledger.received(site) || open.stages.over) return { kind: 'discarded' };
    const { numExamples } = update;
    const bytes = pulled?.ok ? pulled.value : undefined;
    const folded = atEdge
      ? open.stages.update(site, { numExamples, blobHash, atEdge })
      : bytes
        ? open.stages.update(site, { numExamples, blobHash, bytes })
        : pulled!;
    const { round, attempt } = open.ledger.info;
    if (!folded.ok) {
      audit({
        event: pulled?.withheld ? 'update.withheld' : 'update.refused',
        round,
        attempt: attempt + 1,
        site,
        code: folded.error.code,
        update: blobHash,
        bytes: update.delta.bytes,
      });
      channel.refuse(folded.error.code, folded.error.message);
      return { kind: 'refused' };
    }
    const saved = store.updates.save({
      runId,
      round,
      attempt,
      update: {
        site,
        numExamples: update.numExamples,
        blobHash,
        // An edge staged the bytes of an update it folded; a masked update alone is useless.
        bytes: bytes && open.fold.resumable ? bytes : new Uint8Array(0),
      },
    });
    this.saving.add(saved);
    try {
      await saved;
    } catch (error) {
      return { kind: 'fatal', error: error as Error };
    } finally {
      this.saving.delete(saved);
    }
    open.ledger.accepted(site);
    audit({
      event: 'update.received',
      round,
      attempt: attempt + 1,
      site,
      update: blobHash,
      bytes: update.delta.bytes,
    });
    channel.send({ type: 'update.accepted', runId, round });
    return { kind: 'accepted' };
  }

  /** The blob from the site, ended by its attempt or by `updateIdleMs` without a chunk. */
  private async pullBlob(
    channel: SiteChannel,
    update: RoundUpdate,
    open: OpenAttempt,
  ): Promise<Result<Uint8Array> & { readonly withheld: boolean }> {
    const { clock, updateIdleMs } = this.options;
    const site = channel.site;
    const pull = watchPull({
      site,
      clock,
      idleMs: updateIdleMs,
      attemptClosed: open.stages.closed,
    });
    this.pulling.add(site);
    const bytes = await this.options.pull(
      channel,
      update.delta,
      this.options.maxUpdateBytes,
      pull.watch,
    );
    this.pulling.delete(site);
    pull.dispose();
    return { ...bytes, withheld: pull.withheld };
  }
}
