import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FedAvg } from '../../coordinator/aggregation/fedavg.js';
import { unwrap, type NamedTensor } from '../../protocol/index.js';

const tensor = (name: string, shape: number[], values: number[]): NamedTensor => ({
  name,
  shape,
  values: Float32Array.from(values),
});

describe('FedAvg', () => {
  const global = [tensor('w', [2, 2], [1, 2, 3, 4]), tensor('b', [2], [0, 0])];

  it('adds the example-weighted mean of the deltas to the global model', () => {
    const fedavg = new FedAvg();
    let acc = fedavg.begin(global);
    // Site A: 1 example; site B: 3 examples. Weighted mean delta = (1*dA + 3*dB) / 4.
    for (const update of [
      {
        site: 'a',
        numExamples: 1,
        delta: [tensor('w', [2, 2], [1, 1, 1, 1]), tensor('b', [2], [4, 0])],
      },
      {
        site: 'b',
        numExamples: 3,
        delta: [tensor('w', [2, 2], [4, -2, 0, 2]), tensor('b', [2], [0, 8])],
      },
    ]) {
      const folded = fedavg.fold(acc, update);
      assert.ok(folded.ok);
      acc = folded.value;
    }
    const next = fedavg.close(acc);
    assert.ok(next);
    // w: [1,2,3,4] + ([1,1,1,1] + 3*[4,-2,0,2]) / 4 = [1,2,3,4] + [13,-5,1,7]/4
    assert.deepEqual([...next[0]!.values], [4.25, 0.75, 3.25, 5.75]);
    // b: [0,0] + ([4,0] + 3*[0,8]) / 4 = [1, 6]
    assert.deepEqual([...next[1]!.values], [1, 6]);
    // The global model it started from is untouched.
    assert.deepEqual([...global[0]!.values], [1, 2, 3, 4]);
  });

  it('returns no model when no update was folded', () => {
    const fedavg = new FedAvg();
    assert.equal(fedavg.close(fedavg.begin(global)), undefined);
  });

  it('refuses an update whose shapes differ, naming expected and found', () => {
    const fedavg = new FedAvg();
    const refused = fedavg.fold(fedavg.begin(global), {
      site: 'a',
      numExamples: 1,
      delta: [tensor('w', [4], [1, 1, 1, 1]), tensor('b', [2], [0, 0])],
    });
    assert.equal(refused.ok, false);
    assert.equal(!refused.ok && refused.error.code, 'update.shape_mismatch');
    assert.match(!refused.ok ? refused.error.message : '', /expected w \[2, 2\], found w \[4\]/);
  });

  it('refuses an update holding Infinity and folds the next ones as if it had never come', () => {
    const fedavg = new FedAvg();
    let acc = fedavg.begin(global);
    const a = {
      site: 'a',
      numExamples: 1,
      delta: [tensor('w', [2, 2], [1, 1, 1, 1]), tensor('b', [2], [4, 0])],
    };
    const bad = {
      site: 'x',
      numExamples: 5,
      delta: [tensor('w', [2, 2], [9, 9, 9, 9]), tensor('b', [2], [1, -Infinity])],
    };
    const b = {
      site: 'b',
      numExamples: 3,
      delta: [tensor('w', [2, 2], [4, -2, 0, 2]), tensor('b', [2], [0, 8])],
    };
    acc = unwrap(fedavg.fold(acc, a));
    const refused = fedavg.fold(acc, bad);
    assert.equal(!refused.ok && refused.error.code, 'update.non_finite');
    acc = unwrap(fedavg.fold(acc, b));
    // As in the first test: the refused site's w (summed before its b was met) left no trace.
    const next = fedavg.close(acc);
    assert.deepEqual([...next![0]!.values], [4.25, 0.75, 3.25, 5.75]);
    assert.deepEqual([...next![1]!.values], [1, 6]);
  });

  it('refuses an update holding NaN', () => {
    const fedavg = new FedAvg();
    const refused = fedavg.fold(fedavg.begin(global), {
      site: 'a',
      numExamples: 1,
      delta: [tensor('w', [2, 2], [1, NaN, 1, 1]), tensor('b', [2], [0, 0])],
    });
    assert.equal(!refused.ok && refused.error.code, 'update.non_finite');
  });
});
