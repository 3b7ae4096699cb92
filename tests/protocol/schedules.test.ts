import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  distillationAt,
  distillationScheduleSchema,
  scheduleValue,
  type ScalarSchedule,
} from '../../protocol/index.js';

describe('schedules', () => {
  const linear = { kind: 'linear', from: 5, to: 1 } as const;

  it('the default temperature decays linearly from 5 to 1 over the run', () => {
    const schedule = distillationScheduleSchema.parse({});
    // Step (1 - 5) / 9 per round over 10 rounds: 5, 4.556, 4.111, 3.667, ..., 1.
    const expected = [5, 4.5556, 4.1111, 3.6667, 3.2222, 2.7778, 2.3333, 1.8889, 1.4444, 1];
    expected.forEach((t, i) => {
      const { temperature, alpha } = distillationAt(schedule, i + 1, 10);
      assert.ok(Math.abs(temperature - t) < 1e-4, `round ${i + 1}: ${temperature} vs ${t}`);
      assert.equal(alpha, 0.5);
    });
  });

  it('the last round always takes the final value, so a one-round run takes `to`', () => {
    // Linear 5 -> 1: one round is the last round; two rounds are the first and the last.
    assert.equal(scheduleValue(linear, 1, 1), 1);
    assert.deepEqual([scheduleValue(linear, 1, 2), scheduleValue(linear, 2, 2)], [5, 1]);
    // Three rounds, step (1 - 5) / 2 = -2: 5, 3, 1.
    assert.deepEqual(
      [1, 2, 3].map((r) => scheduleValue(linear, r, 3)),
      [5, 3, 1],
    );
    // The same for cosine: 1 + 4(1 + cos(pi))/2 = 1 at the last round.
    const cosine = { kind: 'cosine', from: 5, to: 1 } as const;
    assert.equal(scheduleValue(cosine, 1, 1), 1);
    assert.deepEqual([scheduleValue(cosine, 1, 2), scheduleValue(cosine, 2, 2)], [5, 1]);
    // The default schedule over one round: temperature 1 (the end of 5 -> 1), alpha 0.5.
    assert.deepEqual(distillationAt(distillationScheduleSchema.parse({}), 1, 1), {
      temperature: 1,
      alpha: 0.5,
    });
    // A second stage of one round takes its final value: rounds 1..3 at 1, then 0.2.
    const alpha = {
      kind: 'two-stage',
      rounds: 3,
      first: 1,
      then: { kind: 'linear', from: 1, to: 0.2 },
    } as const;
    assert.deepEqual(
      [1, 2, 3, 4].map((r) => scheduleValue(alpha, r, 4)),
      [1, 1, 1, 0.2],
    );
  });

  it('rounds outside the run are a programming error', () => {
    assert.throws(() => scheduleValue(linear, 0, 10), RangeError);
    assert.throws(() => scheduleValue(linear, 11, 10), RangeError);
  });

  it('refuses a temperature below 1 and an alpha outside [0, 1]', () => {
    assert.equal(
      distillationScheduleSchema.safeParse({ temperature: { kind: 'linear', from: 5, to: 0.5 } })
        .success,
      false,
    );
    assert.equal(
      distillationScheduleSchema.safeParse({ alpha: { kind: 'constant', value: 1.5 } }).success,
      false,
    );
  });
});

describe('more schedules, against hand-computed values', () => {
  it('cosine from 5 to 1 over 5 rounds: 5, 1 + 4(1 + cos(pi/4))/2 = 4.4142, 3, 1.5858, 1', () => {
    const cosine = { kind: 'cosine', from: 5, to: 1 } as const;
    const expected = [5, 4.414214, 3, 1.585786, 1];
    expected.forEach((v, i) =>
      assert.ok(Math.abs(scheduleValue(cosine, i + 1, 5) - v) < 1e-6, `${i + 1}`),
    );
  });

  it('step holds each value for `every` rounds, then keeps the last', () => {
    const step: ScalarSchedule = { kind: 'step', values: [5, 3, 1], every: 2 };
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 7].map((r) => scheduleValue(step, r, 7)),
      [5, 5, 3, 3, 1, 1, 1],
    );
  });

  it('two-stage alpha: distillation only for 3 rounds, then a linear decay from 1 to 0.2 over the other 5', () => {
    const alpha = {
      kind: 'two-stage',
      rounds: 3,
      first: 1,
      then: { kind: 'linear', from: 1, to: 0.2 },
    } as const;
    // Rounds 4..8 are rounds 1..5 of the decay: 1, 0.8, 0.6, 0.4, 0.2.
    const values = [1, 2, 3, 4, 5, 6, 7, 8].map((r) => scheduleValue(alpha, r, 8));
    [1, 1, 1, 1, 0.8, 0.6, 0.4, 0.2].forEach((v, i) =>
      assert.ok(Math.abs(values[i]! - v) < 1e-12, `${i + 1}: ${values[i]}`),
    );
  });

  it('refuses a two-stage or step schedule that leaves the allowed range', () => {
    const bad = {
      alpha: { kind: 'two-stage', rounds: 2, first: 1.2, then: { kind: 'constant', value: 0.5 } },
    };
    assert.equal(distillationScheduleSchema.safeParse(bad).success, false);
    assert.equal(
      distillationScheduleSchema.safeParse({
        temperature: { kind: 'step', values: [4, 0.5], every: 1 },
      }).success,
      false,
    );
  });
});
