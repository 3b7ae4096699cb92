import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normalizerFor } from '../../coordinator/config/coordinator-config.js';
import { studentSpecOf } from '../../coordinator/runs/run-spec.js';
import { parameterCount, type LabelledTable } from '../../protocol/index.js';
import { DIGITS_STUDENT, DIGITS_TEACHER, SCENARIOS } from '../../cli/demo/scenarios.js';
import { summarizeScenario } from '../../cli/demo/report-assembly.js';
import { splitScenario } from '../../cli/demo/scenario-split.js';
import { siteLine } from '../../cli/demo/terminal-lines.js';

const table = (rows: number[][], labels: number[]): LabelledTable => ({
  featureNames: rows[0]!.map((_, i) => `f${i}`),
  rows: rows.length,
  features: rows[0]!.length,
  inputs: Float32Array.from(rows.flat()),
  labels: Int32Array.from(labels),
});

describe("the demo's scenarios", () => {
  it('the student spec: an MLP from studentHidden, or the CNN whose image holds the row', () => {
    const mlp = studentSpecOf({ studentHidden: [8] }, 30, 2);
    assert.deepEqual(mlp, {
      ok: true,
      value: { kind: 'mlp', inputs: 30, hidden: [8], classes: 2 },
    });
    const cnn = studentSpecOf({ studentHidden: [8], studentCnn: DIGITS_STUDENT }, 784, 10);
    assert.ok(cnn.ok);
    // conv 5x5x1x8 + 8, conv 5x5x8x16 + 16, two poolings leave 7x7x16 = 784, dense 784x32 + 32,
    // logits 32x10 + 10: 208 + 3,216 + 25,120 + 330.
    assert.equal(parameterCount(cnn.value), 28_874);
    const teacher = studentSpecOf({ studentHidden: [], studentCnn: DIGITS_TEACHER }, 784, 10);
    assert.ok(teacher.ok);
    // 416 + 12,832 + 7x7x32 x 128 + 128 + 128 x 10 + 10 = 416 + 12,832 + 200,832 + 1,290.
    assert.equal(parameterCount(teacher.value), 215_370);
    const wrong = studentSpecOf({ studentHidden: [8], studentCnn: DIGITS_STUDENT }, 30, 2);
    assert.ok(!wrong.ok);
    assert.deepEqual(wrong.error.path, ['studentCnn', 'image']);
    assert.match(wrong.error.message, /28 x 28 x 1 holds 784 values, the rows have 30/);
    const deep = studentSpecOf(
      { studentHidden: [8], studentCnn: { ...DIGITS_STUDENT, image: [2, 2, 1] } },
      4,
      2,
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
});
