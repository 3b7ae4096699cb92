import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { RequestMethod } from '@nestjs/common';
import { PATH_METADATA, METHOD_METADATA } from '@nestjs/common/constants.js';
import Database from 'better-sqlite3';
import { generateSiteKey } from '../../cli/keys.js';
import { prepareWorkspace, writeSiteConfig, type DemoWorkspace } from '../../cli/demo/workspace.js';
import { runSite, type SiteRunSummary } from '../../client/site-client.js';
import { loadSiteConfig } from '../../client/site-config.js';
import { runStatusSchema, siteStatusSchema } from '../../coordinator/api/api-schemas.js';
import { API_ROUTES } from '../../coordinator/api/openapi.js';
import { AuditController } from '../../coordinator/api/audit.controller.js';
import { RunsController } from '../../coordinator/api/runs.controller.js';
import { SessionsController } from '../../coordinator/api/sessions.controller.js';
import { SitesController } from '../../coordinator/api/sites.controller.js';
import { hashToken } from '../../coordinator/api/tokens.js';
import type { AuditPage, DashboardSession, TreeHeadsView } from '../../protocol/index.js';
import { loadCoordinatorConfig } from '../../coordinator/config/coordinator-config.js';
import { startCoordinator, type CoordinatorHandle } from '../../coordinator/coordinator.js';
import type { ProtocolEvent, SitePresence } from '../../coordinator/events/coordinator-events.js';
import type { RunSpecInput } from '../../coordinator/runs/run-spec.js';
import {
  auditLeaf,
  decodeKey,
  hashLeaf,
  loadSodium,
  publicKeyFileSchema,
  readJsonFile,
  unwrap,
  verifyAuditLog,
  verifyInclusion,
  verifyTreeHead,
  type AuditEntry,
  type AuditLogExport,
  type FedistillError,
  type SignedTreeHead,
} from '../../protocol/index.js';
import { auditTrail, sitesReady } from '../support/coordinator-signals.js';

const CLI = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../cli/main.js');
const run = promisify(execFile);

/** The CLI as an operator runs it; --json output parsed. */
async function cli(args: string[], env: Record<string, string> = {}): Promise<unknown> {
  const { stdout } = await run(process.execPath, [CLI, ...args, '--json'], {
    env: { ...process.env, ...env },
  });
  return JSON.parse(stdout) as unknown;
}

async function cliFails(args: string[], env: Record<string, string>): Promise<string> {
  const failed = await run(process.execPath, [CLI, ...args], {
    env: { ...process.env, ...env },
  }).then(
    () => undefined,
    (error: { stderr: string; code: number }) => error,
  );
  assert.ok(failed, `fedistill ${args.join(' ')} succeeded`);
  assert.equal(failed.code, 1);
  return failed.stderr;
}

