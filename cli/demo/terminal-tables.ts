import Table from 'cli-table3';
import type { DemoReport, HeldOutFigures } from './demo-report.js';

/** A plain box table (no colours: it also lands in logs), indented like the demo's lines. */
function table({
  head,
  rows,
}: {
  readonly head: readonly string[];
  readonly rows: readonly (readonly string[])[];
}): string {
  const t = new Table({
    head: [...head],
    style: { head: [], border: [], compact: true },
    colAligns: head.map((_, i) => (i === 0 ? 'left' : 'right')),
  });
  t.push(...rows.map((r) => [...r]));
  return t
    .toString()
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}

const fixed4 = (x: number | null | undefined): string => (x == null ? '-' : x.toFixed(4));
const kib = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`;

/** Each round of the federated run. */
export function roundsTable(report: DemoReport): string {
  const dp = report.per_round.some((r) => r.epsilon !== undefined);
  return table({
    head: [
      'round',
      'T',
      'alpha',
      'sites',
      'accuracy',
      'loss',
      'sparsity',
      'up',
      'down',
      'seconds',
      ...(dp ? ['epsilon'] : []),
    ],
    rows: report.per_round.map((r) => [
      String(r.round),
      r.temperature.toFixed(2),
      r.alpha.toFixed(2),
      String(r.participants),
      fixed4(r.student_accuracy),
      r.student_loss.toFixed(4),
      `${(100 * r.sparsity).toFixed(0)}%`,
      kib(r.bytes_up),
      kib(r.bytes_down),
      r.duration_seconds.toFixed(1),
      ...(dp ? [r.epsilon === undefined ? '-' : r.epsilon.toFixed(3)] : []),
    ]),
  });
}

/** The distilled student beside its baselines and its teacher, on the same held-out rows. */
export function comparisonTable(report: DemoReport): string {
  const { baselines: b, compression: c } = report;
  const binary = c.auc !== undefined;
  const row = (
    name: string,
    accuracy: number | null,
    auc: number | null | undefined,
    params: string,
  ) => [name, fixed4(accuracy), ...(binary ? [fixed4(auc)] : []), params];
  const student = String(report.student_params);
  // A baseline that had no labels to use (an unlabelled public split) is null: no row.
  const optional = (name: string, figures: HeldOutFigures | null) =>
    figures ? [row(name, figures.accuracy, figures.auc, student)] : [];
  return table({
    head: ['model', 'accuracy', ...(binary ? ['AUC'] : []), 'parameters'],
    rows: [
      row(
        report.teacher_source === 'model' ? 'teacher (public split)' : 'teacher (outside)',
        b.teacher.accuracy,
        b.teacher.auc,
        String(b.teacher.params ?? '-'),
      ),
      ...optional("centralized, teacher's rows too", b.centralized_teacher_rows ?? null),
      ...optional('centralized, public labels too', b.centralized_public_labels),
      row('centralized (pooled rows)', b.centralized.accuracy, b.centralized.auc, student),
      row('distilled student, fp32', c.accuracy.student_fp32, c.auc?.student_fp32, student),
      row('distilled student, int8 export', c.accuracy.student_int8, c.auc?.student_int8, student),
      ...optional("FedAvg with the teacher's rows", b.fedavg_teacher_rows ?? null),
      ...optional('FedAvg with the public labels', b.fedavg_public_labels),
      row(
        'FedAvg without the teacher',
        b.fedavg_no_teacher.accuracy,
        b.fedavg_no_teacher.auc,
        student,
      ),
      row('local only, best site', b.local_only.best, b.local_only.auc?.best, student),
      row('local only, mean of sites', b.local_only.mean, b.local_only.auc?.mean, student),
    ],
  });
}
