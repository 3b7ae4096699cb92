import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withCoordinatorStore } from '../../cli/coordinator-store.js';
import type { CoordinatorConfig } from '../../coordinator/config/coordinator-config.js';
import type { DpConfigInput } from '../../coordinator/privacy/privacy-config.js';
import {
  computeRdp,
  DEFAULT_ORDERS,
  epsilonFromRdp,
  noiseMultiplierFor,
} from '../../protocol/privacy/rdp-accountant.js';
import { runSpecSchema } from '../../coordinator/runs/run-spec.js';
import { unwrap } from '../../protocol/index.js';
import { startRunFixture } from '../support/run-fixture.js';

/** The fixture's run with differential privacy. */
const withDp =
  (dp: DpConfigInput) =>
  (config: CoordinatorConfig): CoordinatorConfig => ({
    ...config,
    run: runSpecSchema.parse({ ...config.run!, privacy: { dp } }),
  });

/** Epsilon after `steps` rounds at sampling rate 1, by the accountant's published method. */
const epsilonAfter = (sigma: number, steps: number): number =>
  epsilonFromRdp(computeRdp(1, sigma, steps, DEFAULT_ORDERS), DEFAULT_ORDERS, 1e-5).epsilon;

describe('differential privacy in a real run', () => {
  it('spends the budget round by round, never past it, and says so in the report and the log', async () => {
    const rounds = 4;
    const fixture = await startRunFixture({
      sites: 3,
      rounds,
      adjust: withDp({ epsilon: 8, clipNorm: 0.5 }),
    });
    try {
      const { report } = await fixture.runAllSites();
      const privacy = report.privacy!;
      // Every site takes part in every round: q = 1, and z is the smallest that fits 4 rounds.
      const z = unwrap(noiseMultiplierFor(8, 1e-5, 1, rounds));
      assert.equal(privacy.noise_multiplier, z);
      assert.deepEqual(
        {
          delta: privacy.delta,
          budget: privacy.epsilon_budget,
          clip: privacy.clip_norm,
          rounds: privacy.rounds_completed,
          stopped: privacy.stopped_by_budget,
          secure: privacy.secure_aggregation,
        },
        { delta: 1e-5, budget: 8, clip: 0.5, rounds, stopped: false, secure: false },
      );
      const spent = report.per_round.map((r) => r.epsilon!);
      for (const [i, epsilon] of spent.entries()) {
        assert.ok(Math.abs(epsilon - epsilonAfter(z, i + 1)) < 1e-9, `round ${i + 1}`);
      }
      assert.ok(spent.every((e, i) => i === 0 || e > spent[i - 1]!));
      assert.ok(privacy.epsilon <= 8 && privacy.epsilon > 7.5, `epsilon ${privacy.epsilon}`);
      assert.equal(privacy.epsilon, spent[rounds - 1]);

      const log = await withCoordinatorStore(fixture.workspace.coordinatorConfigFile, (store) =>
        store.audit.entries(),
      );
      const events = log.filter((e) => e.event.event === 'privacy.spent').map((e) => e.event);
      assert.deepEqual(
        events.map((e) => [e.round, e.epsilon]),
        spent.map((e, i) => [i + 1, e]),
      );
    } finally {
      await fixture.dispose();
    }
  });

  it('stops cleanly before a round that would exceed the budget', async () => {
    // z = 2 at q = 1: epsilon after 2 rounds is below 3.2 and after 3 above it.
    const [two, three] = [epsilonAfter(2, 2), epsilonAfter(2, 3)];
    const budget = (two + three) / 2;
    assert.ok(two < budget && three > budget);
    const fixture = await startRunFixture({
      sites: 3,
      rounds: 5,
      adjust: withDp({ epsilon: budget, noiseMultiplier: 2, clipNorm: 1 }),
    });
    try {
      const { report, sites } = await fixture.runAllSites();
      assert.equal(report.per_round.length, 2);
      assert.equal(report.privacy!.stopped_by_budget, true);
      assert.ok(Math.abs(report.privacy!.epsilon - two) < 1e-9);
      assert.ok(
        sites.every((site) => site.roundsTrained === 2),
        'every site was told the run ended',
      );
      const log = await withCoordinatorStore(fixture.workspace.coordinatorConfigFile, (store) =>
        store.audit.entries(),
      );
      const reached = log.find((e) => e.event.event === 'privacy.budget_reached');
      assert.equal(reached?.event.round, 3);
    } finally {
      await fixture.dispose();
    }
  });

  it('refuses differential privacy with an aggregation other than the plain mean', () => {
    const parsed = runSpecSchema.safeParse({
      aggregation: { strategy: 'median' },
      privacy: { dp: { epsilon: 8 } },
    });
    assert.equal(parsed.success, false);
    const issue = parsed.error!.issues[0]!;
    assert.deepEqual(issue.path, ['privacy', 'dp']);
    assert.match(issue.message, /median cannot be combined/);
  });
});
