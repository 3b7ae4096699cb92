import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createStrategy,
  type AggregationConfig,
} from '../../coordinator/aggregation/strategy-config.js';
import { aggregationConfigSchema } from '../../coordinator/aggregation/strategy-config.js';
import type { SiteUpdate } from '../../coordinator/aggregation/strategy.js';
import { runSpecSchema } from '../../coordinator/runs/run-spec.js';
import type { NamedTensor } from '../../protocol/index.js';

const t = (values: number[]): NamedTensor[] => [
  { name: 'w', shape: [values.length], values: Float32Array.from(values) },
];
const update = (site: string, delta: number[], numExamples = 1): SiteUpdate => ({
  site,
  delta: t(delta),
  numExamples,
});

/** Runs `rounds` rounds of the same updates from `global`, returning each round's model. */
function rounds(
  config: Partial<AggregationConfig> & { strategy: AggregationConfig['strategy'] },
  global: number[],
  updates: SiteUpdate[],
  count = 1,
): number[][] {
  const strategy = createStrategy(aggregationConfigSchema.parse(config));
  const models: number[][] = [];
  let current = t(global);
  for (let r = 0; r < count; r++) {
    let acc = strategy.begin(current);
    for (const u of updates) {
      const folded = strategy.fold(acc, u);
      assert.ok(folded.ok);
      acc = folded.value;
    }
    current = strategy.close(acc)!;
    models.push([...current[0]!.values]);
  }
  return models;
}

const close = (got: number[], want: number[], tolerance = 1e-5): void =>
  got.forEach((g, i) => assert.ok(Math.abs(g - want[i]!) <= tolerance, `${got} vs ${want}`));

// Two sites: [1, 0] with 1 example, [3, 4] with 3. Weighted mean delta: ([1, 0] + 3 [3, 4]) / 4 = [2.5, 3].
const TWO = [update('a', [1, 0], 1), update('b', [3, 4], 3)];

describe('aggregation strategies, against hand-computed values', () => {
  it('FedAvg: w + weighted mean delta = [1, 2] + [2.5, 3]', () => {
    close(rounds({ strategy: 'fedavg' }, [1, 2], TWO)[0]!, [3.5, 5]);
  });

  it('FedAvgM (lr 1, momentum 0.9): m = [2.5, 3], then 0.9 m + delta = [4.75, 5.7]', () => {
    const [first, second] = rounds(
      { strategy: 'fedavgm', serverLearningRate: 1, momentum: 0.9 },
      [1, 2],
      TWO,
      2,
    );
    close(first!, [3.5, 5]);
    close(second!, [3.5 + 4.75, 5 + 5.7]);
  });

  it("FedAvgM given no options takes Flower's defaults (server_learning_rate 1.0, server_momentum 0.0), so it steps like FedAvg", () => {
    // Flower's FedAvgM (flwr/server/strategy/fedavgm.py): server_learning_rate=1.0, server_momentum=0.0.
    assert.deepEqual(aggregationConfigSchema.parse({ strategy: 'fedavgm' }), {
      strategy: 'fedavgm',
      serverLearningRate: 1,
      momentum: 0,
      maxNormRatio: 2,
    });
    // With no momentum, m is each round's delta: [1, 2] + [2.5, 3] = [3.5, 5], then [6, 8].
    const [first, second] = rounds({ strategy: 'fedavgm' }, [1, 2], TWO, 2);
    close(first!, [3.5, 5]);
    close(second!, [6, 8]);
  });

  it('FedAdam (eta 0.1, betas 0.9/0.99, tau 1e-9): steps of 0.1, then 0.0475 / sqrt(0.124375) = 0.1346874', () => {
    // Round 1: m = 0.1 delta, v = 0.01 delta^2, so m / sqrt(v) = 1 and the step is eta = 0.1.
    // Round 2: m = 0.9 m + 0.1 delta = [0.475, 0.57]; v = 0.99 v + 0.01 delta^2 = [0.124375, 0.1791].
    const [first, second] = rounds(
      { strategy: 'fedadam', eta: 0.1, beta1: 0.9, beta2: 0.99, tau: 1e-9 },
      [1, 2],
      TWO,
      2,
    );
    close(first!, [1.1, 2.1]);
    close(second!, [1.1 + 0.1346874, 2.1 + 0.1346874]);
  });

  it('FedYogi (eta 0.01, tau 1e-3): v grows by 0.01 delta^2 when v < delta^2, so round 2 has v = 0.125 on the first weight', () => {
    // Round 1: step 0.01 * 0.25 / (0.25 + 0.001) = 0.0099602; round 2: 0.01 * 0.475 / (sqrt(0.125) + 0.001) = 0.0133971.
    const [first, second] = rounds(
      { strategy: 'fedyogi', eta: 0.01, beta1: 0.9, beta2: 0.99, tau: 1e-3 },
      [1, 2],
      TWO,
      2,
    );
    close(first!, [1.0099602, 2.0099668]);
    close(second!, [1.0233573, 2.0233702]);
  });

  it('norm-bounded (max 1): [3, 4] is scaled to [0.6, 0.8] before the mean', () => {
    close(
      rounds(
        { strategy: 'norm-bounded', maxNorm: 1 },
        [0, 0],
        [update('a', [3, 4]), update('b', [0.3, 0])],
      )[0]!,
      [0.45, 0.4],
    );
  });

  it('norm-bounded refuses an update holding Infinity (its norm is infinite)', () => {
    const strategy = createStrategy(
      aggregationConfigSchema.parse({ strategy: 'norm-bounded', maxNorm: 1 }),
    );
    const refused = strategy.fold(strategy.begin(t([0, 0])), update('a', [Infinity, 0]));
    assert.equal(!refused.ok && refused.error.code, 'update.non_finite');
  });

  it('median of an even count is the mean of the middle two', () => {
    close(
      rounds(
        { strategy: 'median' },
        [0],
        [1, 10, 2, 3].map((d, i) => update(`s${i}`, [d])),
      )[0]!,
      [2.5],
    );
  });
});

