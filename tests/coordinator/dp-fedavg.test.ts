import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DpFedAvg } from '../../coordinator/privacy/dp-fedavg.js';
import { dpConfigSchema } from '../../coordinator/privacy/privacy-config.js';
import { cryptoUniform, unwrap, type NamedTensor } from '../../protocol/index.js';

const tensor = (...values: number[]): NamedTensor[] => [
  { name: 'w', shape: [values.length], values: Float32Array.from(values) },
];
/** A uniform source of 0: Box-Muller's radius is then 0, so the noise is exactly 0. */
const noNoise = () => 0;

describe('DP-FedAvg', () => {
  it('clips each update to C and averages them unweighted: ([0.6, 0.8] + [0.3, 0.4]) / 2', () => {
    const config = dpConfigSchema.parse({ epsilon: 8, clipNorm: 1 });
    const dp = unwrap(DpFedAvg.create(config, 1.1, 2, noNoise));
    let acc = dp.begin(tensor(1, 1));
    // Norm 5 is clipped to 1; norm 0.5 is not. The example counts must not weigh.
    acc = unwrap(dp.fold(acc, { site: 'a', delta: tensor(3, 4), numExamples: 100 }));
    acc = unwrap(dp.fold(acc, { site: 'b', delta: tensor(0.3, 0.4), numExamples: 1 }));
    const next = dp.close(acc)!;
    assert.deepEqual([...next[0]!.values], [Math.fround(1.45), Math.fround(1.6)]);
    assert.equal(dp.close(dp.begin(tensor(1, 1))), undefined, 'no update, no model');
  });

  it('adds N(0, (z C / m)^2) to each coordinate of the mean: z = 2, C = 0.5, m = 4 gives 0.25', () => {
    const config = dpConfigSchema.parse({ epsilon: 8, clipNorm: 0.5 });
    const dp = unwrap(DpFedAvg.create(config, 2, 4, cryptoUniform()));
    const zeros = tensor(...new Array<number>(100_000).fill(0));
    let acc = dp.begin(zeros);
    for (const site of ['a', 'b', 'c', 'd']) {
      acc = unwrap(dp.fold(acc, { site, delta: zeros, numExamples: 1 }));
    }
    const values = dp.close(acc)![0]!.values;
    const mean = values.reduce((s, v) => s + v, 0) / values.length;
    const sd = Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / values.length);
    // Standard errors for 100k draws: 0.25/316 for the mean, about 0.25/447 for the stddev.
    assert.ok(Math.abs(mean) < 0.004, `mean ${mean}`);
    assert.ok(Math.abs(sd - 0.25) < 0.004, `stddev ${sd}`);
  });

  it('moves C after a round with adaptive clipping: one of two unclipped at target 0.25 gives exp(-0.05)', () => {
    const config = dpConfigSchema.parse({
      epsilon: 8,
      clipNorm: 1,
      adaptiveClipping: { targetQuantile: 0.25, learningRate: 0.2 },
    });
    // 40 expected sites: the count's stddev is 2, so z = 1 leaves z_D = (1 - 1/16)^-1/2.
    const dp = unwrap(DpFedAvg.create(config, 1, 40, noNoise));
    let acc = dp.begin(tensor(0, 0));
    acc = unwrap(dp.fold(acc, { site: 'a', delta: tensor(3, 4), numExamples: 1 }));
    acc = unwrap(dp.fold(acc, { site: 'b', delta: tensor(0.3, 0.4), numExamples: 1 }));
    dp.close(acc);
    assert.equal(dp.lastClipNorm, 1);
    const [clip] = dp.exportState()[0]!.values;
    assert.ok(Math.abs(clip! - 0.951229424500714) < 1e-7, `clip norm ${clip}`);
    // Too few sites for the count noise to leave room for the update noise: refused.
    const refused = DpFedAvg.create(config, 1, 3);
    assert.equal(refused.ok, false);
  });
});
