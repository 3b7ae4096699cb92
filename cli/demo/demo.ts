import { fork, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSiteConfig } from '../../client/site-config.js';
import { recommendedSchedule } from '../../coordinator/compression/pruning-schedule.js';
import {
  loadCoordinatorConfig,
  normalizerFor,
} from '../../coordinator/config/coordinator-config.js';
import type { RoundSummary, RunReport } from '../../coordinator/runs/run-report.js';
import { studentSpecOf } from '../../coordinator/runs/run-spec.js';
import { dashboardLoginUrl } from '../../coordinator/api/tokens.js';
import { selectBackend, unwrap } from '../../protocol/index.js';
import { formatJsonl, readAuditLog } from '../audit-commands.js';
import { withCoordinatorStore } from '../coordinator-store.js';
import type { CoordinatorIpcMessage } from '../coordinator-ipc.js';
import { computeBaselines } from './baselines.js';
import type { DemoReport } from './demo-report.js';
import { renderHtmlReport } from './html-report.js';
import { progress } from './progress.js';
import type { Scenario } from './scenarios.js';
import { comparisonTable, roundsTable, scenarioSummary, siteLine } from './summary-tables.js';
import { prepareWorkspace, writeSiteConfig, type DemoWorkspace } from './workspace.js';

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

const MAIN = fileURLToPath(new URL('../main.js', import.meta.url));

function tail(text: string, lines: number): string {
  return text
    .trimEnd()
    .split('\n')
    .slice(-lines)
    .map((l) => `    ${l}`)
    .join('\n');
}

interface Party {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logFile: string;
  readonly exited: Promise<number>;
}

