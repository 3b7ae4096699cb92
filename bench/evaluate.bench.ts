import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { runDemo } from '../cli/demo/demo.js';
import type { DemoReport, ScenarioName } from '../cli/demo/demo-report.js';
import { SCENARIOS, type Scenario } from '../cli/demo/scenarios.js';
import type { RunSpecInput } from '../coordinator/runs/run-spec.js';
import { efficiency, type Efficiency } from './efficiency.js';
import { tInterval, verdict, type Interval } from './intervals.js';
import { readResults, recordResults, round, type Figures } from './results.js';

/**
 * `npm run evaluate`: each scenario of the demo, exactly as `npm run demo` runs it, over several
 * seeds (the split, the initial weights and the site selection all follow the seed), and the
 * mean and 95 % t interval of the student and of every baseline. The distillation gain is a
 * paired difference per seed, so it is judged by its own interval: a difference whose interval
 * holds zero is reported as none. Figures go to bench/results.json under `evaluate`.
 */

/** A model's held-out accuracy in one report; null where the scenario has no such baseline. */
const MODELS: Record<string, (r: DemoReport) => number | null> = {
  student_int8: (r) => r.compression.accuracy.student_int8,
  student_fp32: (r) => r.student_accuracy,
  fedavg_no_teacher: (r) => r.baselines.fedavg_no_teacher.accuracy,
  fedavg_public_labels: (r) => r.baselines.fedavg_public_labels?.accuracy ?? null,
  centralized: (r) => r.baselines.centralized.accuracy,
  centralized_public_labels: (r) => r.baselines.centralized_public_labels?.accuracy ?? null,
  fedavg_teacher_rows: (r) => r.baselines.fedavg_teacher_rows?.accuracy ?? null,
  centralized_teacher_rows: (r) => r.baselines.centralized_teacher_rows?.accuracy ?? null,
  local_only_mean: (r) => r.baselines.local_only.mean,
  local_only_best: (r) => r.baselines.local_only.best,
  teacher: (r) => r.baselines.teacher.accuracy,
};

/** The same models' held-out AUC, for binary tasks; null where a report has none. */
const AUCS: Record<string, (r: DemoReport) => number | null> = {
  student_int8: (r) => r.compression.auc?.student_int8 ?? null,
  fedavg_no_teacher: (r) => r.baselines.fedavg_no_teacher.auc ?? null,
  fedavg_public_labels: (r) => r.baselines.fedavg_public_labels?.auc ?? null,
  centralized: (r) => r.baselines.centralized.auc ?? null,
  fedavg_teacher_rows: (r) => r.baselines.fedavg_teacher_rows?.auc ?? null,
  local_only_best: (r) => r.baselines.local_only.auc?.best ?? null,
  teacher: (r) => r.baselines.teacher.auc ?? null,
};

type DistillationMode = NonNullable<NonNullable<RunSpecInput['distillation']>['mode']>;

function scenarioList(value: string): ScenarioName[] {
  const names = value.split(',');
  for (const name of names) {
    if (!(name in SCENARIOS)) throw new InvalidArgumentError(`unknown scenario ${name}`);
  }
  return names as ScenarioName[];
}

function seedCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 2 || n > 31) throw new InvalidArgumentError('2 to 31 seeds');
  return n;
}

const format = (i: Interval, scale = 1, digits = 4) =>
  `${(scale * i.mean).toFixed(digits)} ± ${i.halfWidth === null ? '-' : (scale * i.halfWidth).toFixed(digits)}`;

/**
 * One series of runs: a scenario as the demo runs it, or with the teacher's knowledge sent as
 * the class-logits matrix instead of the transfer set (scenarios whose public split has labels).
 */
interface Series {
  readonly key: string;
  readonly scenario: Scenario;
}

function seriesOf(name: ScenarioName, mode: DistillationMode): Series {
  const scenario = SCENARIOS[name];
  if (mode === 'transfer-set') return { key: name, scenario };
  return {
    key: `${name}_class_logits`,
    scenario: { ...scenario, run: { ...scenario.run, distillation: { mode: 'class-logits' } } },
  };
}

