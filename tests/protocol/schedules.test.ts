import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { distillationAt, distillationScheduleSchema, scheduleValue } from '../../protocol/index.js';

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

  it('a one-round run uses the starting value', () => {
    assert.equal(scheduleValue(linear, 1, 1), 5);
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
