import Table from 'cli-table3';
import type { LabelledTable } from '../../protocol/index.js';
import type { DemoReport, ScenarioSummary } from './demo-report.js';
import type { Scenario } from './scenarios.js';

/** A plain box table (no colours: it also lands in logs), indented like the demo's lines. */
function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
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

/** The scenario as it ran: what each site holds, for the report and the opening lines. */
export function scenarioSummary(
  scenario: Scenario,
  sites: readonly LabelledTable[],
  siteNames: readonly string[],
  seed: number,
): ScenarioSummary {
  const classes = scenario.classNames.length;
  return {
    name: scenario.name,
    title: scenario.title,
    data: scenario.data,
    split: `${scenario.splitText(sites.length)}; seed ${seed}`,
    sites: sites.map((site, i) => {
      const counts = new Array<number>(classes).fill(0);
      for (const label of site.labels) counts[label]!++;
      return {
        name: siteNames[i]!,
        rows: site.rows,
        ...(classes === 2 ? { positive_share: counts[1]! / site.rows } : {}),
        label_counts: counts,
      };
    }),
    classes,
    class_names: scenario.classNames,
  };
}

/** One line per site: its rows and the classes it holds (label skew shows here). */
export function siteLine(
  site: ScenarioSummary['sites'][number],
  classNames: readonly string[],
  label: string | undefined,
): string {
  const held = site.label_counts
    .map((count, c) => (count > 0 ? `${classNames[c]}: ${count}` : ''))
    .filter(Boolean)
    .join(', ');
  return `  ${site.name}${label ? ` (${label})` : ''}: ${site.rows} private rows; ${held}`;
}

/** Each round of the federated run. */
export function roundsTable(report: DemoReport): string {
  const dp = report.per_round.some((r) => r.epsilon !== undefined);
  return table(
    [
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
    report.per_round.map((r) => [
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
  );
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
  return table(
    ['model', 'accuracy', ...(binary ? ['AUC'] : []), 'parameters'],
    [
      row(
        'teacher (public split)',
        b.teacher.accuracy,
        b.teacher.auc,
        String(b.teacher.params ?? '-'),
      ),
      row('centralized (pooled rows)', b.centralized.accuracy, b.centralized.auc, student),
      row('distilled student, fp32', c.accuracy.student_fp32, c.auc?.student_fp32, student),
      row('distilled student, int8 export', c.accuracy.student_int8, c.auc?.student_int8, student),
      row(
        'FedAvg without the teacher',
        b.fedavg_no_teacher.accuracy,
        b.fedavg_no_teacher.auc,
        student,
      ),
      row('local only, best site', b.local_only.best, b.local_only.auc?.best, student),
      row('local only, mean of sites', b.local_only.mean, b.local_only.auc?.mean, student),
    ],
  );
}
