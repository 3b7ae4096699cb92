import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  aggregationConfigSchema,
  createStrategy,
} from '../../coordinator/aggregation/strategy-config.js';
import type { AggregationStrategy, SiteUpdate } from '../../coordinator/aggregation/strategy.js';
import { median, weighUpdate } from '../../coordinator/aggregation/update-bounds.js';
import { unwrap } from '../../protocol/index.js';
import { BOUNDED_ROUND as ROUND, siteUpdate as update } from '../support/bounded-round.js';

function closeRound(
  strategy: AggregationStrategy<unknown>,
  global: number[],
  updates: readonly SiteUpdate[],
): { model: number[]; bounded: string[] } {
  let acc = strategy.begin([
    { name: 'w', shape: [global.length], values: Float32Array.from(global) },
  ]);
  for (const u of updates) acc = unwrap(strategy.fold(acc, u));
  const model = [...strategy.close(acc)![0]!.values];
  const bounded = (strategy.bounded?.(acc) ?? []).map(
    (b) => `${b.site} norm ${b.norm} to ${b.maxNorm}, ${b.numExamples} examples to ${b.weight}`,
  );
  return { model, bounded };
}

describe('bounds on what one site weighs, against hand-computed values', () => {
  it('the median of an even count is the mean of the middle two: median(5, 50, 5, 5) = 5, median(1, 3, 2, 10) = 2.5', () => {
    assert.equal(median([5, 50, 5, 5]), 5);
    assert.equal(median([1, 3, 2, 10]), 2.5);
  });

  it('an update of norm 10 claiming 1e9 examples, against medians 1 and 100 at ratio 2: scale 0.2, weight 200', () => {
    assert.deepEqual(
      weighUpdate(
        10,
        1e9,
        { medianNorm: 1, medianExamples: 100 },
        { kind: 'median-ratio', ratio: 2 },
      ),
      { weight: 200, deltaScale: 0.2, maxNorm: 2, maxWeight: 200, bounded: true },
    );
  });

  it('an update within both bounds is weighed as it came and is not an outlier', () => {
    assert.deepEqual(
      weighUpdate(
        1.5,
        80,
        { medianNorm: 1, medianExamples: 100 },
        { kind: 'median-ratio', ratio: 2 },
      ),
      { weight: 80, deltaScale: 1, maxNorm: 2, maxWeight: 200, bounded: false },
    );
  });

  it('default FedAvg bounds the first round by its own medians, and later rounds by the last one: [4, 5] each round', () => {
    const fedavg = createStrategy(aggregationConfigSchema.parse(undefined));
    const first = closeRound(fedavg, [0, 0], ROUND);
    assert.deepEqual(first.model, [4, 5]);
    assert.deepEqual(first.bounded, ['x norm 50 to 10, 1000000000 examples to 20']);
    // Round 2 folds as updates arrive, against round 1's medians (5 and 10): the same sum.
    const second = closeRound(fedavg, first.model, ROUND);
    assert.deepEqual(second.model, [8, 10]);
    assert.deepEqual(second.bounded, ['x norm 50 to 10, 1000000000 examples to 20']);
  });

  it('the server optimizers fold under the same bounds: FedAvgM without momentum steps [4, 5] too', () => {
    const fedavgm = createStrategy(aggregationConfigSchema.parse({ strategy: 'fedavgm' }));
    assert.deepEqual(closeRound(fedavgm, [0, 0], ROUND).model, [4, 5]);
  });

  it('a sign-flipped delta 10 times an honest one is cut to 2 medians: (10 [3, 4] + 10 [0, 5] + 10 [5, 0] + 10 [-6, -8]) / 40 = [0.5, 0.25]', () => {
    const fedavg = createStrategy(aggregationConfigSchema.parse(undefined));
    const flipped = [...ROUND.slice(0, 3), update('x', [-30, -40], 10)];
    assert.deepEqual(closeRound(fedavg, [0, 0], flipped).model, [0.5, 0.25]);
  });

  it('norm-bounded keeps its fixed bound and bounds the weight by the median count: maxNorm 1 gives (10 [0.6, 0.8] x 3 directions + 20 [0.6, 0.8]) / 50', () => {
    const bounded = createStrategy(
      aggregationConfigSchema.parse({ strategy: 'norm-bounded', maxNorm: 1 }),
    );
    // Each honest delta scaled to norm 1: [0.6, 0.8], [0, 1], [1, 0]; x to [0.6, 0.8] at weight 20.
    // (10 [0.6, 0.8] + 10 [0, 1] + 10 [1, 0] + 20 [0.6, 0.8]) / 50 = [28, 34] / 50 = [0.56, 0.68].
    const { model } = closeRound(bounded, [0, 0], ROUND);
    model.forEach((v, i) => assert.ok(Math.abs(v - [0.56, 0.68][i]!) < 1e-6, `${model}`));
  });

  it('a first-round update holding NaN is refused as it arrives, though its sum waits for the close', () => {
    const fedavg = createStrategy(aggregationConfigSchema.parse(undefined));
    const acc = fedavg.begin([{ name: 'w', shape: [2], values: new Float32Array(2) }]);
    const refused = fedavg.fold(acc, update('x', [NaN, 1], 10));
    assert.equal(!refused.ok && refused.error.code, 'update.non_finite');
  });
});
