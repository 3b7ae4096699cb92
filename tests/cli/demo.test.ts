import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { DemoReport } from '../../cli/demo/demo-report.js';

const MAIN = fileURLToPath(new URL('../../cli/main.js', import.meta.url));
const run = promisify(execFile);
/** The CLI as a user runs it. */
const fedistill = (...args: string[]) => run(process.execPath, [MAIN, ...args]);
const SITES = ['site-1', 'site-2', 'site-3', 'site-4', 'site-5'];

describe('fedistill demo with its defaults (separate processes on loopback)', () => {
  let dir: string;
  let stdout: string;
  let report: DemoReport;

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
    report = JSON.parse(await readFile(path.join(out, 'report.json'), 'utf8')) as DemoReport;
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reaches a held-out student accuracy of at least 0.93 on breast cancer', () => {
    assert.equal(report.dataset, 'breast_cancer');
    assert.ok(report.student_accuracy >= 0.93, `student accuracy ${report.student_accuracy}`);
    assert.ok(report.student_accuracy > report.majority_class_rate);
  });

  it('writes every report field, with 5 hospital sites and 10 rounds', () => {
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
    assert.equal(report.sites, 5);
    assert.equal(report.rounds, 10);
    assert.equal(report.per_round.length, 10);
    for (const [i, r] of report.per_round.entries()) {
      assert.deepEqual(Object.keys(r).sort(), [
        'alpha',
        'attempt',
        'bytes_down',
        'bytes_up',
        'dropped',
        'duration_seconds',
        'participants',
        'round',
        'rounds',
        'selected',
        'sparsity',
        'stragglers',
        'student_accuracy',
        'student_loss',
        'temperature',
      ]);
      assert.equal(r.round, i + 1);
      assert.equal(r.participants, 5);
      assert.deepEqual([r.attempt, r.selected, r.stragglers, r.dropped], [1, 5, 0, 0]);
      assert.ok(r.student_loss > 0 && r.bytes_up > 0 && r.bytes_down > 0);
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
    ) as DemoReport;
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

  it('writes an audit log that verifies, refuses a tampered copy by naming the entry, and holds no private value or weight', async () => {
    const out = path.join(dir, 'run');
    const log = path.join(out, 'audit.jsonl');
    const key = path.join(out, 'coordinator.pub');
    const verified = await fedistill('audit', 'verify', log, '--coordinator-key', key);
    assert.match(
      verified.stdout,
      /^verified: (\d+) entries, \d+ signed tree heads; the last head covers \1$/m,
    );

    const lines = (await readFile(log, 'utf8')).trimEnd().split('\n');
    const tampered = lines.map((line) =>
      line.includes('"seq":2,') ? line.replace(/"site":"site-\d"/, '"site":"site-9"') : line,
    );
    assert.notDeepEqual(tampered, lines);
    const copy = path.join(dir, 'tampered.jsonl');
    await writeFile(copy, tampered.join('\n') + '\n');
    const refused = await fedistill('audit', 'verify', copy, '--coordinator-key', key).then(
      () => undefined,
      (error: { stderr: string }) => error.stderr,
    );
    assert.ok(refused, 'a tampered log verified');
    assert.match(refused, /entries\.2|seq 2|entry 2/);

    // Every fractional value of every private row (as written in the CSVs), and every weight of
    // the exported student, must be absent from the log's text. (Whole numbers are left out:
    // short ones occur by chance in sizes and hex hashes.)
    const text = lines.join('\n');
    const privateValues = new Set<string>();
    for (const site of SITES) {
      const rows = (await readFile(path.join(out, 'sites', site, 'private.csv'), 'utf8'))
        .trim()
        .split('\n')
        .slice(1);
      for (const row of rows)
        for (const cell of row.split(',')) if (cell.includes('.')) privateValues.add(cell);
    }
    assert.ok(privateValues.size > 1000);
    // As a whole number in the text: 11.5 must not match the 11.523 of a timestamp.
    const appears = (value: string): boolean =>
      new RegExp(`(?<![\\d.])${value.replace(/[.+-]/g, '\\$&')}(?![\\d])`).test(text);
    for (const value of privateValues) {
      assert.ok(!appears(value), `private value ${value} in the log`);
    }
    const shard = await readFile(path.join(out, 'student-fp32', 'group1-shard1of1.bin'));
    const weights = new Float32Array(shard.buffer, shard.byteOffset, shard.byteLength / 4);
    let checked = 0;
    for (const w of weights) {
      if (w === 0) continue;
      checked++;
      assert.ok(!appears(String(w)), `weight ${w} in the log`);
    }
    assert.ok(checked > 100);
  });

  it('proves an entry, exports CSV, and every site kept the signed heads it was sent', async () => {
    const out = path.join(dir, 'run');
    const config = path.join(out, 'coordinator', 'config.json');
    const key = path.join(out, 'coordinator.pub');
    const proof = await fedistill('audit', 'prove', '--config', config, '--seq', '3');
    const proofFile = path.join(dir, 'proof.json');
    await writeFile(proofFile, proof.stdout);
    const checked = await fedistill(
      'audit',
      'verify',
      proofFile,
      '--proof',
      '--coordinator-key',
      key,
    );
    assert.match(checked.stdout, /^entry 3 is in the log of \d+ entries/);
    const forged = JSON.parse(proof.stdout) as { entry: { event: Record<string, unknown> } };
    forged.entry.event.at = '2000-01-01T00:00:00.000Z';
    await writeFile(proofFile, JSON.stringify(forged));
    await assert.rejects(
      fedistill('audit', 'verify', proofFile, '--proof', '--coordinator-key', key),
      /audit\.bad_proof/,
    );

    const csv = await fedistill(
      'audit',
      'export',
      '--config',
      config,
      '--format',
      'csv',
      '--run',
      report.run_id,
    );
    const rows = csv.stdout.trim().split('\n');
    assert.equal(rows[0], 'seq,at,event,run,round,site,code,details');
    assert.ok(rows.slice(1).every((row) => row.split(',')[3] === report.run_id));

    const exported = (await readFile(path.join(out, 'audit.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { treeHead?: { root: string } });
    const signed = new Set(exported.flatMap((l) => (l.treeHead ? [l.treeHead.root] : [])));
    for (const site of SITES) {
      const kept = (
        await readFile(path.join(out, 'sites', site, 'cache', 'tree-heads.jsonl'), 'utf8')
      )
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { root: string });
      // One head closes each of the 10 rounds, and one covers run.completed.
      assert.equal(kept.length, 11, `${site} kept ${kept.length} heads`);
      const siteCheck = await fedistill(
        'audit',
        'verify',
        path.join(out, 'audit.jsonl'),
        '--coordinator-key',
        path.join(out, 'coordinator.pub'),
        '--site-heads',
        path.join(out, 'sites', site, 'cache', 'tree-heads.jsonl'),
      );
      assert.match(siteCheck.stdout, /the site's 11 heads all sign prefixes of this log/);
      for (const head of kept)
        assert.ok(signed.has(head.root), `${site} holds a head the log lacks`);
    }
  });

  it('reports the baselines on the same split: local only, FedAvg and centralized without and with the public labels, the teacher', () => {
    const { baselines: b, scenario } = report;
    assert.equal(scenario.name, 'hospitals');
    assert.equal(
      scenario.premise,
      "the teacher learns only from the coordinator's labelled public split, which a fair baseline also sees; distillation is not expected to beat it",
    );
    // The public split is labelled here: the baselines that use its labels are trained.
    const fedavgPublic = b.fedavg_public_labels;
    const centralizedPublic = b.centralized_public_labels;
    assert.ok(fedavgPublic && centralizedPublic, 'the labelled baselines are missing');
    // The teacher's rows are the public split's: no outside rows to add.
    assert.equal(b.fedavg_teacher_rows, null);
    assert.equal(b.centralized_teacher_rows, null);
    assert.deepEqual(
      scenario.sites.map((s) => s.name),
      SITES,
    );
    for (const site of scenario.sites) {
      assert.equal(
        site.label_counts.reduce((a, c) => a + c, 0),
        site.rows,
      );
      assert.equal(site.positive_share, site.label_counts[1]! / site.rows);
    }
    assert.deepEqual(
      b.local_only.per_site.map((s) => s.site),
      SITES,
    );
    const accuracies = b.local_only.per_site.map((s) => s.accuracy);
    assert.equal(b.local_only.best, Math.max(...accuracies));
    assert.ok(Math.abs(b.local_only.mean - accuracies.reduce((a, x) => a + x) / 5) < 1e-12);
    assert.equal(
      b.local_only.per_site.find((s) => s.site === b.local_only.best_site)!.accuracy,
      b.local_only.best,
    );
    // Binary: AUC beside every accuracy.
    assert.ok(b.local_only.auc && b.local_only.auc.best >= b.local_only.auc.mean);
    const trained = [b.fedavg_no_teacher, fedavgPublic, b.centralized, centralizedPublic];
    for (const model of [...trained, b.teacher])
      assert.ok(model.auc !== undefined && model.auc > 0.5 && model.auc <= 1);
    for (const replay of [b.fedavg_no_teacher, fedavgPublic]) {
      assert.equal(replay.per_round.length, 10);
      assert.equal(replay.per_round[9], replay.accuracy);
    }
    // Trained models, not chance: each beats always answering the majority class.
    for (const accuracy of [...trained.map((m) => m.accuracy), b.local_only.best])
      assert.ok(accuracy > report.majority_class_rate, String(accuracy));
    // The gain is taken against the strongest of the federated baselines without a teacher.
    const gain = report.distillation_gain;
    const strongest = Math.max(
      b.fedavg_no_teacher.accuracy,
      fedavgPublic.accuracy,
      b.local_only.best,
    );
    assert.equal(gain.baseline_accuracy, strongest);
    assert.ok(Math.abs(gain.points - 100 * (report.student_accuracy - strongest)) < 1e-9);
    assert.equal(b.teacher.accuracy, report.teacher_accuracy);
    assert.equal(b.teacher.params, report.teacher_params);
  });

  it('writes a self-contained HTML report holding the same report', async () => {
    const html = await readFile(path.join(dir, 'run', 'report.html'), 'utf8');
    const block = /<script type="application\/json" id="report-data">([^<]*)<\/script>/.exec(html);
    assert.ok(block, 'no report data block');
    assert.deepEqual(JSON.parse(block[1]!), report);
    assert.doesNotMatch(html, /(src|href)=["']?(https?:)?\/\//);
  });

  it('prints live progress for each round and a final summary', () => {
    // The premise first, among the opening lines, before any party starts.
    assert.match(
      stdout,
      /^ {2}premise {3}the teacher learns only from the coordinator's labelled public split, which a fair baseline also sees; distillation is not expected to beat it$/m,
    );
    for (let round = 1; round <= 10; round++)
      assert.match(stdout, new RegExp(`round +${round}/10 `));
    assert.match(stdout, /distillation gain +[+-]\d+\.\d points/);
    assert.match(stdout, /│ FedAvg without the teacher +│ +0\.\d{4} │/);
    assert.match(stdout, /│ FedAvg with the public labels +│ +0\.\d{4} │/);
    assert.match(stdout, /student accuracy +0\.\d{4}/);
    assert.match(stdout, /report +.*report\.json/);
    // The dashboard's one-time link, printed as the coordinator starts listening.
    assert.match(stdout, /^Dashboard: http:\/\/127\.0\.0\.1:\d+\/dashboard\/\?token=fdt_\S+$/m);
  });

  it('keeps each party in its own folder with its own log', async () => {
    const out = path.join(dir, 'run');
    assert.deepEqual((await readdir(path.join(out, 'sites'))).sort(), SITES);
    assert.deepEqual((await readdir(path.join(out, 'sites', 'site-1'))).sort(), [
      'cache',
      'config.json',
      'private.csv',
    ]);
    assert.deepEqual((await readdir(path.join(out, 'logs'))).sort(), [
      'coordinator.log',
      ...SITES.map((site) => `${site}.log`),
    ]);
  });
});
