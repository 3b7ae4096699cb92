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
      assert.equal(r.round, i + 1);
      assert.equal(r.participants, 3);
    }
    // Pruned by default, on the recommended schedule (0 -> 50% over rounds 3..8).
    assert.deepEqual(
      report.per_round.map((r) => r.sparsity >= 0.5),
      [false, false, false, false, false, false, false, true, true, true],
    );
    assert.ok(report.teacher_source === 'model', 'the demo trains its teacher');
    assert.ok(report.teacher_params > report.student_params);
    assert.ok(report.bytes_up > 0 && report.bytes_down > 0 && report.wall_seconds > 0);
  });

  it('exports the int8 student, 50% pruned, within 1 point of the dense fp32 student (a second, dense run)', async () => {
    const dense = path.join(dir, 'dense');
    await run(
      process.execPath,
      [MAIN, 'demo', '--out', dense, '--cache', path.join(dir, 'cache'), '--sparsity', '0'],
      { timeout: 9 * 60_000 },
    );
    const denseReport = JSON.parse(
      await readFile(path.join(dense, 'report.json'), 'utf8'),
    ) as RunReport;
    const c = report.compression;
    assert.ok(c.sparsity >= 0.5, `sparsity ${c.sparsity}`);
    assert.equal(denseReport.compression.sparsity, 0);
    const denseFp32 = denseReport.compression.accuracy.student_fp32;
    assert.ok(
      c.accuracy.student_int8 >= denseFp32 - 0.01,
      `int8 pruned ${c.accuracy.student_int8} against dense fp32 ${denseFp32}`,
    );
    assert.ok(c.auc && c.auc.student_int8 > 0.9, `AUC ${c.auc?.student_int8}`);
    assert.ok(c.exports.tfjs.int8.weights_bytes < c.exports.tfjs.float32.weights_bytes / 3);
    assert.ok(
      c.exports.tfjs.int8.weights_gzip_bytes <
        denseReport.compression.exports.tfjs.int8.weights_gzip_bytes,
    );
    for (const figures of [c.latency_ms_per_example.student, c.latency_ms_per_example.teacher!]) {
      assert.ok(figures.batch_1 > 0 && figures.batch_256 > 0);
    }
    const out = path.join(dir, 'run');
    assert.equal(c.files.int8, path.join(out, 'student'));
    assert.ok((await readdir(c.files.int8)).includes('model.json'));
    assert.ok((await readdir(path.join(out, 'student-fp32'))).includes('model.json'));
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