describe('the REST API and its CLI', () => {
  let dir: string;
  let workspace: DemoWorkspace;
  let coordinator: CoordinatorHandle;
  let operator: string;
  let auditor: string;
  const http = async (
    method: string,
    route: string,
    token?: string,
    body?: unknown,
  ): Promise<{ status: number; body: unknown }> => {
    const response = await fetch(new URL(route, coordinator.url), {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: text ? (JSON.parse(text) as unknown) : undefined };
  };
  const spec = (id: string, rounds = 2): RunSpecInput => ({
    id,
    rounds,
    minSites: 2,
    seed: 3,
    localEpochs: 1,
    teacher: { hidden: [16], epochs: 20, batchSize: 32, learningRate: 0.01 },
  });
  const env = (): Record<string, string> => ({
    FEDISTILL_COORDINATOR: coordinator.url,
    FEDISTILL_TOKEN: operator,
  });
  const sites = (): Promise<SiteRunSummary>[] =>
    workspace.siteNames.map(async (site) =>
      runSite(await loadSiteConfig(await writeSiteConfig(workspace, site, coordinator.url))),
    );
  /** Resolves once both sites hold a session in the active run; call it before they start. */
  const bothJoined = (): Promise<void> =>
    new Promise((resolve) => {
      const check = (presence: SitePresence): void => {
        if (!presence.present || presence.connected !== 2) return;
        coordinator.events.off('site', check);
        resolve();
      };
      coordinator.events.on('site', check);
    });
  /**
   * Resolves once both sites have an established session, in a run or waiting for one: the
   * coordinator answers a site's stream header only after admitting it. Call it before they start.
   */
  const bothConnected = (): Promise<void> =>
    new Promise((resolve) => {
      const admitted = new Set<string>();
      const check = (event: ProtocolEvent): void => {
        if (event.direction !== 'out' || event.kind !== 'stream.header') return;
        admitted.add(event.peer);
        if (admitted.size < 2) return;
        coordinator.events.off('protocol', check);
        resolve();
      };
      coordinator.events.on('protocol', check);
    });

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'fedistill-api-'));
    workspace = await prepareWorkspace(dir, {
      sites: 2,
      rounds: 2,
      seed: 3,
      cacheDir: path.join(dir, 'cache'),
    });
    // No run in the config: runs come by the API.
    const config = await loadCoordinatorConfig(workspace.coordinatorConfigFile);
    coordinator = await startCoordinator({ ...config, run: undefined }, { logLevels: false });
    // The token commands write to the store while the coordinator holds it open.
    const token = async (role: string, name: string): Promise<string> => {
      const args = ['--config', workspace.coordinatorConfigFile, '--role', role, '--name', name];
      return ((await cli(['token', 'create', ...args])) as { token: string }).token;
    };
    operator = await token('operator', 'ops');
    auditor = await token('auditor', 'audit');
  });

  after(async () => {
    await coordinator.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps only token hashes, and refuses missing, unknown and under-privileged tokens', async () => {
    const db = new Database(path.join(dir, 'coordinator', 'coordinator.db'), { readonly: true });
    const rows = db.prepare('SELECT role, token_hash FROM tokens ORDER BY role').all() as {
      role: string;
      token_hash: string;
    }[];
    db.close();
    assert.deepEqual(rows, [
      { role: 'auditor', token_hash: hashToken(auditor) },
      { role: 'operator', token_hash: hashToken(operator) },
    ]);
    assert.ok(!JSON.stringify(rows).includes(operator.slice(4)));

    assert.equal((await http('GET', '/api/runs')).status, 401);
    const bad = await http('GET', '/api/runs', 'fdt_not-a-token');
    assert.equal(bad.status, 401);
    assert.equal((bad.body as { code: string }).code, 'auth.bad_token');
    assert.equal((await http('GET', '/api/runs', auditor)).status, 200);
    const forbidden = await http('POST', '/api/runs', auditor, spec('by-auditor'));
    assert.equal(forbidden.status, 403);
    assert.equal((forbidden.body as { code: string }).code, 'auth.forbidden');
    assert.equal((await http('POST', '/api/sites/site-1/revoke', auditor)).status, 403);
    assert.equal((await http('GET', '/api/runs/by-auditor', auditor)).status, 404);
  });

  it('serves an OpenAPI document listing exactly the routes the controllers serve', async () => {
    const docs = await http('GET', '/api/docs');
    assert.equal(docs.status, 200);
    const document = docs.body as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
    };
    assert.equal(document.openapi, '3.1.0');
    const served: string[] = [];
    for (const controller of [
      AuditController,
      RunsController,
      SessionsController,
      SitesController,
    ]) {
      const base = Reflect.getMetadata(PATH_METADATA, controller) as string;
      for (const key of Object.getOwnPropertyNames(controller.prototype)) {
        const handler = (controller.prototype as unknown as Record<string, unknown>)[key];
        if (key === 'constructor' || typeof handler !== 'function') continue;
        const sub = Reflect.getMetadata(PATH_METADATA, handler) as string;
        const method = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod;
        const route = `/${base}${sub === '/' ? '' : `/${sub}`}`.replace(/:(\w+)/g, '{$1}');
        served.push(`${RequestMethod[method].toLowerCase()} ${route}`);
      }
    }
    const documented = Object.entries(document.paths).flatMap(([route, methods]) =>
      Object.keys(methods).map((m) => `${m} ${route}`),
    );
    assert.deepEqual(documented.sort(), served.sort());
    assert.equal(API_ROUTES.length, served.length);
    const body = document.paths['/api/runs']!.post as {
      requestBody: { content: { 'application/json': { schema: { properties: object } } } };
    };
    assert.ok('minSites' in body.requestBody.content['application/json'].schema.properties);
  });

  it('refuses a bad run spec with the field at fault, and creates nothing', async () => {
    const refused = await http('POST', '/api/runs', operator, { rounds: 0, minSites: 1 });
    assert.equal(refused.status, 400);
    const error = refused.body as { code: string; message: string; path: string[] };
    assert.equal(error.code, 'config.invalid');
    assert.deepEqual(error.path, ['rounds']);
    const tooMany = await http('POST', '/api/runs', operator, { minSites: 3 });
    assert.equal(tooMany.status, 400);
    assert.match((tooMany.body as { message: string }).message, /only 2 sites are enrolled/);
    const relative = await http('POST', '/api/runs', operator, {
      teacher: { source: 'logits', file: 'logits.jsonl' },
    });
    assert.equal(relative.status, 400);
    assert.deepEqual((relative.body as { path: string[] }).path, ['teacher', 'file']);
    // The breast-cancer rows have 30 features: a 2x3 image cannot hold them, student or teacher.
    const cnn = { image: [2, 3, 1], conv: [{ filters: 2, kernel: 3 }], dense: [] };
    const student = await http('POST', '/api/runs', operator, { studentCnn: cnn });
    assert.equal(student.status, 400);
    assert.deepEqual((student.body as { path: string[] }).path, ['studentCnn', 'image']);
    assert.match((student.body as { message: string }).message, /holds 6 values, the rows have 30/);
    const teacher = await http('POST', '/api/runs', operator, {
      teacher: { source: 'model', cnn },
    });
    assert.equal(teacher.status, 400);
    assert.deepEqual((teacher.body as { path: string[] }).path, ['teacher', 'cnn', 'image']);
    assert.deepEqual((await http('GET', '/api/runs', operator)).body, []);
  });

  it('creates and starts a run from the CLI; sites waiting for it join and complete it', async () => {
    const specFile = path.join(dir, 'spec.json');
    await writeFile(specFile, JSON.stringify(spec('first')));
    const created = runStatusSchema.parse(await cli(['run', 'create', '--spec', specFile], env()));
    assert.equal(created.state, 'created');
    const connected = bothConnected();
    const waiting = sites();
    await connected;
    // The sites are connected and wait in the lobby: no run is active yet.
    const listed = siteStatusSchema.array().parse(await cli(['site', 'list'], env()));
    assert.equal(listed.filter((s) => s.connected && !s.runId).length, 2, JSON.stringify(listed));
    const started = runStatusSchema.parse(await cli(['run', 'start', 'first'], env()));
    assert.equal(started.state, 'waiting-for-sites');
    assert.match(await cliFails(['run', 'start', 'first'], env()), /run\.illegal_transition/);
    await Promise.all(waiting);
    const done = runStatusSchema.parse(await cli(['run', 'status', 'first'], env()));
    assert.equal(done.state, 'complete');
    assert.equal(done.roundsClosed, 2);
    const report = await http('GET', '/api/runs/first/report', auditor);
    assert.equal((report.body as { per_round: unknown[] }).per_round.length, 2);
  });

  it('pauses between rounds and resumes; cancelling tells the sites', async () => {
    assert.equal((await http('POST', '/api/runs', operator, spec('second', 3))).status, 201);
    const rounds: number[] = [];
    coordinator.events.on('round', (summary) => rounds.push(summary.round));
    const firstRoundEnded = new Promise((resolve) => {
      coordinator.events.once('round', resolve);
      coordinator.events.once('roundFailed', resolve);
    });
    const trail = auditTrail(coordinator.events);
    const ready = sitesReady(coordinator.events, workspace.siteNames);
    const finished = sites();
    assert.equal((await http('POST', '/api/runs/second/start', operator)).status, 200);
    assert.equal((await http('POST', '/api/runs/second/pause', operator)).status, 200);
    assert.equal((await http('POST', '/api/runs/second/pause', operator)).status, 409);
    // A round that was open when paused may close; no round opens after it. A round opens only
    // when a site becomes ready or a round ends: once both have happened, none is still to come.
    await ready;
    const ofRun = (): string[] => trail.filter((e) => e.run === 'second').map((e) => e.event);
    const pausedAt = ofRun().indexOf('run.paused');
    assert.ok(pausedAt >= 0, 'the pause was not audited');
    if (ofRun().slice(0, pausedAt).includes('round.started')) await firstRoundEnded;
    assert.ok(!ofRun().slice(pausedAt).includes('round.started'), 'a round opened while paused');
    const paused = runStatusSchema.parse((await http('GET', '/api/runs/second', auditor)).body);
    assert.equal(paused.state, 'paused');
    assert.ok(rounds.length <= 1, `rounds ${rounds.join(', ')} closed while paused`);
    assert.equal((await http('POST', '/api/runs/second/resume', operator)).status, 200);
    await Promise.all(finished);
    assert.deepEqual(rounds, [1, 2, 3]);

    assert.equal((await http('POST', '/api/runs', operator, spec('third', 50))).status, 201);
    const joined = bothJoined();
    // Settled at once: a rejection must not go unhandled while the test awaits the API.
    const cancelled = sites().map((site) =>
      site.then(
        () => undefined,
        (error: FedistillError) => error,
      ),
    );
    assert.equal((await http('POST', '/api/runs/third/start', operator)).status, 200);
    await joined;
    const status = runStatusSchema.parse(await cli(['run', 'cancel', 'third'], env()));
    assert.equal(status.state, 'cancelled');
    for (const outcome of await Promise.all(cancelled))
      assert.equal(outcome?.code, 'run.cancelled');
    assert.equal((await http('POST', '/api/runs/third/resume', operator)).status, 409);
  });

  it('serves the audit log to auditors: it verifies, proofs check, and it holds every API use but no token', async () => {
    const sodium = await loadSodium();
    const key = decodeKey(
      unwrap(
        await readJsonFile(
          path.join(workspace.dir, 'keys', 'coordinator.pub'),
          publicKeyFileSchema,
        ),
      ).publicKey,
    );
    const fresh = await http('POST', '/api/audit/tree-heads', auditor);
    assert.equal(fresh.status, 201);
    const log = (await http('GET', '/api/audit', auditor)).body as AuditLogExport;
    const report = unwrap(verifyAuditLog(sodium, key, log));
    assert.equal(report.coveredSize, (fresh.body as { size: number }).size);
    const events = log.entries.map((e) => e.event.event);
    for (const expected of [
      'site.enrolled',
      'run.created',
      'run.started',
      'run.paused',
      'run.resumed',
      'run.cancelled',
      'round.started',
      'update.received',
      'aggregate.committed',
      'operator.access',
      'operator.refused',
      'student.exported',
      'run.completed',
    ]) {
      assert.ok(events.includes(expected), `no ${expected} in the log`);
    }
    const text = JSON.stringify(log);
    assert.ok(!text.includes(operator) && !text.includes(auditor), 'a token is in the log');
    const proved = (await http('GET', '/api/audit/proof/3', auditor)).body as {
      entry: AuditEntry;
      treeHead: SignedTreeHead;
      proof: string[];
    };
    const head = unwrap(verifyTreeHead(sodium, key, proved.treeHead));
    const claim = {
      index: 3,
      size: head.size,
      leafHash: hashLeaf(unwrap(auditLeaf(proved.entry))),
      proof: proved.proof.map((p) => Buffer.from(p, 'hex')),
      root: Buffer.from(head.root, 'hex'),
    };
    unwrap(verifyInclusion(claim));
    assert.equal(verifyInclusion({ ...claim, index: 4 }).ok, false);
    assert.equal((await http('GET', '/api/audit/proof/99999', auditor)).status, 404);
    assert.equal((await http('GET', '/api/audit')).status, 401);
  });

  it('opens dashboard sessions: a login link once, an API token any time; a session is no bearer for another', async () => {
    const { stdout } = await run(process.execPath, [
      CLI,
      'token',
      'login-link',
      '--config',
      workspace.coordinatorConfigFile,
      '--name',
      'on-call',
      '--url',
      coordinator.url,
    ]);
    const link = /^Dashboard: (\S+)$/m.exec(stdout)?.[1];
    assert.ok(link?.startsWith(`${coordinator.url}/dashboard/?token=fdt_`), stdout);
    const login = new URL(link!).searchParams.get('token')!;
    assert.equal((await http('GET', '/api/runs', login)).status, 401, 'a login token is no bearer');
    const opened = await http('POST', '/api/sessions', undefined, { token: login });
    assert.equal(opened.status, 201);
    const session = opened.body as DashboardSession;
    assert.equal(session.role, 'operator');
    assert.equal(session.name, 'on-call');
    assert.ok(Date.parse(session.expiresAt) > Date.now() + 11 * 3600_000);
    const again = await http('POST', '/api/sessions', undefined, { token: login });
    assert.equal(again.status, 401, 'a login link opens one session');
    assert.equal((again.body as { code: string }).code, 'auth.bad_token');
    assert.equal((await http('GET', '/api/runs', session.token)).status, 200);
    const chained = await http('POST', '/api/sessions', undefined, { token: session.token });
    assert.equal(chained.status, 401, 'a session cannot extend itself');
    assert.equal((await http('POST', '/api/sessions', undefined, { nope: 1 })).status, 400);

    const audit = (await http('POST', '/api/sessions', undefined, { token: auditor }))
      .body as DashboardSession;
    assert.equal(audit.role, 'auditor');
    assert.equal((await http('POST', '/api/runs/first/pause', audit.token)).status, 403);
    assert.equal((await http('DELETE', '/api/sessions/current', auditor)).status, 400);
    assert.equal((await http('DELETE', '/api/sessions/current', audit.token)).status, 204);
    assert.equal((await http('GET', '/api/runs', audit.token)).status, 401, 'logged out');
    assert.equal((await http('GET', '/api/runs', auditor)).status, 200, 'the API token lives on');
  });

  it('pages the audit log for the dashboard, and checks the stored log against its signed heads', async () => {
    const page = (await http('GET', '/api/audit/entries?event=run.&limit=2', auditor))
      .body as AuditPage;
    assert.equal(page.entries.length, 2);
    assert.ok(page.matching >= 5 && page.size > page.matching);
    assert.ok(page.entries.every((e) => String(e.event.event).startsWith('run.')));
    const older = (
      await http(
        'GET',
        `/api/audit/entries?event=run.&limit=2&before=${page.entries[1]!.seq}`,
        auditor,
      )
    ).body as AuditPage;
    assert.ok(older.entries[0]!.seq < page.entries[1]!.seq);
    const refused = await http('GET', '/api/audit/entries?limit=100000', auditor);
    assert.equal(refused.status, 400);
    assert.deepEqual((refused.body as { path: unknown[] }).path, ['limit']);

    await http('POST', '/api/audit/tree-heads', auditor);
    const heads = (await http('GET', '/api/audit/tree-heads', auditor)).body as TreeHeadsView;
    assert.deepEqual(heads.log, { verified: true });
    assert.ok(heads.heads.length > 0 && heads.heads.every((h) => h.signatureValid));
    // An entry edited in the store no longer matches the head that signed it.
    const db = new Database(path.join(dir, 'coordinator', 'coordinator.db'));
    const row = db.prepare('SELECT event FROM audit_log WHERE seq = 2').get() as { event: string };
    db.prepare('UPDATE audit_log SET event = ? WHERE seq = 2').run(
      row.event.replace('"event":"', '"event":"x'),
    );
    const tampered = (await http('GET', '/api/audit/tree-heads', auditor)).body as TreeHeadsView;
    db.prepare('UPDATE audit_log SET event = ? WHERE seq = 2').run(row.event);
    db.close();
    assert.equal(tampered.log.verified, false);
    assert.match((tampered.log as { message: string }).message, /entry seq 2/);
  });

  it('enrols and revokes sites', async () => {
    const key = await generateSiteKey(path.join(dir, 'new-keys'), 'site-9');
    const enrolled = siteStatusSchema
      .array()
      .parse(await cli(['site', 'enrol', '--key', key.publicKey], env()));
    assert.deepEqual(
      enrolled.map((s) => [s.name, s.state]),
      [
        ['site-1', 'enrolled'],
        ['site-2', 'enrolled'],
        ['site-9', 'enrolled'],
      ],
    );
    assert.match(
      await cliFails(['site', 'enrol', '--key', key.publicKey], env()),
      /already enrolled/,
    );
    const revoked = siteStatusSchema.array().parse(await cli(['site', 'revoke', 'site-9'], env()));
    assert.equal(revoked.find((s) => s.name === 'site-9')?.state, 'revoked');
    assert.match(
      await cliFails(['site', 'list'], { ...env(), FEDISTILL_TOKEN: 'fdt_wrong' }),
      /auth\.bad_token/,
    );
  });
});
