import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { distillationGain } from '../../cli/demo/distillation-gain.js';

/** The three federated baselines of a report, with only the accuracies that matter here. */
function baselines(noTeacher: number, publicLabels: number | null, bestSite: number) {
  return {
    fedavg_no_teacher: { accuracy: noTeacher, per_round: [] },
    fedavg_public_labels: publicLabels === null ? null : { accuracy: publicLabels, per_round: [] },
    local_only: { mean: 0.5, best: bestSite, best_site: 'site-1', per_site: [] },
  };
}

describe('the distillation gain of the demo report', () => {
  it('is measured against the strongest federated baseline without a teacher', () => {
    // digits, seed 42: the student 0.9283, FedAvg 0.7642, FedAvg with the public labels 0.9517.
    const gain = distillationGain(0.9283, baselines(0.7642, 0.9517, 0.578));
    assert.equal(gain.against, 'fedavg_public_labels');
    assert.equal(gain.baseline_accuracy, 0.9517);
    assert.ok(Math.abs(gain.points - -2.34) < 1e-9, String(gain.points));
  });

  it('takes the best site alone when it beats both FedAvg runs, and the plainer baseline on a tie', () => {
    assert.equal(distillationGain(0.9, baselines(0.8, 0.81, 0.85)).against, 'local_only_best');
    const tie = distillationGain(0.9737, baselines(0.9825, 0.9825, 0.9649));
    assert.equal(tie.against, 'fedavg_no_teacher');
    assert.ok(Math.abs(tie.points - -0.88) < 1e-9, String(tie.points));
  });

  it('skips the public-labels baseline where the public split is unlabelled (null)', () => {
    // FedAvg 0.7642 against the best site 0.578: FedAvg is the strongest left; 0.9650 - 0.7642.
    const gain = distillationGain(0.965, baselines(0.7642, null, 0.578));
    assert.equal(gain.against, 'fedavg_no_teacher');
    assert.equal(gain.baseline_accuracy, 0.7642);
    assert.ok(Math.abs(gain.points - 20.08) < 1e-9, String(gain.points));
    // And the best site alone when it is the stronger of the two left.
    const site = distillationGain(0.6, baselines(0.55, null, 0.62));
    assert.equal(site.against, 'local_only_best');
    assert.ok(Math.abs(site.points - -2) < 1e-9, String(site.points));
  });
});