describe('a poisoned update among honest ones', () => {
  // Four honest sites near 1, one sending 100.
  const poisoned = [1, 1.2, 0.9, 1.1, 100].map((d, i) => update(`s${i}`, [d]));

  it('moves FedAvg without its norm bound (ratio 1000) to (1 + 1.2 + 0.9 + 1.1 + 100) / 5 = 20.84', () => {
    close(rounds({ strategy: 'fedavg', maxNormRatio: 1000 }, [0], poisoned)[0]!, [20.84], 1e-4);
  });

  it('moves default FedAvg, 100 bounded to 2 x the median norm 1.1, to (1 + 1.2 + 0.9 + 1.1 + 2.2) / 5 = 1.28', () => {
    close(rounds({ strategy: 'fedavg' }, [0], poisoned)[0]!, [1.28], 1e-5);
  });

  it('leaves the median at 1.1 and the 20% trimmed mean at mean(1, 1.1, 1.2) = 1.1', () => {
    close(rounds({ strategy: 'median' }, [0], poisoned)[0]!, [1.1]);
    close(rounds({ strategy: 'trimmed-mean', beta: 0.2 }, [0], poisoned)[0]!, [1.1]);
  });

  it('refuses a trimmed mean that trims nothing at minSites updates: floor(beta n) must be 1', () => {
    const spec = (beta: number, minSites: number) =>
      runSpecSchema.safeParse({ minSites, aggregation: { strategy: 'trimmed-mean', beta } });
    const refused = spec(0.2, 4);
    assert.equal(refused.success, false);
    assert.match(refused.error!.issues[0]!.message, /trims nothing from 4 updates/);
    assert.deepEqual(refused.error!.issues[0]!.path, ['aggregation', 'beta']);
    assert.equal(spec(0.25, 4).success, true);
    assert.equal(spec(0.2, 5).success, true);
  });

  it('order statistics say they hold every update; the mean family does not', () => {
    const holds = (strategy: AggregationConfig['strategy'], extra = {}) =>
      createStrategy(aggregationConfigSchema.parse({ strategy, ...extra })).holdsAllUpdates;
    assert.equal(holds('median'), true);
    assert.equal(holds('trimmed-mean'), true);
    assert.equal(holds('fedavg'), false);
    assert.equal(holds('fedadam'), false);
    assert.equal(holds('norm-bounded', { maxNorm: 1 }), false);
  });
});
