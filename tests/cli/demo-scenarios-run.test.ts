import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { DemoReport } from '../../cli/demo/demo-report.js';
import { MAIL_BANKS } from '../../cli/demo/mail-split.js';
import { contentHash, loadSodium, toHex } from '../../protocol/index.js';
import { trainTokenizer } from '../../protocol/text/tokenizer.js';

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
      b.fedavg_public_labels?.auc,
      b.centralized.auc,
      b.centralized_public_labels?.auc,
      b.teacher.auc,
    ])
      assert.ok(auc !== undefined && auc > 0.5 && auc < 1, String(auc));
    assert.ok(report.student_accuracy > report.majority_class_rate);
  });
});

describe('fedistill demo --scenario digits (MNIST, 10 sites, Dirichlet 0.1, CNN student, a teacher from outside)', () => {
  let report: DemoReport;
  before(async () => {
    report = await demo('digits', 25);
  });

  it('states its premise: a teacher from outside the federation, an unlabelled transfer set', () => {
    assert.equal(
      report.scenario.premise,
      'the teacher learned from 4,000 digit images outside the federation; the transfer set is unlabelled; distillation is expected to help',
    );
  });

  it("the coordinator had only the outside teacher's logits, on a public split without labels", async () => {
    const coordinator = path.join(dir, 'digits', 'coordinator');
    const header = (await readFile(path.join(coordinator, 'public.csv'), 'utf8')).split('\n')[0]!;
    assert.equal(header.split(',').length, 784);
    assert.ok(!header.split(',').includes('label'));
    const config = JSON.parse(await readFile(path.join(coordinator, 'config.json'), 'utf8')) as {
      data: { publicLabels: boolean };
    };
    assert.equal(config.data.publicLabels, false);
    assert.ok(report.teacher_source === 'logits', report.teacher_source);
    assert.equal(
      report.teacher_logits_file,
      path.join(coordinator, 'imports', 'outside-teacher.bin'),
    );
    // No model at the coordinator and no labels to agree with.
    assert.equal(report.teacher_accuracy, null);
    assert.equal(report.teacher_params, null);
    assert.equal(report.teacher_transfer_accuracy, null);
  });

  it('the teacher is the larger CNN, measured by the demo on the held-out split', () => {
    assert.equal(report.student_params, 28_874);
    assert.equal(report.baselines.teacher.params, 215_370);
    assert.ok(
      report.baselines.teacher.accuracy > 0.9,
      `teacher ${report.baselines.teacher.accuracy}`,
    );
  });

  it('no baseline has public labels to use, and the gain is against the strongest federated one left', (t) => {
    const b = report.baselines;
    assert.equal(b.fedavg_public_labels, null);
    assert.equal(b.centralized_public_labels, null);
    assert.match(b.method, /the public split is unlabelled here/);
    // The teacher's own 4,000 images are references, not baselines of the gain.
    assert.ok(b.fedavg_teacher_rows && b.centralized_teacher_rows);
    assert.match(b.method, /the 4000 labelled rows the outside teacher learned from/);
    const gain = report.distillation_gain;
    const strongest = Math.max(b.fedavg_no_teacher.accuracy, b.local_only.best);
    assert.equal(gain.baseline_accuracy, strongest);
    assert.ok(['fedavg_no_teacher', 'local_only_best'].includes(gain.against), gain.against);
    assert.ok(Math.abs(gain.points - 100 * (report.student_accuracy - strongest)) < 1e-9);
    t.diagnostic(
      `distilled ${report.student_accuracy.toFixed(4)}, teacher ${b.teacher.accuracy.toFixed(4)}, ` +
        `${gain.against} ${strongest.toFixed(4)}: ${gain.points.toFixed(1)} points; ` +
        `FedAvg with the teacher's rows ${b.fedavg_teacher_rows.accuracy.toFixed(4)}`,
    );
    // The labels are skewed: a site alone knows only a few digits.
    assert.ok(b.local_only.mean < 0.6, `local mean ${b.local_only.mean}`);
    // Seed 42, measured: student 0.9400 against FedAvg without the teacher 0.7642 (+17.6 points),
    // teacher 0.9775. The target is 2 points.
    assert.ok(gain.points >= 2, `gain ${gain.points}`);
  });
});