/** Runs the series over the seeds, keeping each report as `<key>-seed-<n>.json` in `keep`. */
async function runSeries(
  { key, scenario }: Series,
  seeds: readonly number[],
  dirs: { cache: string; keep: string },
): Promise<DemoReport[]> {
  const reports: DemoReport[] = [];
  await mkdir(dirs.keep, { recursive: true });
  for (const seed of seeds) {
    const started = Date.now();
    const out = await mkdtemp(path.join(tmpdir(), `fedistill-evaluate-${key}-`));
    try {
      reports.push(
        await runDemo(
          {
            scenario,
            rounds: scenario.defaults.rounds,
            sites: scenario.defaults.sites,
            seed,
            out,
            cacheDir: dirs.cache,
            sparsity: 0.5,
            timeoutMs: 60 * 60_000,
            interactive: false,
          },
          () => undefined,
        ),
      );
      // Each run's report is kept, so that a figure added later can be read from it.
      await copyFile(
        path.join(out, 'report.json'),
        path.join(dirs.keep, `${key}-seed-${seed}.json`),
      );
    } finally {
      await rm(out, { recursive: true, force: true });
    }
    const r = reports[reports.length - 1]!;
    console.log(
      `${key} seed ${seed}: student ${r.student_accuracy.toFixed(4)}, gain ${r.distillation_gain.points.toFixed(1)} points ` +
        `over ${r.distillation_gain.against} (${((Date.now() - started) / 1000).toFixed(0)} s)`,
    );
  }
  return reports;
}

/** The reports an earlier evaluation kept, for figures read again without running. */
async function keptReports(key: string, seeds: readonly number[], keep: string) {
  return Promise.all(
    seeds.map(
      async (seed) =>
        JSON.parse(
          await readFile(path.join(keep, `${key}-seed-${seed}.json`), 'utf8'),
        ) as DemoReport,
    ),
  );
}

/** Mean and interval of one figure over the seeds; nothing where a seed has none. */
function summarize(
  figures: Figures,
  key: string,
  values: readonly (number | null)[],
  digits: number,
): void {
  if (values.length === 0 || !values.every((v): v is number => v !== null)) return;
  const interval = tInterval(values);
  figures[`${key}.mean`] = round(interval.mean, digits);
  figures[`${key}.ci95`] = round(interval.halfWidth ?? NaN, digits);
  console.log(`  ${key.slice(key.indexOf('.') + 1).padEnd(44)} ${format(interval, 1, digits)}`);
}

