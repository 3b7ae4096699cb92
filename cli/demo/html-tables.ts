import { formatBytes, formatPercent } from '../../dashboard/format.js';
import type { DemoReport, HeldOutFigures } from './demo-report.js';
import { accuracy, auc, escapeHtml, table } from './html-markup.js';

/** The teacher beside the two exported students: size, held-out figures, latency. */
export function teacherStudentTable(report: DemoReport): string {
  const c = report.compression;
  const t = report.baselines.teacher;
  const binary = report.scenario.classes === 2;
  const size = (bytes: number | null) => (bytes === null ? '–' : escapeHtml(formatBytes(bytes)));
  const latency = (ms: number | undefined) => (ms === undefined ? '–' : `${ms.toFixed(3)} ms`);
  const row = (model: {
    name: string;
    params: number | null;
    bytes: number | null;
    gzip: number | null;
    accuracy: number | null;
    auc: number | null | undefined;
    latencyMs: number | undefined;
  }) => [
    escapeHtml(model.name),
    model.params === null ? '–' : String(model.params),
    size(model.bytes),
    size(model.gzip),
    accuracy(model.accuracy),
    ...(binary ? [auc(model.auc)] : []),
    latency(model.latencyMs),
  ];
  const { float32, int8 } = c.exports.tfjs;
  return table({
    test: 'teacher-student',
    head: [
      'model',
      'parameters',
      'weights',
      'weights gzip',
      'accuracy',
      ...(binary ? ['AUC'] : []),
      'latency, batch 1',
    ],
    rows: [
      row({
        name: 'teacher (float32, not exported)',
        params: t.params,
        // Its weights as float32; the teacher is never exported, so there is no gzip figure.
        bytes: t.params === null ? null : t.params * 4,
        gzip: null,
        accuracy: t.accuracy,
        auc: t.auc,
        latencyMs: c.latency_ms_per_example.teacher?.batch_1,
      }),
      row({
        name: 'student float32 export',
        params: c.parameters.student,
        bytes: float32.weights_bytes,
        gzip: float32.weights_gzip_bytes,
        accuracy: c.accuracy.student_fp32,
        auc: c.auc?.student_fp32,
        latencyMs: c.latency_ms_per_example.student.batch_1,
      }),
      row({
        name: 'student int8 export',
        params: c.parameters.student,
        bytes: int8.weights_bytes,
        gzip: int8.weights_gzip_bytes,
        accuracy: c.accuracy.student_int8,
        auc: c.auc?.student_int8,
        // The report holds one student latency; it stands on the float32 row.
        latencyMs: undefined,
      }),
    ],
  });
}

/** What each site held, and how its local-only model did. */
export function sitesTable(report: DemoReport): string {
  const { scenario, baselines } = report;
  const binary = scenario.classes === 2;
  const local = new Map(baselines.local_only.per_site.map((s) => [s.site, s]));
  return table({
    test: 'sites',
    head: [
      'site',
      'rows',
      ...scenario.class_names.map((name) => `label ${name}`),
      ...(binary ? ['positive share'] : []),
      'local-only accuracy',
      ...(binary ? ['local-only AUC'] : []),
    ],
    rows: scenario.sites.map((site) => {
      const alone = local.get(site.name);
      return [
        escapeHtml(site.name),
        String(site.rows),
        ...scenario.class_names.map((_, i) => String(site.label_counts[i] ?? 0)),
        ...(binary ? [formatPercent(site.positive_share, 1)] : []),
        accuracy(alone?.accuracy),
        ...(binary ? [auc(alone?.auc)] : []),
      ];
    }),
  });
}

/** Each round of the run beside FedAvg without the teacher at the same round. */
export function roundsTable(report: DemoReport): string {
  const fedavg = report.baselines.fedavg_no_teacher.per_round;
  return table({
    test: 'rounds',
    head: [
      'round',
      'student accuracy',
      'FedAvg, no teacher',
      'loss (nats)',
      'bytes received',
      'bytes sent',
      'temperature',
      'alpha',
      'sites',
    ],
    rows: report.per_round.map((r) => [
      String(r.round),
      accuracy(r.student_accuracy),
      accuracy(fedavg[r.round - 1]),
      r.student_loss.toFixed(4),
      escapeHtml(formatBytes(r.bytes_up)),
      escapeHtml(formatBytes(r.bytes_down)),
      r.temperature.toFixed(2),
      r.alpha.toFixed(2),
      `${r.participants} / ${r.selected}`,
    ]),
  });
}

/** The distilled student against every baseline, on the same held-out rows. */
export function baselinesTable(report: DemoReport): string {
  const b = report.baselines;
  const binary = report.scenario.classes === 2;
  const row = (name: string, acc: number, area: number | undefined) => [
    escapeHtml(name),
    accuracy(acc),
    ...(binary ? [auc(area)] : []),
  ];
  // A baseline that had no labels to use (an unlabelled public split) is null: no row.
  const optional = (name: string, figures: HeldOutFigures | null) =>
    figures ? [row(name, figures.accuracy, figures.auc)] : [];
  return table({
    test: 'baselines',
    head: ['model', 'held-out accuracy', ...(binary ? ['AUC'] : [])],
    rows: [
      row('local only, mean over sites', b.local_only.mean, b.local_only.auc?.mean),
      row(
        `local only, best site (${b.local_only.best_site})`,
        b.local_only.best,
        b.local_only.auc?.best,
      ),
      row('FedAvg without teacher', b.fedavg_no_teacher.accuracy, b.fedavg_no_teacher.auc),
      ...optional('FedAvg with the public labels', b.fedavg_public_labels),
      row('centralized (all rows pooled)', b.centralized.accuracy, b.centralized.auc),
      ...optional('centralized, public labels too', b.centralized_public_labels),
      ...optional("FedAvg with the teacher's rows", b.fedavg_teacher_rows ?? null),
      ...optional("centralized, teacher's rows too", b.centralized_teacher_rows ?? null),
      row('teacher', b.teacher.accuracy, b.teacher.auc),
      row('distilled student', report.student_accuracy, report.compression.auc?.student_fp32),
    ],
  });
}
