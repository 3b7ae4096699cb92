/** What one closed round looked like; also the per-round entry of the report. */
export interface RoundSummary {
  readonly round: number;
  readonly rounds: number;
  readonly temperature: number;
  readonly alpha: number;
  /** Sites whose update was folded into this round. */
  readonly participants: number;
  /** Held-out accuracy of the global student after this round. */
  readonly student_accuracy: number;
}

/** The run's report, written as JSON at the end; every number is measured by this process. */
export interface RunReport {
  readonly run_id: string;
  readonly dataset: string;
  readonly sites: number;
  readonly site_names: readonly string[];
  readonly site_backends: Readonly<Record<string, string>>;
  readonly rounds: number;
  readonly aggregation: string;
  readonly per_round: readonly RoundSummary[];
  readonly teacher_accuracy: number;
  /** True when the teacher was loaded from the on-disk cache instead of trained by this run. */
  readonly teacher_cached: boolean;
  readonly student_accuracy: number;
  readonly majority_class_rate: number;
  readonly held_out_rows: number;
  readonly student_params: number;
  readonly teacher_params: number;
  /** Bytes the coordinator received from sites: handshake messages and encrypted frames. */
  readonly bytes_up: number;
  /** Bytes the coordinator sent to sites: handshake messages and encrypted frames. */
  readonly bytes_down: number;
  /** From the coordinator's start (teacher preparation included) to the end of the last round. */
  readonly wall_seconds: number;
  /** The coordinator's tfjs backend (teacher training and evaluation). */
  readonly backend: string;
}
