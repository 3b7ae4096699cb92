import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { DemoReport } from '../../cli/demo/demo-report.js';

const MAIN = fileURLToPath(new URL('../../cli/main.js', import.meta.url));
const run = promisify(execFile);

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fedistill-scenarios-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function demo(scenario: string, minutes: number): Promise<DemoReport> {
  const out = path.join(dir, scenario);
  await run(
    process.execPath,
    [MAIN, 'demo', '--scenario', scenario, '--out', out, '--cache', path.join(dir, 'cache')],
    { timeout: minutes * 60_000 },
  );
  const files = await readdir(out);
  for (const file of ['report.json', 'report.html', 'audit.jsonl', 'student', 'student-fp32'])
    assert.ok(files.includes(file), `${scenario} wrote no ${file}`);
  return JSON.parse(await readFile(path.join(out, 'report.json'), 'utf8')) as DemoReport;
}

describe('fedistill demo --scenario banks (credit default, 5 branches by education)', () => {
  let report: DemoReport;
  before(async () => {
    report = await demo('banks', 10);
  });

  it('refuses another number of branches before anything starts', async () => {
    const refused = path.join(dir, 'refused');
    await assert.rejects(
      run(process.execPath, [
        MAIN,
        'demo',
        '--scenario',
        'banks',
        '--sites',
        '3',
        '--out',
        refused,
      ]),
      (error: { code: number; stderr: string }) => {
        assert.equal(error.code, 1);
        assert.match(
          error.stderr,
          /the banks scenario has 5 sites, one per group of its data, not 3/,
        );
        return true;
      },
    );
    await assert.rejects(readdir(refused), /ENOENT/);
  });

  it('splits by education: feature skew, with class imbalance', () => {
    assert.equal(report.dataset, 'credit_default');
    assert.equal(report.scenario.sites.length, 5);
    // 22.12% of the 30,000 clients default; no branch is balanced.
    for (const site of report.scenario.sites) assert.ok(site.positive_share! < 0.3);
  });

  it('reports AUC beside accuracy for the student and every baseline', () => {
    const { baselines: b, compression: c } = report;
    assert.ok(c.auc && c.auc.student_fp32 > 0.7, `student AUC ${c.auc?.student_fp32}`);
    for (const auc of [
      b.local_only.auc?.mean,
      b.local_only.auc?.best,
      b.fedavg_no_teacher.auc,
      b.fedavg_public_labels.auc,
      b.centralized.auc,
      b.centralized_public_labels.auc,
      b.teacher.auc,
    ])
      assert.ok(auc !== undefined && auc > 0.5 && auc < 1, String(auc));
    assert.ok(report.student_accuracy > report.majority_class_rate);
  });
});

describe('fedistill demo --scenario digits (MNIST, 10 sites, Dirichlet 0.1, CNN student and teacher)', () => {
  let report: DemoReport;
  before(async () => {
    report = await demo('digits', 25);
  });

  it('the teacher is the larger CNN, and the student learns from it', () => {
    assert.equal(report.student_params, 28_874);
    assert.equal(report.teacher_params, 215_370);
    assert.ok(report.teacher_accuracy > 0.9, `teacher ${report.teacher_accuracy}`);
  });

  it('under label skew the distilled student beats FedAvg without the teacher by at least 2 points', (t) => {
    const gap = report.student_accuracy - report.baselines.fedavg_no_teacher.accuracy;
    t.diagnostic(
      `distilled ${report.student_accuracy.toFixed(4)}, FedAvg without the teacher ` +
        `${report.baselines.fedavg_no_teacher.accuracy.toFixed(4)}: ${(100 * gap).toFixed(1)} points`,
    );
    assert.ok(gap >= 0.02, `gap ${gap}`);
    // The labels are skewed: a site alone knows only a few digits.
    assert.ok(
      report.baselines.local_only.mean < 0.6,
      `local mean ${report.baselines.local_only.mean}`,
    );
  });
});
