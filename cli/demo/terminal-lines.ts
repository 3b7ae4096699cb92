import type { LatencyFigures } from '../../coordinator/compression/inference-latency.js';
import type { RoundSummary } from '../../coordinator/runs/run-report.js';
import type { TeacherSummary } from '../../coordinator/teacher/prepared-teacher.js';
import type { DemoReport, ScenarioSummary } from './demo-report.js';
import type { OutsideTeacher } from './outside-teacher.js';
import { FEDERATED_BASELINE_NAMES } from './distillation-gain.js';
import type { ReportFiles } from './report-assembly.js';
import type { Scenario } from './scenarios.js';
import type { ScenarioSplit } from './scenario-split.js';

// The demo's lines on stdout. tests/cli and the docs quote them, so their wording is a contract.

const percent = (share: number): string => `${(100 * share).toFixed(1)}%`;

/** One line per site: its rows and the classes it holds (label skew shows here). */
export function siteLine({
  site,
  classNames,
  label,
}: {
  readonly site: ScenarioSummary['sites'][number];
  readonly classNames: readonly string[];
  /** The site in the scenario's terms (a bank branch's education group), if it has one. */
  readonly label: string | undefined;
}): string {
  const held = site.label_counts
    .map((count, c) => (count > 0 ? `${classNames[c]}: ${count}` : ''))
    .filter(Boolean)
    .join(', ');
  return `  ${site.name}${label ? ` (${label})` : ''}: ${site.rows} private rows; ${held}`;
}

/** What the demo is about to run, before any party starts: the data, its split, each site. */
export function openingLines({
  scenario,
  summary,
  split,
  sites,
  rounds,
  seed,
  out,
}: {
  readonly scenario: Scenario;
  readonly summary: ScenarioSummary;
  readonly split: ScenarioSplit;
  readonly sites: number;
  readonly rounds: number;
  readonly seed: number;
  readonly out: string;
}): string[] {
  return [
    `fedistill demo: ${scenario.title}, ${sites} ${scenario.sitesNoun}, ${rounds} rounds, seed ${seed}`,
    `  data      ${scenario.data}`,
    `  split     ${summary.split}`,
    `  premise   ${summary.premise}`,
    `  workspace ${out}`,
    `  held-out ${split.heldOut.rows} rows and public ${split.publicSplit.rows} rows stay with the coordinator`,
    ...summary.sites.map((site, i) =>
      siteLine({ site, classNames: scenario.classNames, label: split.labels?.[i] }),
    ),
  ];
}

/** The teacher the coordinator trained, loaded or imported before it listened. */
export function teacherLine(teacher: TeacherSummary): string {
  return teacher.source === 'model'
    ? `  teacher ${teacher.cached ? 'loaded from cache' : 'trained on the public split'}: ` +
        `${teacher.params} parameters, held-out accuracy ${teacher.accuracy.toFixed(4)}`
    : `  teacher logits imported from ${teacher.file}`;
}

/** The outside teacher, before the coordinator starts: the run will know only its logits. */
export function outsideTeacherLine(teacher: OutsideTeacher): string {
  return (
    `  outside teacher ${teacher.cached ? 'loaded from cache' : 'trained'} on ${teacher.rows} rows outside the federation: ` +
    `${teacher.figures.params} parameters, held-out accuracy ${teacher.figures.accuracy.toFixed(4)}; ` +
    `its logits on the unlabelled transfer set are the coordinator's import`
  );
}

/** A round as it closes; sparsity only when the run prunes, epsilon only when it is private. */
export function roundLine({
  summary: s,
  pruning,
}: {
  readonly summary: RoundSummary;
  readonly pruning: boolean;
}): string {
  const width = String(s.rounds).length;
  return (
    `  round ${String(s.round).padStart(width)}/${s.rounds}  T=${s.temperature.toFixed(2)}  ` +
    `alpha=${s.alpha.toFixed(2)}  sites=${s.participants}  student accuracy ${s.student_accuracy.toFixed(4)}` +
    (pruning ? `  sparsity ${percent(s.sparsity)}` : '') +
    (s.epsilon === undefined ? '' : `  epsilon ${s.epsilon.toFixed(3)}`)
  );
}

/** What is known of the teacher: held-out figures where a model was at hand, else agreement. */
function teacherFiguresLine(report: DemoReport, outside: OutsideTeacher | undefined): string {
  if (report.teacher_source === 'model') {
    return `  teacher accuracy      ${report.teacher_accuracy.toFixed(4)}  (${report.teacher_params} parameters, public split only)`;
  }
  if (outside) {
    return `  teacher accuracy      ${outside.figures.accuracy.toFixed(4)}  (${outside.figures.params} parameters, ${outside.rows} rows outside the federation; measured by the demo, the run imported its logits)`;
  }
  const agreement = report.teacher_transfer_accuracy;
  return agreement === null
    ? '  teacher agreement     none  (imported logits on an unlabelled transfer set; no held-out figure)'
    : `  teacher agreement     ${agreement.toFixed(4)}  (imported logits vs public labels; no held-out figure)`;
}