async function spawnParty(name: string, args: string[], logDir: string): Promise<Party> {
  const logFile = path.join(logDir, `${name}.log`);
  const log = createWriteStream(logFile);
  await new Promise((resolve) => log.once('open', resolve));
  // Logs are files, not terminals: no colour codes in them.
  const child = fork(MAIN, args, {
    stdio: ['ignore', log, log, 'ipc'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  const exited = new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
  return { name, child, logFile, exited };
}

async function describeFailure(party: Party, code: number): Promise<Error> {
  const log = await readFile(party.logFile, 'utf8').catch(() => '');
  return new Error(
    `${party.name} exited with code ${code}; the end of ${party.logFile}:\n${tail(log, 15)}`,
  );
}

const percent = (share: number): string => `${(100 * share).toFixed(1)}%`;

function progressLine(s: RoundSummary, pruning: boolean): string {
  const width = String(s.rounds).length;
  return (
    `  round ${String(s.round).padStart(width)}/${s.rounds}  T=${s.temperature.toFixed(2)}  ` +
    `alpha=${s.alpha.toFixed(2)}  sites=${s.participants}  student accuracy ${s.student_accuracy.toFixed(4)}` +
    (pruning ? `  sparsity ${percent(s.sparsity)}` : '') +
    (s.epsilon === undefined ? '' : `  epsilon ${s.epsilon.toFixed(3)}`)
  );
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
  const { scenario } = options;
  const workspace = await prepareWorkspace(options.out, {
    scenario,
    sites: options.sites,
    rounds: options.rounds,
    seed: options.seed,
    cacheDir: options.cacheDir,
    ...(options.sparsity > 0
      ? { pruning: { schedule: recommendedSchedule(options.rounds, options.sparsity) } }
      : {}),
    ...(options.dpEpsilon === undefined ? {} : { dp: { epsilon: options.dpEpsilon } }),
    ...(options.secureAggregation ? { secureAggregation: true } : {}),
  });
  const logDir = path.join(options.out, 'logs');
  await mkdir(logDir, { recursive: true });
  const { split } = workspace;
  const summary = scenarioSummary(scenario, split.sites, workspace.siteNames, options.seed);
  print(
    `fedistill demo: ${scenario.title}, ${options.sites} ${scenario.sitesNoun}, ${options.rounds} rounds, seed ${options.seed}`,
  );
  print(`  data      ${scenario.data}`);
  print(`  split     ${summary.split}`);
  print(`  workspace ${options.out}`);
  print(
    `  held-out ${split.heldOut.rows} rows and public ${split.publicSplit.rows} rows stay with the coordinator`,
  );
  summary.sites.forEach((site, i) => print(siteLine(site, scenario.classNames, split.labels?.[i])));

  const parties: Party[] = [];
  const stopAll = (): void => {
    for (const p of parties) if (p.child.exitCode === null) p.child.kill('SIGTERM');
  };
  const timer = setTimeout(stopAll, options.timeoutMs);
  const serve = options.serveUntil !== undefined;
  const rounds = progress('rounds', options.rounds, print, options.interactive);
  let dashboard: string;
  try {
    // Its teacher is trained before it listens: minutes for digits on a CPU, unless cached.
    print('  starting the coordinator (it trains the teacher first, unless it is cached)');
    const coordinator = await spawnParty(
      'coordinator',
      ['coordinator', '--config', workspace.coordinatorConfigFile, ...(serve ? ['--serve'] : [])],
      logDir,
    );
    parties.push(coordinator);
    let serving: Promise<void> = Promise.resolve();
    const listening = await new Promise<Extract<CoordinatorIpcMessage, { type: 'listening' }>>(
      (resolve, reject) => {
        serving = new Promise((servingNow) => {
          coordinator.child.on('message', (message: CoordinatorIpcMessage) => {
            if (message.type === 'listening') resolve(message);
            if (message.type === 'serving') servingNow();
            if (message.type === 'round')
              rounds.update(
                message.summary.round,
                progressLine(message.summary, options.sparsity > 0),
              );
          });
        });
        void coordinator.exited.then(async (code) =>
          reject(await describeFailure(coordinator, code)),
        );
      },
    );
    const { url, teacher } = listening;
    print(`  coordinator listening on ${url}`);
    // A one-time operator link, its token written to the coordinator's store.
    dashboard = await withCoordinatorStore(workspace.coordinatorConfigFile, (store) =>
      dashboardLoginUrl(store.tokens, url, 'demo'),
    );
    print(`Dashboard: ${dashboard}`);
    if (teacher) {
      print(
        teacher.source === 'model'
          ? `  teacher ${teacher.cached ? 'loaded from cache' : 'trained on the public split'}: ` +
              `${teacher.params} parameters, held-out accuracy ${teacher.accuracy.toFixed(4)}`
          : `  teacher logits imported from ${teacher.file}`,
      );
    }

    for (const site of workspace.siteNames) {
      const config = await writeSiteConfig(workspace, site, url);
      parties.push(await spawnParty(site, ['site', 'start', '--config', config], logDir));
    }
    // With --serve the coordinator stays up after the run: it says so instead of exiting.
    const [, ...sites] = parties;
    for (const party of serve ? sites : parties) {
      const code = await party.exited;
      if (code !== 0) throw await describeFailure(party, code);
    }
    if (serve) {
      await Promise.race([
        serving,
        coordinator.exited.then(async (code) => {
          throw await describeFailure(coordinator, code);
        }),
      ]);
    }
  } catch (error) {
    stopAll();
    throw error;
  } finally {
    rounds.stop();
    clearTimeout(timer);
    if (!serve) stopAll();
  }
  const runReport = JSON.parse(await readFile(workspace.reportFile, 'utf8')) as RunReport;
  print('');
  print(
    '  baselines on the same split and seed: local only, FedAvg without the teacher, centralized',
  );
  const baselines = await trainBaselines(workspace, runReport, options.interactive, print);
  const report: DemoReport = { ...runReport, scenario: summary, baselines };
  await writeFile(workspace.reportFile, JSON.stringify(report, null, 2) + '\n');
  const htmlFile = path.join(workspace.dir, 'report.html');
  await writeFile(htmlFile, await renderHtmlReport(report));
  // What an auditor is handed: the log with its signed heads, and the key that signed them.
  const auditFile = path.join(workspace.dir, 'audit.jsonl');
  await writeFile(auditFile, formatJsonl(await readAuditLog(workspace.coordinatorConfigFile)));
  await copyFile(
    path.join(path.dirname(workspace.keys.allowList), 'coordinator.pub'),
    path.join(workspace.dir, 'coordinator.pub'),
  );
  print('');
  print(roundsTable(report));
  print(comparisonTable(report));
  const gain = report.student_accuracy - baselines.fedavg_no_teacher.accuracy;
  print(
    `  distillation gain     ${gain >= 0 ? '+' : ''}${(100 * gain).toFixed(1)} points of accuracy over FedAvg without the teacher`,
  );
  print(
    report.teacher_source === 'model'
      ? `  teacher accuracy      ${report.teacher_accuracy.toFixed(4)}  (${report.teacher_params} parameters, public split only)`
      : `  teacher agreement     ${report.teacher_transfer_accuracy.toFixed(4)}  (imported logits vs public labels; no held-out figure)`,
  );
  print(
    `  student accuracy      ${report.student_accuracy.toFixed(4)}  (${report.student_params} parameters, federated)`,
  );
  if (options.sparsity > 0) {
    const last = report.per_round[report.per_round.length - 1]!;
    print(`  student sparsity      ${percent(last.sparsity)}  (kernel weights exactly zero)`);
  }
  if (report.secure_aggregation) {
    print('  secure aggregation    SecAgg+: the coordinator saw only the sum of each round');
  }
  const { privacy } = report;
  if (privacy) {
    print(
      `  privacy               epsilon ${privacy.epsilon.toFixed(3)} of ${privacy.epsilon_budget} at delta ${privacy.delta} ` +
        `(noise multiplier ${privacy.noise_multiplier.toFixed(3)}, clip norm ${privacy.clip_norm}, ` +
        `${privacy.rounds_completed} rounds${privacy.stopped_by_budget ? ', stopped by the budget' : ''})`,
    );
  }
  print(
    `  majority-class rate   ${report.majority_class_rate.toFixed(4)}  (${report.held_out_rows} held-out rows)`,
  );
  const { compression: c } = report;
  const int8 = c.exports.tfjs.int8;
  const fp32 = c.exports.tfjs.float32;
  const ms = (figures: { batch_1: number; batch_256: number } | null): string =>
    figures
      ? `${figures.batch_1.toFixed(3)} ms at batch 1, ${(figures.batch_256 * 1000).toFixed(1)} us at batch 256`
      : 'n/a';
  print(
    `  exported int8 student ${c.accuracy.student_int8.toFixed(4)}  (fp32 ${c.accuracy.student_fp32.toFixed(4)}` +
      (c.auc
        ? `; AUC int8 ${c.auc.student_int8.toFixed(4)}, fp32 ${c.auc.student_fp32.toFixed(4)}`
        : '') +
      `; ${(100 * c.sparsity).toFixed(0)}% of kernel weights pruned)`,
  );
  print(
    `  student weights       int8 ${int8.weights_bytes} B (gzip ${int8.weights_gzip_bytes}), fp32 ${fp32.weights_bytes} B (gzip ${fp32.weights_gzip_bytes})`,
  );
  print(`  inference / example   student ${ms(c.latency_ms_per_example.student)}`);
  print(`                        teacher ${ms(c.latency_ms_per_example.teacher)}`);
  print(`  exported              ${c.files.int8} (int8), ${c.files.fp32} (fp32)`);
  print(`  bytes up / down       ${report.bytes_up} / ${report.bytes_down}`);
  print(
    `  backends              coordinator ${report.backend}; ${Object.entries(report.site_backends)
      .sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }))
      .map(([s, b]) => `${s} ${b}`)
      .join(', ')}`,
  );
  print(`  wall time             ${report.wall_seconds.toFixed(1)} s (coordinator)`);
  print(`  report                ${workspace.reportFile}, ${htmlFile}`);
  print(
    `  audit log             ${auditFile} (verify: fedistill audit verify ${auditFile} --coordinator-key ${path.join(workspace.dir, 'coordinator.pub')})`,
  );
  if (options.serveUntil) {
    print('');
    print(`The coordinator and its dashboard stay up until interrupted (Ctrl-C).`);
    print(`Dashboard: ${dashboard}`);
    await options.serveUntil;
    stopAll();
    await Promise.all(parties.map((p) => p.exited));
  }
  return report;
}

/** The baselines of the report, with the run's student, normalization and training settings. */
async function trainBaselines(
  workspace: DemoWorkspace,
  report: RunReport,
  interactive: boolean,
  print: (line: string) => void,
): Promise<DemoReport['baselines']> {
  if (report.teacher_source !== 'model') {
    throw new Error('the demo measures its baselines against a teacher model, not imported logits');
  }
  const config = await loadCoordinatorConfig(workspace.coordinatorConfigFile);
  // prepareWorkspace always writes the run into the config.
  const run = config.run!;
  const { split } = workspace;
  const site = await loadSiteConfig(
    path.join(workspace.dir, 'sites', workspace.siteNames[0]!, 'config.json'),
  );
  // The sites' own choice (auto), so the baselines train as fast as the sites did.
  unwrap(await selectBackend(site.backend));
  const bar = progress(
    'baselines',
    workspace.siteNames.length + run.rounds + 1,
    print,
    interactive,
  );
  try {
    return await computeBaselines({
      split,
      siteNames: workspace.siteNames,
      spec: unwrap(studentSpecOf(run, split.heldOut.features, config.data.classes)),
      normalizer: normalizerFor(config.data, split.publicSplit),
      rounds: run.rounds,
      localEpochs: run.localEpochs,
      batchSize: run.batchSize,
      learningRate: run.learningRate,
      labelSmoothing: run.labelSmoothing,
      seed: run.seed,
      validationFraction: site.validationFraction,
      validationSeed: site.seed,
      teacher: {
        accuracy: report.teacher_accuracy,
        ...(report.compression.auc?.teacher != null ? { auc: report.compression.auc.teacher } : {}),
        params: report.teacher_params,
      },
      progress: (step, done) => bar.update(done, `    ${step}`),
    });
  } finally {
    bar.stop();
  }
}
