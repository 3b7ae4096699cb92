#!/usr/bin/env node
import { once } from 'node:events';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { loadSiteConfig } from '../client/site-config.js';
import { runSite } from '../client/site-client.js';
import { loadCoordinatorConfig } from '../coordinator/config/coordinator-config.js';
import { startCoordinator } from '../coordinator/coordinator.js';
import { FedistillError } from '../protocol/index.js';
import type { CoordinatorIpcMessage } from './coordinator-ipc.js';
import { runDemo } from './demo/demo.js';
import { generateKeySet } from './keys.js';

const SITE_DRAIN_MS = 5_000;

function positiveInt(max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > max)
      throw new InvalidArgumentError(`expected an integer in 1..${max}`);
    return n;
  };
}

function seed(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 2 ** 31)
    throw new InvalidArgumentError('expected a non-negative integer');
  return n;
}

const program = new Command()
  .name('fedistill')
  .description(
    "Federated knowledge distillation: a teacher's soft labels reach a student trained where the data lives.",
  )
  .showHelpAfterError();

program
  .command('keys')
  .description('identity keys')
  .command('generate')
  .description('write Ed25519 identities for the coordinator and each site, and the allow-list')
  .requiredOption('--out <dir>', 'folder for the key files')
  .option('--sites <n>', 'number of sites, named site-1..site-N', positiveInt(1000), 3)
  .action(async (opts: { out: string; sites: number }) => {
    const names = Array.from({ length: opts.sites }, (_, i) => `site-${i + 1}`);
    const keys = await generateKeySet(opts.out, names);
    console.log(`coordinator identity  ${keys.coordinatorIdentity}`);
    console.log(
      `coordinator public key (pin this in each site's config): ${keys.coordinatorPublicKey}`,
    );
    for (const [name, file] of Object.entries(keys.siteIdentities))
      console.log(`${name} identity  ${file}`);
    console.log(`allow-list            ${keys.allowList}`);
  });

program
  .command('coordinator')
  .description('run the coordinator for one run, then exit')
  .requiredOption('--config <file>', 'coordinator config (JSON)')
  .action(async (opts: { config: string }) => {
    const config = await loadCoordinatorConfig(opts.config);
    const handle = await startCoordinator(config);
    const tell = (message: CoordinatorIpcMessage): void => {
      process.send?.(message);
    };
    const stop = (): void => void handle.close().then(() => process.exit(130));
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    console.log(`run ${handle.runId}: listening on ${handle.url}`);
    handle.events.on('round', (summary) => tell({ type: 'round', summary }));
    tell({ type: 'listening', url: handle.url, runId: handle.runId, teacher: handle.teacher });
    const report = await handle.finished;
    console.log(
      `run ${handle.runId} complete: student accuracy ${report.student_accuracy.toFixed(4)}; report ${config.reportFile}`,
    );
    // Give the sites a moment to read run.complete and leave before the server closes.
    const drained = once(handle.events, 'site').then(function wait([presence]):
      Promise<unknown> | undefined {
      return presence.connected === 0 ? undefined : once(handle.events, 'site').then(wait);
    });
    await Promise.race([drained, new Promise((r) => setTimeout(r, SITE_DRAIN_MS))]);
    await handle.close();
    process.disconnect?.();
  });

program
  .command('site')
  .description('run a site client until the coordinator completes the run')
  .requiredOption('--config <file>', 'site config (JSON)')
  .action(async (opts: { config: string }) => {
    const config = await loadSiteConfig(opts.config);
    const summary = await runSite(config, (line) => console.log(line));
    console.log(
      `${summary.site}: trained ${summary.roundsTrained} rounds; sent ${summary.bytesSent} bytes, received ${summary.bytesReceived}`,
    );
  });

program
  .command('demo')
  .description(
    'a real federated distillation on the bundled breast-cancer data: a coordinator and N sites on loopback',
  )
  .option('--rounds <n>', 'federated rounds', positiveInt(1000), 10)
  .option('--sites <n>', 'hospital sites (separate processes)', positiveInt(32), 3)
  .option('--seed <n>', 'seed for the split, initial weights and batch order', seed, 42)
  .option('--out <dir>', 'workspace folder (default runs/<timestamp>)')
  .option('--cache <dir>', 'teacher cache shared between runs', 'runs/cache')
  .action(
    async (opts: { rounds: number; sites: number; seed: number; out?: string; cache: string }) => {
      const out = path.resolve(
        opts.out ?? path.join('runs', new Date().toISOString().replace(/[:.]/g, '-')),
      );
      await runDemo(
        {
          rounds: opts.rounds,
          sites: opts.sites,
          seed: opts.seed,
          out,
          cacheDir: path.resolve(opts.cache),
          timeoutMs: 10 * 60_000,
        },
        (line) => console.log(line),
      );
    },
  );

program.parseAsync().catch((error: unknown) => {
  if (error instanceof FedistillError) console.error(`fedistill: ${error.message}`);
  else console.error(error);
  process.exit(1);
});
