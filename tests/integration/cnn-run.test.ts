import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SCENARIOS, type Scenario } from '../../cli/demo/scenarios.js';
import type { RunReport } from '../../coordinator/runs/run-report.js';
import { startRunFixture, type RunFixture } from '../support/run-fixture.js';

/**
 * The digits scenario's federation, shortened: a CNN student named by the run spec reaches
 * the sites in the welcome and is trained there on raw pixels (data.normalize none), with a CNN
 * teacher. The teacher is smaller and trained briefly so the test stays short, and the
 * coordinator trains it on a labelled public split (the demo's digits teacher comes from outside).
 */
const SHORT_DIGITS: Scenario = {
  ...SCENARIOS.digits,
  teacher: { kind: 'public-split' },
  run: {
    ...SCENARIOS.digits.run,
    teacher: {
      source: 'model',
      cnn: { image: [28, 28, 1], conv: [{ filters: 4, kernel: 3 }], dense: [16] },
      epochs: 3,
      learningRate: 0.005,
    },
  },
};

describe('a CNN student on the digits scenario, through the real coordinator and sites', () => {
  let fixture: RunFixture;
  let report: RunReport;

  before(async () => {
    fixture = await startRunFixture({ scenario: SHORT_DIGITS, sites: 3, rounds: 2, seed: 42 });
    ({ report } = await fixture.runAllSites());
  });

  after(async () => {
    await fixture.dispose();
  });

  it('trains the 28,874-weight CNN of the run spec at every site, every round', () => {
    assert.equal(report.dataset, 'mnist');
    assert.equal(report.student_params, 28_874);
    // The teacher: conv 3x3x1x4 + 4 = 40; one pooling leaves 14x14x4 = 784 values; dense
    // 784x16 + 16 = 12,560; logits 16x10 + 10 = 170.
    assert.equal(report.teacher_params, 40 + 12_560 + 170);
    assert.deepEqual(
      report.per_round.map((r) => r.participants),
      [3, 3],
    );
  });

  it('learns from raw pixels: well above the 10% of chance after two rounds', (t) => {
    const accuracy = report.per_round[1]!.student_accuracy;
    t.diagnostic(`held-out accuracy after round 2: ${accuracy}`);
    assert.ok(accuracy > 0.4, `accuracy ${accuracy}`);
  });
});
