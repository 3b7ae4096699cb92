import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { epsilonOf, PrivacyLedger } from '../../client/privacy-ledger.js';
import { runSite } from '../../client/site-client.js';
import type { SiteConfig } from '../../client/site-config.js';
import type { CoordinatorConfig } from '../../coordinator/config/coordinator-config.js';
import { runSpecSchema } from '../../coordinator/runs/run-spec.js';
import { FedistillError, unwrap } from '../../protocol/index.js';
import { startRunFixture } from '../support/run-fixture.js';

/**
 * Distributed DP at z = 1 over 3 sites: each site is asked for stddev z C / sqrt(3), a noise
 * multiplier of its own of 0.577.
 */
const distributedDp = (config: CoordinatorConfig): CoordinatorConfig => ({
  ...config,
  run: runSpecSchema.parse({
    ...config.run!,
    minSites: 3,
    privacy: {
      dp: { epsilon: 50, noiseMultiplier: 1, clipNorm: 1 },
      secureAggregation: { enabled: true },
    },
  }),
});

const withFloor =
  (minNoiseMultiplier: number) =>
  (config: SiteConfig): SiteConfig => ({
    ...config,
    privacy: { minNoiseMultiplier, maxEpsilon: 50, delta: 1e-5 },
  });

describe('sites that guard their own privacy, against a real coordinator', () => {
  it('refuses the round when the run asks each site for less noise than its floor', async () => {
    const fixture = await startRunFixture({ sites: 3, rounds: 1, adjust: distributedDp });
    try {
      const configs = await Promise.all(fixture.workspace.siteNames.map(fixture.siteConfig));
      const outcomes = await Promise.allSettled(configs.map((c) => runSite(withFloor(1)(c))));
      for (const outcome of outcomes) {
        assert.equal(outcome.status, 'rejected');
        const error = (outcome as PromiseRejectedResult).reason as unknown;
        assert.ok(error instanceof FedistillError);
        assert.equal(error.code, 'site.noise_below_floor');
        assert.match(error.message, /a noise multiplier of 0\.57\d+; this site's floor is 1/);
      }
      for (const config of configs)
        assert.equal(unwrap(await PrivacyLedger.open(config.cacheDir)).entries.length, 0);
    } finally {
      await fixture.dispose();
    }
  });

  it('takes part above its floor, and counts the attempt at its own noise multiplier', async () => {
    const fixture = await startRunFixture({ sites: 3, rounds: 1, adjust: distributedDp });
    try {
      const { report } = await fixture.runAllSites(withFloor(0.5));
      assert.equal(report.per_round.length, 1);
      for (const site of fixture.workspace.siteNames) {
        const { cacheDir } = await fixture.siteConfig(site);
        const { entries } = unwrap(await PrivacyLedger.open(cacheDir));
        assert.equal(entries.length, 1);
        assert.ok(Math.abs(entries[0]!.noiseMultiplier - 1 / Math.sqrt(3)) < 1e-12);
        // z = 1/sqrt(3) at q = 1: RDP 3 alpha / 2; epsilon 9.00996 at alpha 3.6, delta 1e-5.
        assert.ok(Math.abs(epsilonOf(entries, 1e-5) - 9.009958992) < 1e-8);
      }
    } finally {
      await fixture.dispose();
    }
  });
});