describe('fedistill demo --scenario mail (SpamAssassin at 5 banks, text students, a teacher from outside)', () => {
  let report: DemoReport;
  const coordinatorDir = () => path.join(dir, 'mail', 'coordinator');
  const jsonl = async (file: string) =>
    (await readFile(file, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  before(async () => {
    report = await demo('mail', 10);
  });

  it('every party holds texts, and the public split reaches the coordinator without labels', async () => {
    const publicRows = await jsonl(path.join(coordinatorDir(), 'public.jsonl'));
    assert.equal(publicRows.length, 885);
    for (const row of publicRows) assert.deepEqual(Object.keys(row), ['text']);
    const heldOut = await jsonl(path.join(coordinatorDir(), 'held-out.jsonl'));
    assert.equal(heldOut.length, report.held_out_rows);
    for (const row of heldOut) assert.deepEqual(Object.keys(row), ['text', 'label']);
    const config = JSON.parse(
      await readFile(path.join(coordinatorDir(), 'config.json'), 'utf8'),
    ) as { data: { publicLabels: boolean; text: unknown } };
    assert.equal(config.data.publicLabels, false);
    assert.deepEqual(config.data.text, { column: 'text', length: 128, vocabulary: 4000 });
    for (const [i, site] of report.scenario.sites.entries()) {
      const rows = await jsonl(path.join(dir, 'mail', 'sites', `site-${i + 1}`, 'private.jsonl'));
      assert.equal(rows.length, site.rows);
      assert.equal(rows.filter((row) => row['label'] === 1).length, site.label_counts[1]);
    }
  });

  it('every bank encoded its mail with the tokenizer learned from the public texts alone', async () => {
    const publicTexts = (await jsonl(path.join(coordinatorDir(), 'public.jsonl'))).map(
      (row) => row['text'] as string,
    );
    const expected = toHex(
      contentHash(await loadSodium(), await trainTokenizer(publicTexts, 4000)),
    ).slice(0, 16);
    for (const site of report.scenario.sites) {
      const log = await readFile(path.join(dir, 'mail', 'logs', `${site.name}.log`), 'utf8');
      assert.match(log, new RegExp(`tokenizer ${expected}: texts encoded to 128 token ids`));
    }
  });

  it('splits the mail among the banks at their spam rates, beside an outside teacher', () => {
    assert.equal(report.dataset, 'spam_assassin');
    assert.equal(
      report.scenario.premise,
      'the teacher learned from 1,769 emails outside the federation; the transfer set is unlabelled; distillation is expected to help',
    );
    assert.deepEqual(
      report.scenario.sites.map((s) => s.rows),
      // 40 % of 5,897 emails, by MAIL_BANKS shares.
      [944, 592, 354, 281, 188],
    );
    for (const [i, bank] of MAIL_BANKS.entries()) {
      const share = report.scenario.sites[i]!.positive_share!;
      assert.ok(Math.abs(share - bank.spamRate) < 0.02, `${bank.name}: ${share}`);
    }
  });

  it('the student is an eighth of the teacher, and both were timed', () => {
    // 4,000 ids x 16 + 16 x 2 + 2.
    assert.equal(report.student_params, 64_034);
    // The teacher's own tokenizer: 8,000 ids x 64 + 64 x 64 + 64 + 64 x 2 + 2.
    assert.equal(report.baselines.teacher.params, 516_290);
    assert.ok(report.baselines.teacher.latency_ms_per_example!.batch_1 > 0);
    assert.ok(report.compression.latency_ms_per_example.student.batch_1 > 0);
  });

  it('reports accuracy and AUC for the student, the teacher and every baseline', (t) => {
    const b = report.baselines;
    assert.equal(b.fedavg_public_labels, null);
    assert.equal(b.centralized_public_labels, null);
    // The outside teacher's 1,769 emails, as the student reads them: references beside the gain.
    const fedavgTeacherRows = b.fedavg_teacher_rows;
    const centralizedTeacherRows = b.centralized_teacher_rows;
    assert.ok(
      fedavgTeacherRows && centralizedTeacherRows,
      "the teacher's rows baselines are missing",
    );
    assert.equal(fedavgTeacherRows.per_round.length, 10);
    assert.match(b.method, /the 1769 labelled rows the outside teacher learned from/);
    for (const auc of [
      report.compression.auc?.student_int8,
      b.local_only.auc?.mean,
      b.fedavg_no_teacher.auc,
      b.centralized.auc,
      fedavgTeacherRows.auc,
      centralizedTeacherRows.auc,
      b.teacher.auc,
    ])
      assert.ok(auc !== undefined && auc > 0.9 && auc <= 1, String(auc));
    // 30 % of the held-out mail is spam: the student must do far better than calling all ham.
    assert.ok(report.student_accuracy > report.majority_class_rate + 0.2);
    assert.ok(report.compression.accuracy.student_int8 > report.majority_class_rate + 0.2);
    const gain = report.distillation_gain;
    const strongest = Math.max(b.fedavg_no_teacher.accuracy, b.local_only.best);
    assert.equal(gain.baseline_accuracy, strongest);
    t.diagnostic(
      `distilled ${report.student_accuracy.toFixed(4)}, teacher ${b.teacher.accuracy.toFixed(4)}, ` +
        `${gain.against} ${strongest.toFixed(4)}, centralized ${b.centralized.accuracy.toFixed(4)}: ${gain.points.toFixed(1)} points`,
    );
  });
});
