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
  aggregation: { strategy: 'fedavg' as const, maxNormRatio: 2 },
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

describe('distributed DP with secure aggregation: discrete Gaussian noise on the grid', () => {
  const secure = {
    ...spec({ epsilon: 8, noiseMultiplier: 1 }, 10),
    privacy: {
      dp: { delta: 1e-5, clipNorm: 1, epsilon: 8, noiseMultiplier: 1 },
      secureAggregation: { enabled: true, clip: 1, corruptFraction: 0.05, dropoutFraction: 0.1 },
    },
  };
  const levels = Math.floor((2 ** 32 - 1) / 10);

  it('sizes sigma² in grid steps for Delta = C/step + sqrt(d) at z = 1 and 5 sites', () => {
    const plan = unwrap(PrivacyPlan.create(secure, 10));
    const noise = plan.distributedNoise({ participants: 10, levels, dimension: 100_000 })!;
    // c = 1 + 8 / sqrt(5) = 4.5777088; step = 2c / 429,496,729 = 2.1316e-8.
    assert.ok(Math.abs(noise.clip - 4.577708763999664) < 1e-12);
    const step = (2 * noise.clip) / levels;
    const delta = 1 / step + Math.sqrt(100_000); // 46,911,945 + 316
    const sigma2 = delta ** 2 / 5; // z = 1, tau = 0 at this sigma
    assert.ok(Math.abs(noise.sigma2 / sigma2 - 1) < 1e-9, `${noise.sigma2} vs ${sigma2}`);
    // In value units each site's sigma is z C / sqrt(5) = 0.4472, widened by the rounding.
    const sigma = Math.sqrt(noise.sigma2) * step;
    assert.ok(sigma > 1 / Math.sqrt(5) && sigma < (1 / Math.sqrt(5)) * (1 + 1e-5), `${sigma}`);
  });

  it("records the discrete mechanism's RDP, never above the Gaussian's the budget planned", () => {
    const discrete = unwrap(PrivacyPlan.create(secure, 10));
    const gaussian = unwrap(PrivacyPlan.create(spec({ epsilon: 8, noiseMultiplier: 1 }, 10), 10));
    let spent;
    let planned;
    for (let round = 0; round < 10; round++) {
      discrete.distributedNoise({ participants: 10, levels, dimension: 1000 });
      spent = discrete.spend()!;
      planned = gaussian.spend()!;
    }
    // Equal up to the 2^-40 margin: KLS's epsilon is 1/z, tau being 0 at 1e7 steps.
    assert.ok(spent!.epsilon <= planned!.epsilon, `${spent!.epsilon} > ${planned!.epsilon}`);
    assert.ok(planned!.epsilon - spent!.epsilon < 1e-9);
  });

  it('no noise without secure aggregation', () => {
    const plan = unwrap(PrivacyPlan.create(spec({ epsilon: 8 }, 10), 10));
    assert.equal(plan.distributedNoise({ participants: 10, levels, dimension: 10 }), undefined);
  });
});
