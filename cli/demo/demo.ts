import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { recommendedSchedule } from '../../coordinator/compression/pruning-schedule.js';
import { runTeacherFigures, trainBaselines } from './baseline-run.js';
import type { DemoReport } from './demo-report.js';
import { runFederation } from './federation.js';
import { prepareOutsideTeacher } from './outside-teacher.js';
import { readRunReport, summarizeScenario, writeReportFiles } from './report-assembly.js';
import type { Scenario } from './scenarios.js';
import {
  BASELINES_LINE,
  finalLines,
  openingLines,
  outsideTeacherLine,
  servingLines,
} from './terminal-lines.js';
import { comparisonTable, roundsTable } from './terminal-tables.js';
import { prepareWorkspace } from './workspace.js';

export interface DemoOptions {
  readonly scenario: Scenario;
  readonly rounds: number;
  readonly sites: number;
  readonly seed: number;
  readonly out: string;
  readonly cacheDir: string;
  /** The student's final sparsity, reached on the recommended schedule; 0 keeps it dense. */
  readonly sparsity: number;
  /** With a value, the run is differentially private with this epsilon budget (delta 1e-5). */
  readonly dpEpsilon?: number;
  /** Every round securely aggregated (SecAgg+): the coordinator sees only sums. */
  readonly secureAggregation?: boolean;
  /** The whole demo is stopped, and fails, after this long. */
  readonly timeoutMs: number;
  /** Keep the coordinator and its dashboard up after the last round, until this settles. */
  readonly serveUntil?: Promise<unknown>;
  /** stdout is a terminal: progress bars with ETA instead of one line per step. */
  readonly interactive: boolean;
}

/**
 * The main job: a coordinator and N sites as separate processes on loopback, on a seeded split
 * of one scenario's data. Shows each round's progress, trains the baselines on the same split,
 * and leaves everything (keys, splits, configs, logs, report.json and report.html, the
 * exported student, the audit export) under `out`.
 */
export async function runDemo(
  options: DemoOptions,
  print: (line: string) => void,
): Promise<DemoReport> {
  const { scenario, interactive } = options;
  const pruning = options.sparsity > 0;
  const workspace = await prepareWorkspace(options.out, {
    scenario,
    sites: options.sites,
    rounds: options.rounds,
    seed: options.seed,
    cacheDir: options.cacheDir,
    ...(pruning
      ? { pruning: { schedule: recommendedSchedule(options.rounds, options.sparsity) } }
      : {}),
    ...(options.dpEpsilon === undefined ? {} : { dp: { epsilon: options.dpEpsilon } }),
    ...(options.secureAggregation ? { secureAggregation: true } : {}),
  });
  const logDir = path.join(options.out, 'logs');
  await mkdir(logDir, { recursive: true });
  const { split } = workspace;
  const summary = summarizeScenario({
    scenario,
    sites: split.sites,
    siteNames: workspace.siteNames,
    seed: options.seed,
    outside: split.outside,
  });
  openingLines({
    scenario,
    summary,
    split,
    sites: options.sites,
    rounds: options.rounds,
    seed: options.seed,
    out: options.out,
  }).forEach((line) => print(line));

  // Distillation's premise: a teacher from outside, which the coordinator knows only by its
  // logits on the (unlabelled) transfer set.
  const outside =
    scenario.teacher.kind === 'outside'
      ? await prepareOutsideTeacher({
          workspace,
          cacheDir: options.cacheDir,
          seed: options.seed,
          log: print,
        })
      : undefined;
  if (outside) print(outsideTeacherLine(outside));

  const federation = await runFederation({
    workspace,
    logDir,
    rounds: options.rounds,
    pruning,
    timeoutMs: options.timeoutMs,
    serve: options.serveUntil !== undefined,
    interactive,
    print,
  });

  const runReport = await readRunReport(workspace);
  print('');
  print(BASELINES_LINE);
  const teacher = outside?.figures ?? runTeacherFigures(runReport);
  if (!teacher) throw new Error('the demo measures its baselines against a teacher it can run');
  const baselines = await trainBaselines({ workspace, teacher, interactive, print });
  const { report, files } = await writeReportFiles({
    workspace,
    runReport,
    scenario: summary,
    baselines,
  });
  print('');
  print(roundsTable(report));
  print(comparisonTable(report));
  finalLines({ report, pruning, files, outside }).forEach((line) => print(line));

  if (options.serveUntil) {
    servingLines(federation.dashboard).forEach((line) => print(line));
    await options.serveUntil;
    await federation.stop();
  }
  return report;
}
