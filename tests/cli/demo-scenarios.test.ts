import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import {
  loadCoordinatorConfig,
  normalizerFor,
} from '../../coordinator/config/coordinator-config.js';
import { studentSpecOf } from '../../coordinator/runs/run-spec.js';
import { parameterCount, readTextTable, unwrap, type LabelledTable } from '../../protocol/index.js';
import { outsideTeacherCacheKey } from '../../cli/demo/outside-teacher.js';
import { DIGITS_STUDENT, DIGITS_TEACHER, SCENARIOS } from '../../cli/demo/scenarios.js';
import { summarizeScenario } from '../../cli/demo/report-assembly.js';
import { describeSplit, splitScenario } from '../../cli/demo/scenario-split.js';
import { openingLines, siteLine } from '../../cli/demo/terminal-lines.js';
import { prepareWorkspace, writeSiteConfig } from '../../cli/demo/workspace.js';
import type { LabelledTexts } from '../../client/data-sources/private-texts.js';
import { loadSiteConfig } from '../../client/site-config.js';
import { trainTokenizer } from '../../protocol/text/tokenizer.js';

/** The premises the scenarios state, as the brief words them. */
const OUTSIDE_PREMISE =
  'the teacher learned from 4,000 digit images outside the federation; the transfer set is unlabelled; distillation is expected to help';
const PUBLIC_SPLIT_PREMISE =
  "the teacher learns only from the coordinator's labelled public split, which a fair baseline also sees; distillation is not expected to beat it";

const table = (rows: number[][], labels: number[]): LabelledTable => ({
  featureNames: rows[0]!.map((_, i) => `f${i}`),
  rows: rows.length,
  features: rows[0]!.length,
  inputs: Float32Array.from(rows.flat()),
  labels: Int32Array.from(labels),
});

