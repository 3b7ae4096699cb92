import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PrivacyPlan, SAMPLING } from '../../coordinator/privacy/privacy-plan.js';
import { noiseMultiplierFor } from '../../protocol/privacy/rdp-accountant.js';
import { unwrap } from '../../protocol/index.js';

/** Half of 10 enrolled sites in each round: what a seeded selection among 5 connected gives. */
const spec = (dp: { epsilon: number; noiseMultiplier?: number }, rounds: number) => ({
  rounds,
  minSites: 5,
  participationFraction: 0.5,
  aggregation: { strategy: 'fedavg' as const },
  privacy: { dp: { delta: 1e-5, clipNorm: 1, ...dp } },
});

describe('the privacy plan accounts for how sites are selected', () => {
  it('a seeded selection claims no amplification: 5 of 10 sites a round, z = 1, 100 rounds at delta 1e-5 spend epsilon 96.1, not the 42.9 of q = 0.5', () => {
    const plan = unwrap(PrivacyPlan.create(spec({ epsilon: 1000, noiseMultiplier: 1 }, 100), 10));
    let spent = plan.spend();
    for (let round = 2; round <= 100; round++) spent = plan.spend();
    assert.equal(spent?.sampling_rate, 1);
    assert.ok(Math.abs(spent!.epsilon - 96.1) < 0.05, `epsilon ${spent!.epsilon}`);
    assert.deepEqual(SAMPLING, { method: 'seeded', q: 1 });
  });

  it('the noise multiplier chosen from a budget is the one that fits every planned round at q = 1', () => {
    const plan = unwrap(PrivacyPlan.create(spec({ epsilon: 8 }, 10), 10));
    assert.equal(plan.ledger!.noiseMultiplier, unwrap(noiseMultiplierFor(8, 1e-5, 1, 10)));
  });
});
