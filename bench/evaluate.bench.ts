import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { runDemo } from '../cli/demo/demo.js';
import type { DemoReport, ScenarioName } from '../cli/demo/demo-report.js';
import { SCENARIOS } from '../cli/demo/scenarios.js';
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
  local_only_mean: (r) => r.baselines.local_only.mean,
  local_only_best: (r) => r.baselines.local_only.best,
  teacher: (r) => r.baselines.teacher.accuracy,
};

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

async function evaluate(
  name: ScenarioName,
  seeds: readonly number[],
  dirs: { cache: string; keep: string },
) {
  const scenario = SCENARIOS[name];
  const reports: DemoReport[] = [];
  for (const seed of seeds) {
    const started = Date.now();
    const out = await mkdtemp(path.join(tmpdir(), `fedistill-evaluate-${name}-`));
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
      await mkdir(dirs.keep, { recursive: true });
      await copyFile(
        path.join(out, 'report.json'),
        path.join(dirs.keep, `${name}-seed-${seed}.json`),
      );
    } finally {
      await rm(out, { recursive: true, force: true });
    }
    const r = reports[reports.length - 1]!;
    console.log(
      `${name} seed ${seed}: student ${r.student_accuracy.toFixed(4)}, gain ${r.distillation_gain.points.toFixed(1)} points ` +
        `over ${r.distillation_gain.against} (${((Date.now() - started) / 1000).toFixed(0)} s)`,
    );
  }

  const figures: Figures = { [`${name}.seeds`]: seeds.join(' ') };
  for (const [model, accuracy] of Object.entries(MODELS)) {
    const values = reports.map(accuracy);
    if (!values.every((v): v is number => v !== null)) continue;
    const interval = tInterval(values);
    figures[`${name}.${model}.mean`] = round(interval.mean, 4);
    figures[`${name}.${model}.ci95`] = round(interval.halfWidth ?? NaN, 4);
    console.log(`  ${model.padEnd(26)} ${format(interval)}`);
  }
  const gain = tInterval(reports.map((r) => r.distillation_gain.points));
  const against = [...new Set(reports.map((r) => r.distillation_gain.against))].join(' ');
  figures[`${name}.gain_points.mean`] = round(gain.mean, 2);
  figures[`${name}.gain_points.ci95`] = round(gain.halfWidth ?? NaN, 2);
  figures[`${name}.gain_against`] = against;
  figures[`${name}.gain_verdict`] = verdict(gain);
  console.log(
    `  distillation gain          ${format(gain, 1, 2)} points over ${against}: ${verdict(gain)}`,
  );
  // Sizes do not depend on the seed: the first run's stand for all.
  const first = reports[0]!;
  figures[`${name}.student_int8_bytes`] = first.compression.exports.tfjs.int8.weights_bytes;
  figures[`${name}.student_params`] = first.student_params;
  // An outside teacher reaches the coordinator as logits: the demo that trained it counts it.
  const teacherParams = first.baselines.teacher.params;
  if (teacherParams !== null) figures[`${name}.teacher_params`] = teacherParams;
  return figures;
}

const program = new Command('evaluate')
  .description("the demo's scenarios over several seeds, with 95 % intervals")
  .option('--scenario <names>', 'comma-separated', scenarioList, [
    'hospitals',
    'banks',
    'digits',
  ] as ScenarioName[])
  .option('--seeds <n>', 'seeds 1..n', seedCount, 5)
  .option('--cache <dir>', "the teachers' cache", path.join('runs', 'cache'))
  .option('--reports <dir>', "where each run's report.json is kept", path.join('runs', 'evaluate'));
program.parse();
const opts = program.opts<{
  scenario: ScenarioName[];
  seeds: number;
  cache: string;
  reports: string;
}>();
const seeds = Array.from({ length: opts.seeds }, (_, i) => i + 1);
// A scenario evaluated now replaces its own figures and keeps the other scenarios'.
let figures: Figures = Object.fromEntries(
  Object.entries((await readResults())?.benches['evaluate'] ?? {}).filter(
    ([key]) => !opts.scenario.some((name) => key.startsWith(`${name}.`)),
  ),
);
for (const name of opts.scenario) {
  figures = {
    ...figures,
    ...(await evaluate(name, seeds, {
      cache: path.resolve(opts.cache),
      keep: path.resolve(opts.reports),
    })),
  };
  // Recorded after each scenario, so that a long evaluation keeps what it has measured.
  await recordResults('evaluate', figures);
}
