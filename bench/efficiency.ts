import type { DemoReport } from '../cli/demo/demo-report.js';

/**
 * What one run shows besides accuracy: the traffic a site pays, the rounds the student and
 * FedAvg without the teacher take to one accuracy, and the student's size and speed against the
 * teacher's. Every figure is read from the run's report, where the coordinator measured it.
 */
export interface Efficiency {
  /** Bytes per site per round, up and down: the round's messages and the student's weights. */
  readonly roundBytesPerSite: number;
  /**
   * Bytes per site outside the rounds, up and down: the handshake and the teacher's knowledge
   * (the transfer set or the class-logits matrix), which a site fetches once per run.
   */
  readonly onceBytesPerSite: number;
  /** The accuracy both are timed to: what FedAvg without the teacher ends the run at. */
  readonly target: number;
  /** The first round (1-based) whose global student reaches the target; null if none did. */
  readonly studentRounds: number | null;
  readonly fedavgRounds: number;
  /**
   * Bytes per site until the target: the student's rounds plus what it fetched once, and
   * FedAvg's rounds alone. FedAvg sends the same messages per round (the same student, the same
   * encoding) without a teacher's knowledge, and the handshake it would pay too is counted on
   * the student's side only: the comparison leans against distillation.
   */
  readonly studentBytesToTarget: number | null;
  readonly fedavgBytesToTarget: number;
  /**
   * The other way round: the round in which FedAvg without the teacher first reaches the
   * student's final accuracy; null if it never did within the run's rounds.
   */
  readonly fedavgRoundsToStudent: number | null;
  /** The student as exported (int8 weights) against the teacher's float32 weights. */
  readonly studentBytes: number;
  readonly teacherBytes: number | null;
  /** Teacher latency over student latency, per example, at batch 1; null without a teacher model. */
  readonly speedup: number | null;
}

/** The first 1-based round whose accuracy reaches `target`, or null. */
export function roundsTo(curve: readonly number[], target: number): number | null {
  const i = curve.findIndex((accuracy) => accuracy >= target);
  return i < 0 ? null : i + 1;
}

export function efficiency(
  report: Pick<
    DemoReport,
    'per_round' | 'bytes_up' | 'bytes_down' | 'sites' | 'baselines' | 'compression'
  >,
): Efficiency {
  const rounds = report.per_round;
  const inRounds = rounds.reduce((n, r) => n + r.bytes_up + r.bytes_down, 0);
  const siteRounds = rounds.reduce((n, r) => n + r.participants, 0);
  const roundBytesPerSite = inRounds / siteRounds;
  const onceBytesPerSite = (report.bytes_up + report.bytes_down - inRounds) / report.sites;
  const fedavg = report.baselines.fedavg_no_teacher.per_round;
  const target = fedavg[fedavg.length - 1]!;
  const studentRounds = roundsTo(
    rounds.map((r) => r.student_accuracy),
    target,
  );
  // Reached by definition: the curve ends at the target.
  const fedavgRounds = roundsTo(fedavg, target)!;
  const { exports, latency_ms_per_example: latency } = report.compression;
  // An outside teacher's parameters are counted by the demo that trained it.
  const teacherParams = report.baselines.teacher.params;
  // The demo times an outside teacher itself; reports from before it did have only the run's.
  const teacherLatency = report.baselines.teacher.latency_ms_per_example ?? latency.teacher;
  return {
    roundBytesPerSite,
    onceBytesPerSite,
    target,
    studentRounds,
    fedavgRounds,
    studentBytesToTarget:
      studentRounds === null ? null : onceBytesPerSite + studentRounds * roundBytesPerSite,
    fedavgBytesToTarget: fedavgRounds * roundBytesPerSite,
    fedavgRoundsToStudent: roundsTo(fedavg, rounds[rounds.length - 1]!.student_accuracy),
    studentBytes: exports.tfjs.int8.weights_bytes,
    teacherBytes: teacherParams === null ? null : teacherParams * 4,
    speedup: teacherLatency ? teacherLatency.batch_1 / latency.student.batch_1 : null,
  };
}
