import { distillationAt, type CoordinatorMessage, type Sodium } from '../../../protocol/index.js';
import type { PrivacyPlan } from '../../privacy/privacy-plan.js';
import type { Clock } from '../clock.js';
import type { RunSpec } from '../run-spec.js';
import { AttemptStages } from './attempt-stages.js';
import { createFold } from './create-fold.js';
import type { FoldEdges } from './edge-partials.js';
import { RoundLedger } from './round-ledger.js';
import type { OpenAttempt } from './update-intake.js';
import type { NamedTensor } from '../../../protocol/index.js';

/**
 * Opens one attempt of a round: its ledger (with the schedule's values for the round), its fold
 * (plain or secure) and the stages that drive the fold on the clock. The attempt's end is
 * `stages.result`.
 */
export function openAttempt(args: {
  readonly spec: RunSpec;
  readonly privacy: PrivacyPlan;
  readonly sodium: Sodium;
  readonly clock: Clock;
  readonly runId: string;
  readonly round: number;
  /** 0-based. */
  readonly attempt: number;
  readonly participants: readonly string[];
  readonly traffic: { readonly bytesIn: number; readonly bytesOut: number };
  readonly global: readonly NamedTensor[];
  readonly dimension: number;
  readonly publicKeys: () => ReadonlyMap<string, string>;
  readonly send: (site: string, message: CoordinatorMessage) => void;
  readonly edges?: FoldEdges | undefined;
}): OpenAttempt {
  const { spec, round, attempt, participants } = args;
  const ledger = new RoundLedger(
    {
      round,
      attempt,
      ...distillationAt(spec.schedule, round, spec.rounds),
      selected: participants.length,
      openedAt: args.clock.now(),
      bytesInAtOpen: args.traffic.bytesIn,
      bytesOutAtOpen: args.traffic.bytesOut,
    },
    participants,
  );
  const fold = createFold(args);
  const stages = new AttemptStages(fold, {
    clock: args.clock,
    stageMs: spec.roundDeadlineMs,
    awaiting: participants,
  });
  return { ledger, fold, stages };
}
