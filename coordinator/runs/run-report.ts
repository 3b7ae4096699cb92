import type { CompressionReport } from '../compression/compression-report.js';
import type { TeacherSummary } from '../teacher/prepared-teacher.js';

/** What one closed round looked like; also the per-round entry of the report. */
export interface RoundSummary {
  readonly round: number;
  readonly rounds: number;
  /** The attempt that closed the round, 1-based (earlier ones failed their quorum). */
  readonly attempt: number;
  readonly temperature: number;
  readonly alpha: number;
  /** Sites selected for the attempt. */
  readonly selected: number;
  /** Sites whose update was folded into this round. */
  readonly participants: number;
  /** Selected sites, still connected, that had not answered when the round closed. */
  readonly stragglers: number;
  /** Selected sites that left before answering. */
  readonly dropped: number;
  /** Held-out accuracy of the global student after this round. */
  readonly student_accuracy: number;
  /** Held-out mean cross-entropy (nats) of the global student after this round. */
  readonly student_loss: number;
  /** Share of the global student's kernel weights that are exactly zero after this round. */
  readonly sparsity: number;
  /** Protocol bytes received and sent by the coordinator while the attempt was open. */
  readonly bytes_up: number;
  readonly bytes_down: number;
  /** From the attempt's opening (or its resumption after a restart) to the round's close. */
  readonly duration_seconds: number;
  /** With differential privacy: epsilon spent after this round, at the run's delta. */
  readonly epsilon?: number;
  readonly noise_multiplier?: number;
  /** The clip norm this round's updates were clipped to. */
  readonly clip_norm?: number;
  /** The sampling rate the ledger accounted this round at (privacy-plan.ts SAMPLING). */
  readonly sampling_rate?: number;
}

/** What the report says of a differentially private run. */
export interface PrivacyFigures {
  /** Spent, by the RDP accountant, at `delta`. */
  readonly epsilon: number;
  readonly delta: number;
  readonly epsilon_budget: number;
  readonly noise_multiplier: number;
  /** The clip norm of the last round (with adaptive clipping it moves). */
  readonly clip_norm: number;
  readonly adaptive_clipping: boolean;
  readonly secure_aggregation: boolean;
  /**
   * central: the coordinator adds the noise to the mean; distributed: with secure aggregation
   * each site adds its share, N(0, (z C)^2 / minSites), before masking.
   */
  readonly noise: 'central' | 'distributed';
  readonly rounds_completed: number;
  /** How sites were selected, and the q the ledger used for every round. */
  readonly sampling: { readonly method: 'seeded'; readonly q: number };
  /** The run ended before its last round because another would have exceeded the budget. */
  readonly stopped_by_budget: boolean;
}

/**
 * What the report says of the teacher. A teacher model is measured on the held-out split;
 * imported logits have no model to run there, so those figures are null and only the logits'
 * agreement with the public split's labels is known.
 */
export type TeacherFigures = {
  /**
   * Share of public-split rows whose largest teacher logit is at their label; null when the
   * transfer set is unlabelled (`data.publicLabels` false), as there is nothing to agree with.
   */
  readonly teacher_transfer_accuracy: number | null;
} & (
  | {
      readonly teacher_source: 'model';
      readonly teacher_accuracy: number;
      /** True when the teacher was loaded from the on-disk cache instead of trained by this run. */
      readonly teacher_cached: boolean;
      readonly teacher_params: number;
    }
  | {
      readonly teacher_source: 'logits';
      readonly teacher_accuracy: null;
      readonly teacher_cached: false;
      readonly teacher_params: null;
      readonly teacher_logits_file: string;
    }
);

export function teacherFigures(teacher: TeacherSummary): TeacherFigures {
  const teacher_transfer_accuracy = teacher.transferAccuracy;
  return teacher.source === 'model'
    ? {
        teacher_source: 'model',
        teacher_accuracy: teacher.accuracy,
        teacher_cached: teacher.cached,
        teacher_params: teacher.params,
        teacher_transfer_accuracy,
      }
    : {
        teacher_source: 'logits',
        teacher_accuracy: null,
        teacher_cached: false,
        teacher_params: null,
        teacher_logits_file: teacher.file,
        teacher_transfer_accuracy,
      };
}

/** The run's report, written as JSON at the end; every number is measured by this process. */
export type RunReport = RunFigures & TeacherFigures;

interface RunFigures {
  readonly run_id: string;
  readonly dataset: string;
  readonly sites: number;
  readonly site_names: readonly string[];
  readonly site_backends: Readonly<Record<string, string>>;
  readonly rounds: number;
  readonly aggregation: string;
  readonly per_round: readonly RoundSummary[];
  readonly student_accuracy: number;
  readonly majority_class_rate: number;
  readonly held_out_rows: number;
  readonly student_params: number;
  /**
   * Bytes the coordinator received from sites: handshake messages and encrypted frames, summed
   * over every coordinator process that served the run (run-traffic.ts).
   */
  readonly bytes_up: number;
  /** Bytes the coordinator sent to sites, counted as bytes_up is. */
  readonly bytes_down: number;
  /**
   * From the start of the first coordinator process that served the run (teacher preparation
   * included) to the end of the last round; time between a crash and the restart included.
   */
  readonly wall_seconds: number;
  /** The coordinator's tfjs backend (teacher training and evaluation). */
  readonly backend: string;
  /** The exported student against the float32 one and the teacher: accuracy, size, speed. */
  readonly compression: CompressionReport;
  /** The coordinator saw only each round's sum (SecAgg+), never one site's update. */
  readonly secure_aggregation: boolean;
  /** Present when the run is differentially private. */
  readonly privacy?: PrivacyFigures;
}
