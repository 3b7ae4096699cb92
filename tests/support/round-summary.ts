import type { RoundSummary } from '../../coordinator/runs/run-report.js';

/** A plausible closed round's summary, for tests of what stores and shows summaries. */
export const roundSummary = (round: number, participants: number): RoundSummary => ({
  round,
  rounds: 3,
  attempt: 1,
  temperature: 4,
  alpha: 0.5,
  selected: 3,
  participants,
  stragglers: 3 - participants,
  dropped: 0,
  student_accuracy: 0.5 + round / 10,
  student_loss: 1 / round,
  sparsity: 0,
  bytes_up: 100 * round,
  bytes_down: 1000 * round,
  duration_seconds: round,
});
