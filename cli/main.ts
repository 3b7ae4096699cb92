#!/usr/bin/env node
import { once } from 'node:events';
import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { loadSiteConfig } from '../client/site-config.js';
import { checkSite } from '../client/site-check.js';
import { runSite } from '../client/site-client.js';
import { sitePrivacyStatus } from '../client/site-status.js';
import { loadCoordinatorConfig } from '../coordinator/config/coordinator-config.js';
import { startNode, type CoordinatorHandle } from '../coordinator/coordinator.js';
import { LOGITS_DTYPES, type LogitsDtype } from '../coordinator/teacher/logits-binary.js';
import { exportTeacherLogits } from '../coordinator/teacher/logits-export.js';
import { formatInspection, inspectTfjsModel } from '../coordinator/compression/model-inspect.js';
import {
  LOGITS_FORMATS,
  logitsFormatOf,
  type LogitsFormat,
} from '../coordinator/teacher/teacher-config.js';
import { FedistillError, unwrap } from '../protocol/index.js';
import { TEXT_FORMATS } from '../protocol/text/text-table.js';
import type { CoordinatorIpcMessage } from './coordinator-ipc.js';
import { runDemo } from './demo/demo.js';
import type { ScenarioName } from './demo/demo-report.js';
import { SCENARIOS } from './demo/scenarios.js';
import { keepsServing } from './demo/terminal-lines.js';
import {
  API_KEY_VARIABLES,
  teacherLabel,
  type TeacherLabelOptions,
} from './teacher-label/label-command.js';
import { LLM_APIS } from './teacher-label/llm-responses.js';
import { writeDeployment } from './demo/deployment.js';
import { formatDoctorReport, runDoctor } from './doctor/doctor.js';
import { enrolSite, revokeSite, rotateSiteKey } from '../coordinator/sites/allow-list-file.js';
import { ApiError } from './api-client.js';
import { addAuditCommands } from './audit-commands.js';
import { generateKeySet, generateSiteKey, readPublicKey } from './keys.js';
import { addRunCommands, addSiteRegistryCommands, addTokenCommands } from './operator-commands.js';

const SITE_DRAIN_MS = 5_000;

function positiveInt(max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > max)
      throw new InvalidArgumentError(`expected an integer in 1..${max}`);
    return n;
  };
}

function nonNegativeInt(max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0 || n > max)
      throw new InvalidArgumentError(`expected an integer in 0..${max}`);
    return n;
  };
}

function seed(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 2 ** 31)
    throw new InvalidArgumentError('expected a non-negative integer');
  return n;
}

function sparsity(value: string): number {
  const s = Number(value);
  if (!(s >= 0 && s < 1)) throw new InvalidArgumentError('expected a number in [0, 1)');
  return s;
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!(n > 0 && Number.isFinite(n))) throw new InvalidArgumentError('expected a positive number');
  return n;
}

const program = new Command()
  .name('fedistill')
  .description(
    "Federated knowledge distillation: a teacher's soft labels reach a student trained where the data lives.",
  )
  .showHelpAfterError();

const keys = program.command('keys').description('identity keys');

keys
  .command('generate')
  .description('write Ed25519 identities for the coordinator and each site, and the allow-list')
  .requiredOption('--out <dir>', 'folder for the key files')
  .option('--sites <n>', 'number of sites, named site-1..site-N', positiveInt(1000), 3)
  .action(async (opts: { out: string; sites: number }) => {
    const names = Array.from({ length: opts.sites }, (_, i) => `site-${i + 1}`);
    const generated = await generateKeySet(opts.out, names);
    console.log(`coordinator identity  ${generated.coordinatorIdentity}`);
    console.log(
      `coordinator public key (pin this in each site's config): ${generated.coordinatorPublicKey}`,
    );
    for (const [name, file] of Object.entries(generated.siteIdentities))
      console.log(`${name} identity  ${file}`);
    console.log(`allow-list            ${generated.allowList}`);
  });

keys
  .command('site')
  .description('write one site identity, to enrol a new site or rotate a site key')
  .requiredOption('--out <dir>', 'folder for NAME.key and NAME.pub')
  .requiredOption('--name <name>', 'the site name')
  .action(async (opts: { out: string; name: string }) => {
    const written = await generateSiteKey(opts.out, opts.name);
    console.log(
      `identity ${written.identity} (keep it at the site); public key ${written.publicKey} (give it to the operator)`,
    );
  });

const sites = program
  .command('sites')
  .description(
    'the allow-list: enrol, revoke, rotate (a running coordinator applies edits at once)',
  );