export const BASELINES_LINE =
  "  baselines on the same split and seed: local only, FedAvg and centralized, without and with the labelled rows the teacher learned from (the public split's, or an outside teacher's own)";

const latency = (figures: LatencyFigures | null): string =>
  figures
    ? `${figures.batch_1.toFixed(3)} ms at batch 1, ${(figures.batch_256 * 1000).toFixed(1)} us at batch 256`
    : 'n/a';

/** The figures a reader looks for first, under the tables, and where every file went. */
export function finalLines({
  report,
  pruning,
  files,
  outside,
}: {
  readonly report: DemoReport;
  readonly pruning: boolean;
  readonly files: ReportFiles;
  /** The teacher the demo trained outside the federation, whose logits the run imported. */
  readonly outside?: OutsideTeacher | undefined;
}): string[] {
  const { privacy, compression: c } = report;
  const gain = report.distillation_gain;
  const int8 = c.exports.tfjs.int8;
  const fp32 = c.exports.tfjs.float32;
  const last = report.per_round[report.per_round.length - 1];
  return [
    `  distillation gain     ${gain.points >= 0 ? '+' : ''}${gain.points.toFixed(1)} points of accuracy over ${FEDERATED_BASELINE_NAMES[gain.against]} (${gain.baseline_accuracy.toFixed(4)}), the strongest federated baseline without a teacher`,
    teacherFiguresLine(report, outside),
    `  student accuracy      ${report.student_accuracy.toFixed(4)}  (${report.student_params} parameters, federated)`,
    ...(pruning
      ? [`  student sparsity      ${percent(last!.sparsity)}  (kernel weights exactly zero)`]
      : []),
    ...(report.secure_aggregation
      ? ['  secure aggregation    SecAgg+: the coordinator saw only the sum of each round']
      : []),
    ...(privacy
      ? [
          `  privacy               epsilon ${privacy.epsilon.toFixed(3)} of ${privacy.epsilon_budget} at delta ${privacy.delta} ` +
            `(noise multiplier ${privacy.noise_multiplier.toFixed(3)}, clip norm ${privacy.clip_norm}, ` +
            `${privacy.rounds_completed} rounds${privacy.stopped_by_budget ? ', stopped by the budget' : ''})`,
        ]
      : []),
    ...(privacy?.sites_own
      ? [
          `  sites' own epsilon    ${privacy.sites_own.per_site.map((s) => `${s.site} ${s.epsilon.toFixed(3)} (${s.attempts} attempts)`).join(', ')}: their own noise alone, trusting no one`,
        ]
      : []),
    `  majority-class rate   ${report.majority_class_rate.toFixed(4)}  (${report.held_out_rows} held-out rows)`,
    `  exported int8 student ${c.accuracy.student_int8.toFixed(4)}  (fp32 ${c.accuracy.student_fp32.toFixed(4)}` +
      (c.auc
        ? `; AUC int8 ${c.auc.student_int8.toFixed(4)}, fp32 ${c.auc.student_fp32.toFixed(4)}`
        : '') +
      `; ${(100 * c.sparsity).toFixed(0)}% of kernel weights pruned)`,
    `  student weights       int8 ${int8.weights_bytes} B (gzip ${int8.weights_gzip_bytes}), fp32 ${fp32.weights_bytes} B (gzip ${fp32.weights_gzip_bytes})`,
    `  inference / example   student ${latency(c.latency_ms_per_example.student)}`,
    // The run's own timing of a model teacher, or the demo's of an outside one (baseline-run.ts).
    `                        teacher ${latency(report.baselines.teacher.latency_ms_per_example)}${outside ? ' (timed by the demo, which plays the outside party)' : ''}`,
    `  exported              ${c.files.int8} (int8), ${c.files.fp32} (fp32)`,
    `  bytes up / down       ${report.bytes_up} / ${report.bytes_down}`,
    `  backends              coordinator ${report.backend}; ${Object.entries(report.site_backends)
      .sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }))
      .map(([s, b]) => `${s} ${b}`)
      .join(', ')}`,
    `  wall time             ${report.wall_seconds.toFixed(1)} s (coordinator)`,
    `  report                ${files.json}, ${files.html}`,
    `  audit log             ${files.audit} (verify: fedistill audit verify ${files.audit} --coordinator-key ${files.coordinatorKey})`,
  ];
}

/**
 * Whether the demo keeps its coordinator and dashboard up after the run: as asked (`--serve`,
 * `--no-serve`), else only where someone can open the link and press Ctrl-C: an interactive
 * terminal, not a pipe or CI, where the demo exits when its run is done.
 */
export function keepsServing(
  asked: boolean | undefined,
  terminal: { readonly stdin: boolean; readonly stdout: boolean; readonly ci: boolean },
): boolean {
  return asked ?? (terminal.stdin && terminal.stdout && !terminal.ci);
}

/** When the demo keeps serving, once the report is written: the dashboard link again, where it is seen. */
export function servingLines(dashboard: string): string[] {
  return [
    '',
    `The coordinator and its dashboard stay up until interrupted (Ctrl-C).`,
    `Dashboard: ${dashboard}`,
  ];
}
