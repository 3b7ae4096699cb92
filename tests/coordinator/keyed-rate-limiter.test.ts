import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KeyedRateLimiter } from '../../coordinator/limits/keyed-rate-limiter.js';

describe('KeyedRateLimiter', () => {
  it('allows a burst, then the refill rate, per key', () => {
    let now = 0;
    const limiter = new KeyedRateLimiter({ burst: 3, perSecond: 2 }, 100, () => now);
    assert.deepEqual(
      [1, 2, 3, 4].map(() => limiter.take('a')),
      [true, true, true, false],
    );
    assert.equal(limiter.take('b'), true, 'another key has its own bucket');
    assert.equal(limiter.retryAfterSeconds('a'), 1);
    now = 500;
    assert.equal(limiter.take('a'), true);
    assert.equal(limiter.take('a'), false);
    now = 60_000;
    assert.deepEqual(
      [1, 2, 3, 4].map(() => limiter.take('a')),
      [true, true, true, false],
      'the bucket refills to the burst, no more',
    );
  });

  it('forgets the least recently used key past its size', () => {
    const limiter = new KeyedRateLimiter({ burst: 1, perSecond: 0.001 }, 2, () => 0);
    assert.equal(limiter.take('a'), true);
    assert.equal(limiter.take('b'), true);
    assert.equal(limiter.take('a'), false);
    assert.equal(limiter.take('c'), true);
    assert.equal(limiter.take('a'), false, 'a was used last, so b went');
    assert.equal(limiter.take('b'), true, 'b comes back with a full bucket');
  });
});