sites
  .command('enrol')
  .requiredOption('--allow-list <file>', 'the coordinator allow-list')
  .requiredOption('--key <file>', "the site's NAME.pub")
  .action(async (opts: { allowList: string; key: string }) => {
    const list = await enrolSite(opts.allowList, await readPublicKey(opts.key));
    console.log(`enrolled; ${list.sites.length} sites enrolled`);
  });

sites
  .command('revoke')
  .requiredOption('--allow-list <file>', 'the coordinator allow-list')
  .requiredOption('--site <name>', 'the site to revoke')
  .action(async (opts: { allowList: string; site: string }) => {
    await revokeSite(opts.allowList, opts.site);
    console.log(`${opts.site} revoked; its live session closes and its key is refused`);
  });

sites
  .command('rotate')
  .requiredOption('--allow-list <file>', 'the coordinator allow-list')
  .requiredOption('--key <file>', "the site's new NAME.pub")
  .action(async (opts: { allowList: string; key: string }) => {
    await rotateSiteKey(opts.allowList, await readPublicKey(opts.key));
    console.log('key rotated; the old key is revoked');
  });

program
  .command('coordinator')
  .description(
    'run the coordinator: with a run in its config (or one left running in its store), until that run completes; otherwise serve the API until stopped',
  )
  .requiredOption('--config <file>', 'coordinator config (JSON)')
  .option('--serve', 'after the run completes, keep serving the API and dashboard until stopped')
  .action(async (opts: { config: string; serve?: boolean }) => {
    const config = await loadCoordinatorConfig(opts.config);
    const started = await startNode(config);
    const tell = (message: CoordinatorIpcMessage): void => {
      process.send?.(message);
    };
    // Deposed (another process leads now, and the store refuses this one's writes), or cut off
    // from the other nodes.
    const lost = (error: Error): never => {
      console.error(`coordinator stops: ${error.message}`);
      process.exit(1);
    };
    let stopping = false;
    let handle: CoordinatorHandle | undefined;
    const stop = (signal: string): void => {
      stopping = true;
      console.log(
        handle?.runId
          ? `run ${handle.runId}: stopped by ${signal} before it completed`
          : `coordinator stopped by ${signal}`,
      );
      void (handle ?? started).close().then(() => process.exit(130));
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    if ('leading' in started) {
      void started.lost.then(lost);
      tell({ type: 'edge', url: started.url });
      console.log(`serving sites on ${started.url} as an edge node; another node leads`);
      handle = await started.leading;
    } else {
      handle = started;
    }
    void handle.lost?.then(lost);
    handle.events.on('round', (summary) => tell({ type: 'round', summary }));
    tell({
      type: 'listening',
      url: handle.url,
      ...(handle.runId ? { runId: handle.runId } : {}),
      ...(handle.teacher ? { teacher: handle.teacher } : {}),
    });
    if (!handle.runId) {
      console.log(
        `listening on ${handle.url}; no run is active: create and start one with fedistill run create|start`,
      );
      return;
    }
    console.log(`run ${handle.runId}: listening on ${handle.url}`);
    const report = await handle.finished.catch((error: unknown) => {
      if (stopping) return new Promise<never>(() => {});
      throw error;
    });
    console.log(
      `run ${handle.runId} complete: student accuracy ${report.student_accuracy.toFixed(4)}; report ${config.reportFile}`,
    );
    if (opts.serve) {
      tell({ type: 'serving' });
      console.log(`serving the API and dashboard on ${handle.url} until stopped`);
      return;
    }
    // Give the sites a moment to read run.complete and leave before the server closes.
    const drained = once(handle.events, 'site').then(function wait([presence]):
      Promise<unknown> | undefined {
      return presence.connected === 0 ? undefined : once(handle.events, 'site').then(wait);
    });
    await Promise.race([drained, new Promise((r) => setTimeout(r, SITE_DRAIN_MS))]);
    await handle.close();
    process.disconnect?.();
  });

const teacher = program.command('teacher').description("the teacher's soft labels");

teacher
  .command('export-logits')
  .description(
    "write the trained teacher's logits on the public split in the format run.teacher imports (coordinator/teacher/LOGITS-FORMAT.md)",
  )
  .requiredOption(
    '--config <file>',
    'coordinator config (JSON); its teacher is trained if not cached',
  )
  .requiredOption('--out <file>', 'the logits file: .jsonl or .ndjson, or .bin (binary matrix)')
  .addOption(
    new Option('--format <format>', 'default: from the extension of --out').choices(LOGITS_FORMATS),
  )
  .addOption(
    new Option('--dtype <dtype>', 'value type of the binary format (default float32)').choices(
      LOGITS_DTYPES,
    ),
  )
  .action(
    async (opts: { config: string; out: string; format?: LogitsFormat; dtype?: LogitsDtype }) => {
      const format = opts.format ?? logitsFormatOf(opts.out);
      if (!format || (format === 'jsonl' && opts.dtype)) {
        throw new FedistillError({
          code: 'config.invalid',
          message: format
            ? '--dtype applies to the binary format only'
            : `cannot tell the format of ${opts.out} from its extension; give --format`,
        });
      }
      const file = path.resolve(opts.out);
      const written = await exportTeacherLogits(
        await loadCoordinatorConfig(opts.config),
        format === 'jsonl' ? { file, format } : { file, format, dtype: opts.dtype ?? 'float32' },
        (line) => console.log(line),
      );
      console.log(
        `wrote ${written.rows} x ${written.classes} teacher logits to ${file} (${format}${format === 'binary' ? `, ${opts.dtype ?? 'float32'}` : ''})`,
      );
    },
  );

teacher
  .command('label')
  .description(
    'soft labels from a large language model: ask an OpenAI-compatible server (vLLM, llama.cpp, Ollama) to classify each public text, and write the top-k JSONL run.teacher imports; a rerun resumes the file',
  )
  .requiredOption(
    '--input <path>',
    'the public texts: a CSV with a header, a JSONL file or a folder',
  )
  .addOption(
    new Option('--format <format>', 'default: a folder, or from the extension of --input').choices(
      TEXT_FORMATS,
    ),
  )
  .option('--text-column <name>', 'the text column (CSV) or field (JSONL)', 'text')
  .option(
    '--labelled',
    'the input has labels (in --label-column; for a folder, one subfolder per class): read, and not used',
  )
  .option('--label-column <name>', 'the label column or field, with --labelled', 'label')
  .requiredOption(
    '--classes <names>',
    'class names in class-number order, comma-separated: the answers the model is asked for',
  )
  .option('--url <url>', "the API's base URL", 'http://127.0.0.1:8000/v1')
  .requiredOption('--model <name>', 'the model the server serves')
  .addOption(
    new Option('--api <api>', 'chat completions, or legacy text completions')
      .choices(LLM_APIS)
      .default('chat'),
  )
  .option('--prompt-file <file>', 'a prompt template with {text} and {labels} (default: built in)')
  .option('--top-logprobs <n>', 'most likely first tokens to ask for', positiveInt(20), 20)
  .option('--concurrency <n>', 'requests in flight at once', positiveInt(256), 4)
  .option(
    '--retries <n>',
    'retries of a request that failed for a passing reason',
    nonNegativeInt(100),
    5,
  )
  .option('--timeout-ms <ms>', 'how long one request may take', positiveInt(3_600_000), 120_000)
  .option(
    '--max-text-chars <n>',
    'cut longer texts to this many characters',
    positiveInt(10_000_000),
  )
  .requiredOption(
    '--out <file>',
    'the JSONL file: rows are appended as they finish, and kept on a rerun',
  )
  .addHelpText(
    'after',
    `
The API key, if the server wants one, is read from ${API_KEY_VARIABLES.join(' or ')}.
Exit code 1 when a row failed or the run stopped; the same command again asks only for the rows
the file lacks. See coordinator/teacher/LOGITS-FORMAT.md.`,
  )
  .action(async (opts: TeacherLabelOptions) => {
    const ok = await teacherLabel(opts, {
      print: (line) => console.log(line),
      warn: (line) => console.error(line),
      interactive: process.stdout.isTTY === true,
      env: process.env,
    });
    process.exitCode = ok ? 0 : 1;
  });

const model = program
  .command('model')
  .description('an exported student (a TensorFlow.js layers model)');

model
  .command('inspect')
  .description(
    'print its layers, parameters, storage (dtype and quantization), sparsity after dequantization, and file bytes',
  )
  .argument('<dir>', 'the folder holding model.json and its .bin shards')
  .option('--json', 'print as JSON')
  .action(async (dir: string, opts: { json?: boolean }) => {
    const inspection = unwrap(await inspectTfjsModel(path.resolve(dir)));
    console.log(
      opts.json ? JSON.stringify(inspection, null, 2) : formatInspection(inspection).join('\n'),
    );
  });

const site = program
  .command('site')
  .description(
    "a site: its client inside the privacy boundary (start, check, status), and the coordinator's registry of sites (enrol, revoke, list)",
  );

site
  .command('start')
  .description('run this site until the coordinator completes the run (reconnecting if need be)')
  .requiredOption('--config <file>', 'site config (YAML or JSON)')
  .action(async (opts: { config: string }) => {
    const config = await loadSiteConfig(opts.config);
    const summary = await runSite(config, (line) => console.log(line));
    console.log(
      `${summary.site}: trained ${summary.roundsTrained} rounds in ${summary.sessions} session(s); sent ${summary.bytesSent} bytes, received ${summary.bytesReceived}`,
    );
  });

site
  .command('check')
  .description(
    'validate the config, keys and private data, and summarise the data, without connecting',
  )
  .requiredOption('--config <file>', 'site config (YAML or JSON)')
  .action(async (opts: { config: string }) => {
    const checked = unwrap(await checkSite(await loadSiteConfig(opts.config)));
    const total = checked.rows;
    console.log(
      `site ${checked.site}, coordinator ${checked.coordinator}: config, identity and data are valid`,
    );
    console.log(
      `rows: ${total} (${checked.trainingRows} training, ${checked.validationRows} local validation)`,
    );
    console.log(
      `feature columns (${checked.columns.length}): ${checked.columns.slice(0, 8).join(', ')}${checked.columns.length > 8 ? ', ...' : ''}`,
    );
    console.log(
      `labels: ${[...checked.labels].map(([label, n]) => `${label}: ${n} (${((100 * n) / total).toFixed(1)}%)`).join(', ')}`,
    );
  });

site
  .command('status')
  .description(
    "this site's own privacy ledger: secure attempts it masked into, epsilon spent with its own noise, its budget and floor",
  )
  .requiredOption('--config <file>', 'site config (YAML or JSON)')
  .option('--json', 'print the status as JSON (epsilon null: an attempt without noise, unbounded)')
  .action(async (opts: { config: string; json?: boolean }) => {
    const status = unwrap(await sitePrivacyStatus(await loadSiteConfig(opts.config)));
    if (opts.json) return console.log(JSON.stringify(status, null, 2));
    const { enforced } = status;
    console.log(`ledger ${status.ledger}`);
    console.log(
      `attempts counted: ${status.attempts} (${status.runs} run(s), failed attempts included)`,
    );
    console.log(
      `epsilon spent: ${status.epsilon.toFixed(4)} at delta ${status.delta} (this site's own noise alone)`,
    );
    console.log(
      enforced
        ? `budget: ${enforced.maxEpsilon}, left ${enforced.left.toFixed(4)}; floor: noise multiplier ${enforced.minNoiseMultiplier}`
        : 'no privacy block in the config: the ledger is kept, nothing is enforced',
    );
  });

addSiteRegistryCommands(site);
addRunCommands(program);
addTokenCommands(program);
addAuditCommands(program);

program
  .command('demo-deployment')
  .description(
    'write the demo as containers hold it (docker/compose.yaml): one folder per party with only its own key, data and config',
  )
  .requiredOption('--out <dir>', 'where the party folders go (docker/deploy for the compose file)')
  .option('--sites <n>', 'hospital sites', positiveInt(32), 3)
  .option('--rounds <n>', 'federated rounds', positiveInt(1000), 10)
  .option('--seed <n>', 'seed for the split and the run', seed, 42)
  .option(
    '--coordinator-url <url>',
    'the coordinator as the sites reach it',
    'http://coordinator:8080',
  )
  .option(
    '--postgres <url>',
    "keep the coordinator's state in this PostgreSQL server (for docker/compose.nodes.yaml); the password comes from PGPASSWORD",
  )
  .option(
    '--standby-url <url...>',
    'standby coordinator processes as the sites reach them, tried in turn',
  )
  .action(
    async (opts: {
      out: string;
      sites: number;
      rounds: number;
      seed: number;
      coordinatorUrl: string;
      postgres?: string;
      standbyUrl?: string[];
    }) => {
      const written = await writeDeployment(path.resolve(opts.out), {
        ...opts,
        ...(opts.standbyUrl ? { fallbackUrls: opts.standbyUrl } : {}),
      });
      for (const dir of written) console.log(dir);
    },
  );

program
  .command('demo')
  .description(
    'a real federated distillation on bundled data: a coordinator and N sites on loopback, with baselines and an HTML report',
  )
  .addOption(
    new Option('--scenario <name>', 'the data and its split among sites')
      .choices(Object.keys(SCENARIOS))
      .default('hospitals'),
  )
  .option('--rounds <n>', "federated rounds (default: the scenario's)", positiveInt(1000))
  .option(
    '--sites <n>',
    "sites, each a separate process (default: the scenario's)",
    positiveInt(32),
  )
  .option('--seed <n>', 'seed for the split, initial weights and batch order', seed, 42)
  .option('--out <dir>', 'workspace folder (default runs/<timestamp>)')
  .option('--cache <dir>', 'teacher cache shared between runs', 'runs/cache')
  .option(
    '--sparsity <s>',
    "the student's final sparsity: kernel weights pruned by magnitude over the middle rounds (0 keeps it dense)",
    sparsity,
    0.5,
  )
  .option(
    '--dp-epsilon <e>',
    'differential privacy (DP-FedAvg, user level) with this epsilon budget at delta 1e-5',
    positiveNumber,
  )
  .option('--secure-aggregation', 'SecAgg+: the coordinator learns only the sum of each round')
  .option(
    '--serve',
    'keep the coordinator and its dashboard up after the last round, until Ctrl-C (the default on an interactive terminal)',
  )
  .option('--no-serve', 'exit after the run, even on an interactive terminal')
  .action(
    async (opts: {
      scenario: ScenarioName;
      rounds?: number;
      sites?: number;
      seed: number;
      out?: string;
      cache: string;
      sparsity: number;
      dpEpsilon?: number;
      secureAggregation?: boolean;
      serve?: boolean;
    }) => {
      const out = path.resolve(
        opts.out ?? path.join('runs', new Date().toISOString().replace(/[:.]/g, '-')),
      );
      const scenario = SCENARIOS[opts.scenario];
      const sites = opts.sites ?? scenario.defaults.sites;
      if (scenario.requiredSites !== undefined && sites !== scenario.requiredSites) {
        throw new FedistillError({
          code: 'config.invalid',
          message: `the ${scenario.name} scenario has ${scenario.requiredSites} sites, one per group of its data, not ${sites}`,
          path: ['sites'],
        });
      }
      await runDemo(
        {
          scenario,
          rounds: opts.rounds ?? scenario.defaults.rounds,
          sites,
          seed: opts.seed,
          out,
          cacheDir: path.resolve(opts.cache),
          sparsity: opts.sparsity,
          ...(opts.dpEpsilon === undefined ? {} : { dpEpsilon: opts.dpEpsilon }),
          ...(opts.secureAggregation ? { secureAggregation: true } : {}),
          timeoutMs: 30 * 60_000,
          interactive: process.stdout.isTTY,
          ...(keepsServing(opts.serve, {
            stdin: process.stdin.isTTY === true,
            stdout: process.stdout.isTTY === true,
            ci: Boolean(process.env['CI']),
          })
            ? {
                serveUntil: new Promise((stopped) => {
                  process.once('SIGINT', stopped);
                  process.once('SIGTERM', stopped);
                }),
              }
            : {}),
        },
        (line) => console.log(line),
      );
    },
  );

program
  .command('doctor')
  .description(
    'what this machine offers: Node and key packages, which compute backends initialise (and which auto picks), the browser for the browser tests, and the stores; with install hints for what is missing',
  )
  .option(
    '--postgres <url>',
    'also try connecting to this PostgreSQL server (a store.url; the password may come from PGPASSWORD)',
  )
  .option('--json', 'print one JSON object and nothing else (keys below)')
  .addHelpText(
    'after',
    `
Exit code 0 when what npm run demo needs works (Node, the key packages, the wasm backend, auto,
SQLite, and the --postgres server if given); 1 otherwise, with the problems named.

--json keys: ok (boolean: exit code 0), problems (string[]), fedistill (version),
system {node, platform, release, arch, cpus, cpuModel, memoryBytes, freeMemoryBytes},
autoBackend (what backend: auto picks, or null), checks [{group: machine|backend|browser|store,
name, status: ok|missing|failed, required, detail, hint?, version?, adapter?}]; adapter (webgpu):
{vendor, architecture, device, description, software}. See docs/doctor.md.`,
  )
  .action(async (opts: { postgres?: string; json?: boolean }) => {
    const report = await runDoctor(opts.postgres === undefined ? {} : { postgres: opts.postgres });
    console.log(opts.json ? JSON.stringify(report, null, 2) : formatDoctorReport(report));
    process.exitCode = report.ok ? 0 : 1;
  });

program.parseAsync().catch((error: unknown) => {
  if (error instanceof FedistillError || error instanceof ApiError)
    console.error(`fedistill: ${error.message}`);
  else console.error(error);
  process.exit(1);
});
