import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildUpdate, ErrorFeedback, type UpdateMasker } from '../../client/update-builder.js';
import {
  decodeTensorBlob,
  fail,
  ok,
  unwrap,
  type NamedTensor,
  type Result,
} from '../../protocol/index.js';

const tensor = (name: string, values: number[]): NamedTensor => ({
  name,
  shape: [values.length],
  values: Float32Array.from(values),
});

const valuesOf = (bytes: Result<Uint8Array>): number[] =>
  unwrap(decodeTensorBlob(unwrap(bytes))).flatMap((t) => [...t.values]);

/** A stand-in for a secure round's masking: it keeps what it was asked to mask. */
class RecordingMasker implements UpdateMasker {
  seen: NamedTensor[] | undefined;
  masked(delta: readonly NamedTensor[]): Promise<Result<Uint8Array>> {
    this.seen = [...delta];
    return Promise.resolve(ok(Uint8Array.of(7, 7, 7)));
  }
}

describe('buildUpdate, the one update builder of plain and secure rounds', () => {
  // Global [1, 1] and [1]; trained [4, 5] and [13]: the delta is [3, 4] and [12], norm 13.
  const global = [tensor('a', [1, 1]), tensor('b', [1])];
  const trained = [tensor('a', [4, 5]), tensor('b', [13])];

  it('a plain float32 round sends the delta clipped to the round bound', async () => {
    const update = await buildUpdate({
      trained,
      global,
      clipNorm: 6.5,
      encoding: 'float32',
      topkFraction: 1,
      feedback: new ErrorFeedback(),
    });
    assert.deepEqual(valuesOf(update), [1.5, 2, 6]);
  });

  it('a round without a bound sends the whole delta', async () => {
    const update = await buildUpdate({
      trained,
      global,
      encoding: 'float32',
      topkFraction: 1,
      feedback: new ErrorFeedback(),
    });
    assert.deepEqual(valuesOf(update), [3, 4, 12]);
  });

  it('a lossy encoding carries what it dropped into the next round, after clipping', async () => {
    const feedback = new ErrorFeedback();
    const round = (t: NamedTensor[]) =>
      buildUpdate({
        trained: t,
        global,
        clipNorm: 6.5,
        encoding: 'topk',
        topkFraction: 1 / 3,
        feedback,
      });
    // Round 1: clipped [1.5, 2] and [6]; top-1 of each tensor sends the 2 and the 6, and
    // keeps the 1.5 back.
    assert.deepEqual(valuesOf(await round(trained)), [0, 2, 6]);
    assert.deepEqual(
      feedback.carried!.flatMap((t) => [...t.values]),
      [1.5, 0, 0],
    );
    // Round 2: delta [0, 1] and [0] (under the bound) plus the residual is [1.5, 1] and [0]:
    // the 1.5 an earlier round dropped goes out now, and the 1 waits.
    const second = [tensor('a', [1, 2]), tensor('b', [1])];
    assert.deepEqual(valuesOf(await round(second)), [1.5, 0, 0]);
    assert.deepEqual(
      feedback.carried!.flatMap((t) => [...t.values]),
      [0, 1, 0],
    );
  });

  it('a secure round masks the clipped delta, whatever the encoding, and keeps no residual', async () => {
    const masker = new RecordingMasker();
    const feedback = new ErrorFeedback();
    const update = await buildUpdate({
      trained,
      global,
      clipNorm: 6.5,
      encoding: 'topk',
      topkFraction: 1 / 3,
      feedback,
      secure: masker,
    });
    assert.deepEqual([...unwrap(update)], [7, 7, 7]);
    assert.deepEqual(
      masker.seen!.flatMap((t) => [...t.values]),
      [1.5, 2, 6],
    );
    assert.equal(feedback.carried, undefined);
  });

  it('a failed masking comes back with its code', async () => {
    const update = await buildUpdate({
      trained,
      global,
      encoding: 'float32',
      topkFraction: 1,
      feedback: new ErrorFeedback(),
      secure: { masked: () => Promise.resolve(fail('secagg.unexpected_step', 'no shares')) },
    });
    assert.equal(!update.ok && update.error.code, 'secagg.unexpected_step');
  });
});