function seriesFigures(key: string, seeds: readonly number[], reports: readonly DemoReport[]) {
  const figures: Figures = { [`${key}.seeds`]: seeds.join(' ') };
  for (const [model, accuracy] of Object.entries(MODELS)) {
    summarize(figures, `${key}.${model}`, reports.map(accuracy), 4);
  }
  for (const [model, auc] of Object.entries(AUCS)) {
    summarize(figures, `${key}.auc.${model}`, reports.map(auc), 4);
  }
  const points = reports.map((r) => r.distillation_gain.points);
  summarize(figures, `${key}.gain_points`, points, 2);
  const against = [...new Set(reports.map((r) => r.distillation_gain.against))].join(' ');
  figures[`${key}.gain_against`] = against;
  figures[`${key}.gain_verdict`] = verdict(tInterval(points));
  console.log(`  the gain is over ${against}: ${figures[`${key}.gain_verdict`]}`);

  // What distillation buys besides accuracy, from the same runs.
  const runs = reports.map(efficiency);
  const reached = runs.filter((e) => e.studentRounds !== null).length;
  const caughtUp = runs.filter((e) => e.fedavgRoundsToStudent !== null).length;
  figures[`${key}.target_reached`] = `${reached} of ${runs.length}`;
  figures[`${key}.fedavg_reached_student`] = `${caughtUp} of ${runs.length}`;
  console.log(
    `  the student reached FedAvg's final accuracy in ${reached} of ${runs.length} runs; FedAvg reached the student's in ${caughtUp}`,
  );
  const perRun: [string, (e: Efficiency) => number | null, number][] = [
    ['round_bytes_per_site', (e) => e.roundBytesPerSite, 0],
    ['once_bytes_per_site', (e) => e.onceBytesPerSite, 0],
    ['target_accuracy', (e) => e.target, 4],
    ['rounds_to_target.student', (e) => e.studentRounds, 2],
    ['rounds_to_target.fedavg_no_teacher', (e) => e.fedavgRounds, 2],
    ['bytes_to_target_per_site.student', (e) => e.studentBytesToTarget, 0],
    ['bytes_to_target_per_site.fedavg_no_teacher', (e) => e.fedavgBytesToTarget, 0],
    ['teacher_over_student_latency_batch_1', (e) => e.speedup, 2],
  ];
  for (const [figure, read, digits] of perRun) {
    summarize(figures, `${key}.${figure}`, runs.map(read), digits);
  }
  // Sizes do not depend on the seed: the first run's stand for all.
  const first = runs[0]!;
  figures[`${key}.student_int8_bytes`] = first.studentBytes;
  figures[`${key}.student_params`] = reports[0]!.student_params;
  // An outside teacher reaches the coordinator as logits: the demo that trained it counts it.
  const teacherParams = reports[0]!.baselines.teacher.params;
  if (teacherParams !== null) figures[`${key}.teacher_params`] = teacherParams;
  if (first.teacherBytes !== null) figures[`${key}.teacher_fp32_bytes`] = first.teacherBytes;
  return figures;
}

const program = new Command('evaluate')
  .description("the demo's scenarios over several seeds, with 95 % intervals")
  .option(
    '--scenario <names>',
    'comma-separated',
    scenarioList,
    Object.keys(SCENARIOS) as ScenarioName[],
  )
  .addOption(
    new Option('--mode <mode>', "how the teacher's knowledge reaches the sites")
      .choices(['transfer-set', 'class-logits'])
      .default('transfer-set'),
  )
  .option('--seeds <n>', 'seeds 1..n', seedCount, 5)
  .option('--cache <dir>', "the teachers' cache", path.join('runs', 'cache'))
  .option('--reports <dir>', "where each run's report.json is kept", path.join('runs', 'evaluate'))
  .option('--from-reports', 'read the figures again from the reports kept, without running');
program.parse();
const opts = program.opts<{
  scenario: ScenarioName[];
  mode: DistillationMode;
  seeds: number;
  cache: string;
  reports: string;
  fromReports?: boolean;
}>();
const seeds = Array.from({ length: opts.seeds }, (_, i) => i + 1);
// The class-logits matrix averages the teacher's logits per public label.
const unlabelled = opts.scenario.filter((name) => SCENARIOS[name].teacher.kind === 'outside');
if (opts.mode === 'class-logits' && unlabelled.length > 0) {
  program.error(
    `error: --mode class-logits needs a labelled public split; ${unlabelled.join(', ')} has none (an outside teacher)`,
  );
}
const series = opts.scenario.map((name) => seriesOf(name, opts.mode));
// A series evaluated now replaces its own figures and keeps the others'.
let figures: Figures = Object.fromEntries(
  Object.entries((await readResults())?.benches['evaluate'] ?? {}).filter(
    ([key]) => !series.some((s) => key.startsWith(`${s.key}.`)),
  ),
);
const dirs = { cache: path.resolve(opts.cache), keep: path.resolve(opts.reports) };
for (const one of series) {
  const reports = opts.fromReports
    ? await keptReports(one.key, seeds, dirs.keep)
    : await runSeries(one, seeds, dirs);
  console.log(`${one.key} over seeds ${seeds.join(', ')}:`);
  figures = { ...figures, ...seriesFigures(one.key, seeds, reports) };
  // Recorded after each series, so that a long evaluation keeps what it has measured.
  await recordResults('evaluate', figures);
}
