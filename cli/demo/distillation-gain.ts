import type { Baselines, HeldOutFigures } from './demo-report.js';

/** The baselines a federation could run instead of distilling: no teacher, no pooled rows. */
export type FederatedBaseline = 'fedavg_no_teacher' | 'fedavg_public_labels' | 'local_only_best';

/** The distilled student against the strongest federated baseline that uses no teacher. */
export interface DistillationGain {
  readonly against: FederatedBaseline;
  readonly baseline_accuracy: number;
  readonly student_accuracy: number;
  /** Percentage points of held-out accuracy, student minus baseline. */
  readonly points: number;
  readonly meaning: string;
}

/**
 * Measured against the strongest of the federated baselines, the public split's labels
 * included: the teacher learned from them, so a baseline that sees them too is what the teacher
 * must beat. The centralized baselines pool every row in one place, which a federation exists
 * not to do; they bound what any federated student can reach and are reported beside it.
 */
export function distillationGain(
  studentAccuracy: number,
  baselines: Pick<Baselines, 'fedavg_no_teacher' | 'fedavg_public_labels' | 'local_only'>,
): DistillationGain {
  const listed: [FederatedBaseline, HeldOutFigures | null][] = [
    ['fedavg_no_teacher', baselines.fedavg_no_teacher],
    ['fedavg_public_labels', baselines.fedavg_public_labels],
    ['local_only_best', { accuracy: baselines.local_only.best }],
  ];
  // A baseline without labels to use (an unlabelled public split) was not trained: skipped.
  const candidates = listed.filter((c): c is [FederatedBaseline, HeldOutFigures] => c[1] !== null);
  // The first listed wins a tie: the plainer baseline.
  const [against, strongest] = candidates.reduce((a, b) => (b[1].accuracy > a[1].accuracy ? b : a));
  return {
    against,
    baseline_accuracy: strongest.accuracy,
    student_accuracy: studentAccuracy,
    points: 100 * (studentAccuracy - strongest.accuracy),
    meaning:
      'held-out accuracy of the distilled student minus that of the strongest federated baseline without a teacher (FedAvg without or with the public labels where the public split has labels, the best site alone); one run, one seed',
  };
}

/** The baseline's name as the report's tables print it. */
export const FEDERATED_BASELINE_NAMES: Readonly<Record<FederatedBaseline, string>> = {
  fedavg_no_teacher: 'FedAvg without the teacher',
  fedavg_public_labels: 'FedAvg with the public labels',
  local_only_best: 'the best site alone',
};
