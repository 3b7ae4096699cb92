import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { RunReport } from '../../coordinator/runs/run-report.js';

const MAIN = fileURLToPath(new URL('../../cli/main.js', import.meta.url));
const run = promisify(execFile);

describe('fedistill demo with its defaults (separate processes on loopback)', () => {
  let dir: string;
  let stdout: string;
  let report: RunReport;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'fedistill-demo-'));
    const out = path.join(dir, 'run');
    ({ stdout } = await run(
      process.execPath,
      [MAIN, 'demo', '--out', out, '--cache', path.join(dir, 'cache')],
      {
        timeout: 9 * 60_000,
      },
    ));
    report = JSON.parse(await readFile(path.join(out, 'report.json'), 'utf8')) as RunReport;
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reaches a held-out student accuracy of at least 0.93 on breast cancer', () => {
    assert.equal(report.dataset, 'breast_cancer');
    assert.ok(report.student_accuracy >= 0.93, `student accuracy ${report.student_accuracy}`);
    assert.ok(report.student_accuracy > report.majority_class_rate);
  });

  it('writes every report field, with 3 sites and 10 rounds', () => {
    for (const field of [
      'dataset',
      'sites',
      'rounds',
      'per_round',
      'teacher_source',
      'teacher_accuracy',
      'teacher_transfer_accuracy',
      'student_accuracy',
      'majority_class_rate',
      'student_params',
      'teacher_params',
      'bytes_up',
      'bytes_down',
      'wall_seconds',
      'backend',
    ]) {
      assert.ok(field in report, `report lacks ${field}`);
    }
    assert.equal(report.sites, 3);
    assert.equal(report.rounds, 10);
    assert.equal(report.per_round.length, 10);
    for (const [i, r] of report.per_round.entries()) {
      assert.deepEqual(Object.keys(r).sort(), [
        'alpha',
        'participants',
        'round',
        'rounds',
        'sparsity',
        'student_accuracy',
        'temperature',
      ]);
      // The demo's student stays dense unless --sparsity is given.
      assert.equal(r.sparsity, 0);
      assert.equal(r.round, i + 1);
      assert.equal(r.participants, 3);
    }
    assert.ok(report.teacher_source === 'model', 'the demo trains its teacher');
    assert.ok(report.teacher_params > report.student_params);
    assert.ok(report.bytes_up > 0 && report.bytes_down > 0 && report.wall_seconds > 0);
  });

  it('prints live progress for each round and a final summary', () => {
    for (let round = 1; round <= 10; round++)
      assert.match(stdout, new RegExp(`round +${round}/10 `));
    assert.match(stdout, /student accuracy +0\.\d{4}/);
    assert.match(stdout, /report +.*report\.json/);
  });

  it('keeps each party in its own folder with its own log', async () => {
    const out = path.join(dir, 'run');
    assert.deepEqual((await readdir(path.join(out, 'sites'))).sort(), [
      'site-1',
      'site-2',
      'site-3',
    ]);
    assert.deepEqual((await readdir(path.join(out, 'sites', 'site-1'))).sort(), [
      'cache',
      'config.json',
      'private.csv',
    ]);
    assert.deepEqual((await readdir(path.join(out, 'logs'))).sort(), [
      'coordinator.log',
      'site-1.log',
      'site-2.log',
      'site-3.log',
    ]);
  });
});
