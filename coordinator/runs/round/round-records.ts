import type { Logger } from '@nestjs/common';
import type { AuditEvent, CoordinatorEvents } from '../../events/coordinator-events.js';
import type { CoordinatorStore } from '../../store/store.js';
import type { ClosedRound } from './round-closer.js';
import type { FoldResult } from './round-fold.js';
import type { RoundLedger } from './round-ledger.js';

/** Where a round's end is recorded: the store, the audit log, the observers and the log. */
export interface RoundRecordsContext {
  readonly runId: string;
  readonly store: CoordinatorStore;
  readonly events: CoordinatorEvents;
  readonly audit: (event: AuditEvent) => void;
  readonly logger: Logger;
}

/** Commits a closed round: the new model version with the round's summary, in one transaction. */
export function storeClosedRound(
  context: RoundRecordsContext,
  closed: ClosedRound,
  previous: { readonly version: number; readonly attempt: number },
): Promise<void> {
  const { summary, model, mask, optimizerHash } = closed;
  const version = previous.version + 1;
  return context.store.runs.commitRound({
    runId: context.runId,
    round: summary.round,
    attempt: previous.attempt,
    summary,
    model: {
      version,
      modelHash: model.hash,
      ...(optimizerHash === undefined ? {} : { optimizerHash }),
      ...(mask ? { maskHash: mask.hash } : {}),
    },
  });
}

/** A closed round, once stored: the audit log's record of it, then the observers. */
export function recordClosedRound(
  context: RoundRecordsContext,
  closed: ClosedRound,
  previous: { readonly version: number; readonly hash: string },
): void {
  const { summary, model, mask } = closed;
  const version = previous.version + 1;
  context.audit({
    event: 'aggregate.committed',
    round: summary.round,
    version,
    modelBefore: previous.hash,
    modelAfter: model.hash,
    ...(mask ? { mask: mask.hash, sparsity: summary.sparsity } : {}),
  });
  const target = closed.pruneTarget;
  context.logger.log(
    `round ${summary.round}/${summary.rounds}: T=${summary.temperature.toFixed(2)} alpha=${summary.alpha.toFixed(2)} ` +
      `participants=${summary.participants} student accuracy=${summary.student_accuracy.toFixed(4)}` +
      (target === undefined
        ? ''
        : ` sparsity=${summary.sparsity.toFixed(4)} (target ${target.toFixed(4)})`),
  );
  context.events.emit('round', summary);
}

/**
 * An attempt ended without a model (too few updates, or the secure fold failed): recorded.
 * Settles once the store has it; the store keeps it ahead of any later change.
 */
export function recordFailedAttempt(
  context: RoundRecordsContext,
  ledger: RoundLedger,
  result: Extract<FoldResult, { ok: false }>,
  quorum: number,
  /** Set when the failed attempt was charged to the privacy ledger. */
  samplingRate?: number,
): Promise<void> {
  const { round, attempt } = ledger.info;
  if (result.audit) context.audit(result.audit);
  context.logger.warn(`round ${round} failed: ${result.reason}; retrying`);
  const stored = context.store.runs.failRound({
    runId: context.runId,
    round,
    attempt,
    outcome: {
      answered: ledger.answered.size,
      stragglers: ledger.stragglers,
      dropped: ledger.dropped.size,
      ...(samplingRate === undefined ? {} : { sampling_rate: samplingRate }),
    },
  });
  const updates = ledger.answered.size;
  context.audit({ event: 'round.failed', round, attempt: attempt + 1, updates, quorum });
  context.events.emit('roundFailed', { round, attempt: attempt + 1, updates, quorum });
  return stored;
}