describe("the demo's scenarios", () => {
  it('the student spec: an MLP from studentHidden, or the CNN whose image holds the row', () => {
    const mlp = studentSpecOf({ studentHidden: [8] }, { inputs: 30, classes: 2 });
    assert.deepEqual(mlp, {
      ok: true,
      value: { kind: 'mlp', inputs: 30, hidden: [8], classes: 2 },
    });
    const cnn = studentSpecOf(
      { studentHidden: [8], studentCnn: DIGITS_STUDENT },
      { inputs: 784, classes: 10 },
    );
    assert.ok(cnn.ok);
    // conv 5x5x1x8 + 8, conv 5x5x8x16 + 16, two poolings leave 7x7x16 = 784, dense 784x32 + 32,
    // logits 32x10 + 10: 208 + 3,216 + 25,120 + 330.
    assert.equal(parameterCount(cnn.value), 28_874);
    const teacher = studentSpecOf(
      { studentHidden: [], studentCnn: DIGITS_TEACHER },
      { inputs: 784, classes: 10 },
    );
    assert.ok(teacher.ok);
    // 416 + 12,832 + 7x7x32 x 128 + 128 + 128 x 10 + 10 = 416 + 12,832 + 200,832 + 1,290.
    assert.equal(parameterCount(teacher.value), 215_370);
    const wrong = studentSpecOf(
      { studentHidden: [8], studentCnn: DIGITS_STUDENT },
      { inputs: 30, classes: 2 },
    );
    assert.ok(!wrong.ok);
    assert.deepEqual(wrong.error.path, ['studentCnn', 'image']);
    assert.match(wrong.error.message, /28 x 28 x 1 holds 784 values, the rows have 30/);
    const deep = studentSpecOf(
      { studentHidden: [8], studentCnn: { ...DIGITS_STUDENT, image: [2, 2, 1] } },
      { inputs: 4, classes: 2 },
    );
    assert.ok(!deep.ok);
    assert.deepEqual(deep.error.path, ['studentCnn', 'conv']);
  });

  it('data.normalize: standardize fits the public split (population std), none is the identity', () => {
    const publicSplit = table(
      [
        [1, 10],
        [5, 10],
      ],
      [0, 1],
    );
    const fitted = normalizerFor({ normalize: 'standardize' }, publicSplit);
    assert.deepEqual(fitted.mean, [3, 10]);
    // A constant feature keeps std 1 rather than dividing by zero.
    assert.deepEqual(fitted.std, [2, 1]);
    const identity = normalizerFor({ normalize: 'none' }, publicSplit);
    assert.deepEqual(identity, { mean: [0, 0], std: [1, 1] });
  });

  it('the scenario summary counts each site’s labels and, for two classes, the positive share', () => {
    const summary = summarizeScenario({
      scenario: SCENARIOS.banks,
      sites: [table([[0], [0], [0], [0]], [1, 0, 0, 0]), table([[0]], [1])],
      siteNames: ['site-1', 'site-2'],
      seed: 7,
    });
    assert.deepEqual(summary.sites, [
      { name: 'site-1', rows: 4, positive_share: 0.25, label_counts: [3, 1] },
      { name: 'site-2', rows: 1, positive_share: 1, label_counts: [0, 1] },
    ]);
    assert.match(summary.split, /seed 7$/);
    assert.equal(
      siteLine({
        site: summary.sites[1]!,
        classNames: SCENARIOS.banks.classNames,
        label: 'graduate school',
      }),
      '  site-2 (graduate school): 1 private rows; defaults: 1',
    );
  });

  it('digits: 10 sites under Dirichlet(0.1) label skew, each holding few of the ten digits', async () => {
    const split = await splitScenario({ scenario: SCENARIOS.digits, sites: 10, seed: 42 });
    assert.equal(split.sites.length, 10);
    assert.equal(split.heldOut.rows, 1200);
    assert.equal(split.publicSplit.rows, 1200);
    assert.equal(
      split.sites.reduce((n, s) => n + s.rows, 0),
      3600,
    );
    for (const site of split.sites) {
      const counts = new Array<number>(10).fill(0);
      for (const label of site.labels) counts[label]!++;
      // Skew: the commonest digit holds at least a third of the site's rows (IID would be ~10%).
      assert.ok(Math.max(...counts) >= site.rows / 3, `site counts ${counts.join(' ')}`);
    }
  });

  it('banks: one branch per education group, and no other number of sites', async () => {
    await assert.rejects(
      splitScenario({ scenario: SCENARIOS.banks, sites: 3, seed: 42 }),
      /5 sites, not 3/,
    );
  });

  it("digits: the outside teacher's images are the mnist package's other 4,000, none of them in the split", async () => {
    const split = await splitScenario({ scenario: SCENARIOS.digits, sites: 10, seed: 42 });
    const outside = split.outside;
    assert.ok(outside, "the digits split carries the outside teacher's data");
    // The package holds 1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944 and 978 images of
    // each digit (10,000); the scenario takes 600 of each, the teacher the rest.
    const perDigit = new Array<number>(10).fill(0);
    for (const label of outside.labels) perDigit[label]!++;
    assert.deepEqual(perDigit, [401, 527, 391, 432, 380, 263, 414, 470, 344, 378]);
    assert.equal(outside.rows, 4_000);
    const image = (t: LabelledTable, r: number): string =>
      createHash('sha256')
        .update(t.inputs.subarray(r * t.features, (r + 1) * t.features))
        .digest('hex');
    const federation = new Set<string>();
    for (const t of [split.heldOut, split.publicSplit, ...split.sites]) {
      for (let r = 0; r < t.rows; r++) federation.add(image(t, r));
    }
    let shared = 0;
    for (let r = 0; r < outside.rows; r++) if (federation.has(image(outside, r))) shared++;
    assert.equal(shared, 0, `${shared} of the teacher's images are in the federation's split`);
    // hospitals and banks have no outside teacher: nothing to carry.
    const hospitals = await splitScenario({ scenario: SCENARIOS.hospitals, sites: 5, seed: 42 });
    assert.equal(hospitals.outside, undefined);
  });

  it('each scenario states its premise in the report summary and the opening lines', async () => {
    const digits = await splitScenario({ scenario: SCENARIOS.digits, sites: 10, seed: 42 });
    const summary = summarizeScenario({
      scenario: SCENARIOS.digits,
      sites: digits.sites,
      siteNames: digits.sites.map((_, i) => `site-${i + 1}`),
      seed: 42,
      outside: digits.outside,
    });
    assert.equal(summary.premise, OUTSIDE_PREMISE);
    const lines = openingLines({
      scenario: SCENARIOS.digits,
      summary,
      split: digits,
      sites: 10,
      rounds: 10,
      seed: 42,
      out: 'runs/x',
    });
    assert.equal(lines[3], `  premise   ${OUTSIDE_PREMISE}`);
    for (const name of ['hospitals', 'banks'] as const) {
      const sites = [table([[0]], [0])];
      const other = summarizeScenario({
        scenario: SCENARIOS[name],
        sites,
        siteNames: ['site-1'],
        seed: 1,
      });
      assert.equal(other.premise, PUBLIC_SPLIT_PREMISE, name);
    }
  });

  it("digits' workspace: the coordinator gets an unlabelled transfer set and imports the teacher's logits", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fedistill-premise-'));
    try {
      const workspace = await prepareWorkspace(dir, {
        scenario: SCENARIOS.digits,
        sites: 10,
        rounds: 1,
        seed: 42,
        cacheDir: path.join(dir, 'cache'),
      });
      const publicCsv = await readFile(path.join(dir, 'coordinator', 'public.csv'), 'utf8');
      const [header, ...body] = publicCsv.trimEnd().split('\n');
      assert.equal(header!.split(',').length, 784);
      assert.ok(!header!.split(',').includes('label'));
      assert.equal(body.length, 1200);
      assert.equal(body[0]!.split(',').length, 784);
      // The held-out split keeps its labels: the coordinator evaluates on it.
      const heldOut = await readFile(path.join(dir, 'coordinator', 'held-out.csv'), 'utf8');
      assert.ok(heldOut.slice(0, heldOut.indexOf('\n')).endsWith(',label'));
      const config = await loadCoordinatorConfig(workspace.coordinatorConfigFile);
      assert.equal(config.data.publicLabels, false);
      const logits = path.join(dir, 'coordinator', 'imports', 'outside-teacher.bin');
      assert.deepEqual(config.run!.teacher, { source: 'logits', file: logits, format: 'binary' });
      assert.equal(workspace.teacherLogitsFile, logits);
      assert.ok(logits.startsWith(config.operatorFiles.dir + path.sep));
      // hospitals keeps a labelled public split and its own teacher model.
      const hospitals = await prepareWorkspace(path.join(dir, 'hospitals'), {
        sites: 5,
        rounds: 1,
        seed: 42,
        cacheDir: path.join(dir, 'cache'),
      });
      const labelled = await loadCoordinatorConfig(hospitals.coordinatorConfigFile);
      assert.equal(labelled.data.publicLabels, true);
      assert.equal(labelled.run!.teacher.source, 'model');
      assert.equal(hospitals.teacherLogitsFile, undefined);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('mail: every part is texts and the token rows of the tokenizer learned from the public texts', async () => {
    await assert.rejects(
      splitScenario({ scenario: SCENARIOS.mail, sites: 3, seed: 42 }),
      /5 sites, not 3/,
    );
    const split = await splitScenario({ scenario: SCENARIOS.mail, sites: 5, seed: 42 });
    const texts = split.texts;
    assert.ok(texts?.outside && split.outside, 'the mail split carries texts and the outside mail');
    // Every part's token rows are its texts, in order, through the run's tokenizer.
    const parts: [LabelledTable, LabelledTexts][] = [
      [split.publicSplit, texts.publicSplit],
      [split.heldOut, texts.heldOut],
      [split.outside, texts.outside],
      ...split.sites.map((rows, i): [LabelledTable, LabelledTexts] => [rows, texts.sites[i]!]),
    ];
    assert.equal(
      parts.reduce((n, [rows]) => n + rows.rows, 0),
      5_897,
    );
    for (const [rows, part] of parts) {
      assert.equal(rows.features, 128);
      assert.equal(rows.rows, part.texts.length);
      assert.deepEqual(rows.labels, part.labels);
      assert.deepEqual(
        rows.inputs.subarray(0, 128),
        await texts.tokenizer.encode([part.texts[0]!], 128),
      );
    }
    // The coordinator learns the same tokenizer from the same texts: the same bytes.
    assert.deepEqual(texts.tokenizer.blob, await trainTokenizer(texts.publicSplit.texts, 4000));
    assert.equal(texts.tokenizer.vocabulary, 4000);
    assert.equal(
      describeSplit({ scenario: SCENARIOS.mail, sites: 5 }),
      'stratified by class: 30% to the outside teacher, 15% held out and 15% public (unlabelled) at the coordinator; 40% across 5 banks: retail 40% (33% spam), online 25% (43% spam), regional 15% (22% spam), business 12% (18% spam), private 8% (5% spam)',
    );
  });

  it("mail's workspace: texts as JSON lines at every party, and the run's tokenizer settings", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fedistill-mail-workspace-'));
    try {
      const workspace = await prepareWorkspace(dir, {
        scenario: SCENARIOS.mail,
        sites: 5,
        rounds: 1,
        seed: 42,
        cacheDir: path.join(dir, 'cache'),
      });
      const config = await loadCoordinatorConfig(workspace.coordinatorConfigFile);
      assert.deepEqual(config.data.text, { column: 'text', length: 128, vocabulary: 4000 });
      assert.equal(config.data.publicLabels, false);
      const publicTexts = unwrap(
        await readTextTable('jsonl', config.data.publicSplit, {
          text: 'text',
          label: null,
          source: 'public',
        }),
      );
      assert.deepEqual(publicTexts.texts, workspace.split.texts!.publicSplit.texts);
      const site = await loadSiteConfig(await writeSiteConfig(workspace, 'site-5', 'http://x'));
      assert.deepEqual(site.data, {
        kind: 'jsonl',
        path: path.join(dir, 'sites', 'site-5', 'private.jsonl'),
        label: 'label',
        text: 'text',
      });
      const mine = unwrap(
        await readTextTable('jsonl', (site.data as { path: string }).path, {
          text: 'text',
          label: 'label',
          source: 'site-5',
        }),
      );
      assert.deepEqual(mine.texts, workspace.split.texts!.sites[4]!.texts);
      assert.deepEqual(mine.labels, workspace.split.texts!.sites[4]!.labels);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('the outside teacher is cached under what determines it: seed, architecture, training and data', () => {
    const data = table(
      [
        [0.1, 0.2],
        [0.3, 0.4],
      ],
      [0, 1],
    );
    const spec = unwrap(studentSpecOf({ studentHidden: [4] }, { inputs: 2, classes: 2 }));
    const origin = { epochs: 10, batchSize: 32, learningRate: 0.002 };
    const key = outsideTeacherCacheKey({ spec, origin, seed: 42, data });
    assert.match(key, /^outside-teacher-[0-9a-f]{32}$/);
    assert.equal(outsideTeacherCacheKey({ spec, origin, seed: 42, data: { ...data } }), key);
    const changed = [
      outsideTeacherCacheKey({ spec, origin, seed: 43, data }),
      outsideTeacherCacheKey({
        spec: unwrap(studentSpecOf({ studentHidden: [5] }, { inputs: 2, classes: 2 })),
        origin,
        seed: 42,
        data,
      }),
      outsideTeacherCacheKey({ spec, origin: { ...origin, epochs: 11 }, seed: 42, data }),
      outsideTeacherCacheKey({ spec, origin: { ...origin, learningRate: 0.001 }, seed: 42, data }),
      outsideTeacherCacheKey({
        spec,
        origin,
        seed: 42,
        data: { ...data, inputs: Float32Array.from([0.1, 0.2, 0.3, 0.5]) },
      }),
      outsideTeacherCacheKey({
        spec,
        origin,
        seed: 42,
        data: { ...data, labels: Int32Array.from([1, 1]) },
      }),
    ];
    assert.equal(new Set([key, ...changed]).size, 7);
  });
});
