import { readFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { parse as parseYaml } from 'yaml';
import { dashboardLoginUrl, issueToken, ROLES, type Role } from '../coordinator/api/tokens.js';
import { loadCoordinatorConfig } from '../coordinator/config/coordinator-config.js';
import type { RunStatus } from '../coordinator/runs/runs.service.js';
import type { TokenRecord } from '../coordinator/store/store.js';
import type { SiteStatus } from '../coordinator/api/api-schemas.js';
import { FedistillError } from '../protocol/index.js';
import { callApi, type ApiTarget } from './api-client.js';
import { withCoordinatorStore } from './coordinator-store.js';
import { readPublicKey } from './keys.js';

interface ApiOptions {
  coordinator: string;
  token?: string;
  json?: boolean;
}

/** --coordinator, --token (or FEDISTILL_TOKEN, which keeps it out of the process list) and --json. */
function withApi(command: Command): Command {
  return command
    .addOption(
      new Option('--coordinator <url>', "the coordinator's URL")
        .env('FEDISTILL_COORDINATOR')
        .makeOptionMandatory(),
    )
    .addOption(new Option('--token <token>', 'an operator or auditor token').env('FEDISTILL_TOKEN'))
    .option('--json', 'print the answer as JSON');
}

function target(opts: ApiOptions): ApiTarget {
  if (!opts.token) {
    throw new FedistillError({
      code: 'config.invalid',
      message:
        'no API token: pass --token or set FEDISTILL_TOKEN (fedistill token create makes one)',
    });
  }
  return { url: opts.coordinator, token: opts.token };
}

function printRun(run: RunStatus): void {
  const live = run.live
    ? `, round ${run.live.round} (attempt ${run.live.attempt}), ${run.live.sites.length} sites connected`
    : '';
  console.log(
    `${run.id}  ${run.state}  ${run.roundsClosed}/${run.spec.rounds} rounds, model v${run.modelVersion}${live}`,
  );
}

function printSites(sites: SiteStatus[]): void {
  for (const site of sites) {
    console.log(
      `${site.name.padEnd(24)} ${site.state.padEnd(9)} ${site.fingerprint}  ${site.connected ? `connected${site.runId ? ` to run ${site.runId}` : ' (waiting for a run)'}` : 'not connected'}`,
    );
  }
}

/** Calls the API and prints the answer as JSON or with `human`. */
async function show<T>(
  opts: ApiOptions,
  call: (api: ApiTarget) => Promise<unknown>,
  human: (value: T) => void,
): Promise<void> {
  const value = (await call(target(opts))) as T;
  if (opts.json) console.log(JSON.stringify(value, null, 2));
  else human(value);
}

async function readSpec(file: string): Promise<unknown> {
  const text = await readFile(file, 'utf8');
  try {
    return /\.ya?ml$/i.test(file) ? (parseYaml(text) as unknown) : (JSON.parse(text) as unknown);
  } catch (error) {
    throw new FedistillError({
      code: 'config.invalid',
      message: `${file} is not a readable run spec: ${(error as Error).message}`,
    });
  }
}

/** `fedistill run ...`: the operator's side of the REST API for runs. */
export function addRunCommands(program: Command): void {
  const run = program
    .command('run')
    .description("manage the coordinator's runs through its REST API");
  withApi(run.command('create').description('create a run from a run spec (JSON or YAML)'))
    .requiredOption('--spec <file>', "the run spec: the coordinator config's run section")
    .action(async (opts: ApiOptions & { spec: string }) => {
      const spec = await readSpec(opts.spec);
      await show<RunStatus>(opts, (api) => callApi(api, 'POST', '/api/runs', spec), printRun);
    });
  withApi(run.command('status').description("a run's status, or every run's without an id"))
    .argument('[id]')
    .action(async (id: string | undefined, opts: ApiOptions) => {
      if (id) {
        await show<RunStatus>(
          opts,
          (api) => callApi(api, 'GET', `/api/runs/${encodeURIComponent(id)}`),
          printRun,
        );
      } else {
        await show<RunStatus[]>(
          opts,
          (api) => callApi(api, 'GET', '/api/runs'),
          (runs) => runs.forEach(printRun),
        );
      }
    });
  for (const [verb, what] of [
    ['start', 'start a created run'],
    ['pause', 'open no new round until resumed'],
    ['resume', 'resume a paused run'],
    ['cancel', 'cancel a run; its sites are told'],
  ] as const) {
    withApi(run.command(verb).description(what))
      .argument('<id>')
      .action(async (id: string, opts: ApiOptions) => {
        await show<RunStatus>(
          opts,
          (api) => callApi(api, 'POST', `/api/runs/${encodeURIComponent(id)}/${verb}`),
          printRun,
        );
      });
  }
}

/** `fedistill site enrol|revoke|list`: the site registry through the REST API. */
export function addSiteRegistryCommands(site: Command): void {
  withApi(site.command('enrol').description("enrol a site's public key with the coordinator"))
    .requiredOption('--key <file>', "the site's NAME.pub")
    .action(async (opts: ApiOptions & { key: string }) => {
      const key = await readPublicKey(opts.key);
      await show<SiteStatus[]>(opts, (api) => callApi(api, 'POST', '/api/sites', key), printSites);
    });
  withApi(
    site.command('revoke').description('revoke a site: its key is refused, its session closed'),
  )
    .argument('<name>')
    .action(async (name: string, opts: ApiOptions) => {
      await show<SiteStatus[]>(
        opts,
        (api) => callApi(api, 'POST', `/api/sites/${encodeURIComponent(name)}/revoke`),
        printSites,
      );
    });
  withApi(
    site.command('list').description('the site registry: state, key fingerprint, connection'),
  ).action(async (opts: ApiOptions) => {
    await show<SiteStatus[]>(opts, (api) => callApi(api, 'GET', '/api/sites'), printSites);
  });
}

function tokenState(token: TokenRecord): string {
  if (token.revokedAt) return `revoked ${token.revokedAt}`;
  if (token.expiresAt)
    return `${token.expiresAt < new Date().toISOString() ? 'expired' : 'expires'} ${token.expiresAt}`;
  return 'active';
}

/** `fedistill token ...`: API tokens, written to the coordinator's store on this machine. */
export function addTokenCommands(program: Command): void {
  const token = program
    .command('token')
    .description("API tokens for operators and auditors, kept (hashed) in the coordinator's store");
  token
    .command('create')
    .description('make a token; it is printed once and only its hash is kept')
    .requiredOption('--config <file>', 'the coordinator config (for its store)')
    .addOption(
      new Option('--role <role>', 'operator or auditor').choices(ROLES).makeOptionMandatory(),
    )
    .requiredOption('--name <who>', 'whom the token is for')
    .option('--json', 'print as JSON')
    .action(async (opts: { config: string; role: Role; name: string; json?: boolean }) => {
      const { record, secret } = await withCoordinatorStore(opts.config, (store) =>
        issueToken(store.tokens, { name: opts.name, role: opts.role, kind: 'api' }),
      );
      const { id } = record;
      if (opts.json)
        console.log(JSON.stringify({ id, name: opts.name, role: opts.role, token: secret }));
      else
        console.log(
          `${opts.role} token ${id} for ${opts.name} (shown once, keep it secret):\n${secret}`,
        );
    });
  token
    .command('login-link')
    .description(
      'a one-time operator link to the dashboard: it opens one browser session, within 24 hours',
    )
    .requiredOption('--config <file>', 'the coordinator config (for its store and address)')
    .requiredOption('--name <who>', 'whom the link is for')
    .option('--url <base>', "the coordinator's address as the browser reaches it")
    .action(async (opts: { config: string; name: string; url?: string }) => {
      const config = await loadCoordinatorConfig(opts.config);
      const base = opts.url ?? `http://${config.listen.host}:${config.listen.port}`;
      const url = await withCoordinatorStore(opts.config, (store) =>
        dashboardLoginUrl(store.tokens, base.replace(/\/+$/, ''), opts.name),
      );
      console.log(`Dashboard: ${url}`);
    });
  token
    .command('list')
    .requiredOption('--config <file>', 'the coordinator config (for its store)')
    .option('--json', 'print as JSON')
    .action(async (opts: { config: string; json?: boolean }) => {
      const tokens = await withCoordinatorStore(opts.config, (store) => store.tokens.list());
      if (opts.json) console.log(JSON.stringify(tokens, null, 2));
      else
        for (const t of tokens)
          console.log(
            `${t.id}  ${t.role.padEnd(8)} ${t.kind.padEnd(7)} ${t.name}  ${tokenState(t)}`,
          );
    });
  token
    .command('revoke')
    .argument('<id>')
    .requiredOption('--config <file>', 'the coordinator config (for its store)')
    .action(async (id: string, opts: { config: string }) => {
      const revoked = await withCoordinatorStore(opts.config, (store) => store.tokens.revoke(id));
      if (!revoked)
        throw new FedistillError({ code: 'config.invalid', message: `no active token ${id}` });
      console.log(`${id} revoked`);
    });
}
