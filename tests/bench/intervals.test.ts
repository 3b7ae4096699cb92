import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tInterval, verdict } from '../../bench/intervals.js';

const close = (actual: number | null, expected: number, tolerance = 1e-6) =>
  assert.ok(actual !== null && Math.abs(actual - expected) < tolerance, `${actual} vs ${expected}`);

describe('95 % t intervals over seeds', () => {
  it('matches a hand computation: five values, 4 degrees of freedom', () => {
    // mean 0.96; deviations -0.02, -0.01, 0, 0.01, 0.02: variance 0.001 / 4 = 0.00025;
    // sd 0.0158114; t(0.975, 4) = 2.776: 2.776 x 0.0158114 / sqrt(5) = 0.0196293.
    const interval = tInterval([0.94, 0.95, 0.96, 0.97, 0.98]);
    close(interval.mean, 0.96);
    close(interval.halfWidth, 0.0196293);
  });

  it('uses the table value for ten seeds (t 2.262 at 9 degrees of freedom)', () => {
    const values = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    // sd of 1..10 is sqrt(55/6) = 3.0276504.
    close(tInterval(values).halfWidth, (2.262 * 3.0276504) / Math.sqrt(10));
  });

  it('says a difference only when the interval leaves out zero', () => {
    assert.equal(verdict(tInterval([2, 3, 4, 3, 3])), 'higher');
    assert.equal(verdict(tInterval([-2, -3, -4, -3, -3])), 'lower');
    assert.equal(verdict(tInterval([-1, 2, 0.5, -0.5, 1])), 'no difference');
    assert.equal(verdict(tInterval([5])), 'no difference', 'one seed shows nothing');
  });
});
