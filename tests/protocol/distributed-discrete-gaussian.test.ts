import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ddgCdpEpsilon, ddgRdp, ddgTau, roundedL2Sensitivity } from '../../protocol/index.js';

const close = (actual: number, expected: number, tolerance = 1e-9) =>
  assert.ok(
    Math.abs(actual - expected) <= tolerance * Math.abs(expected),
    `${actual} vs ${expected}`,
  );

describe('the distributed discrete Gaussian bound (KLS 2021)', () => {
  it('tau = 10 sum_{k<n} exp(-2 pi² sigma² k/(k+1)): 10 e^{-pi²/4} for sigma² = 1/4, n = 2', () => {
    close(ddgTau(0.25, 2), 10 * 0.08480497247111379); // e^{-2.4674011}
    // n = 3 adds 10 e^{-pi²/3} = 0.3725876.
    close(ddgTau(0.25, 3), 1.2206373471865504);
    assert.equal(ddgTau(0.25, 1), 0);
    // At a realistic grid sigma the term vanishes.
    assert.equal(ddgTau(1e12, 1000), 0);
  });

  it('epsilon = Delta/(sqrt(n) sigma) + tau sqrt(d): sqrt(2) + 2 tau = 3.1103 at sigma² 1/4, n 2, d 4', () => {
    const round = { sensitivity: 1, sigma2: 0.25, minSummands: 2, maxSummands: 2, dimension: 4 };
    close(ddgCdpEpsilon(round), 3.110313011795371);
    // RDP at order 2: min(s² + tau d, (s + tau sqrt(d))²) = min(2 + 4 tau, 3.1103²) = 5.39220.
    close(ddgRdp(round, [2])[0]!, 5.392198898844551);
    // With tau negligible the bound is the Gaussian's alpha / (2 z²) at z = sqrt(n) sigma / Delta.
    const big = { sensitivity: 10, sigma2: 25, minSummands: 4, maxSummands: 10, dimension: 100 };
    close(ddgCdpEpsilon(big), 1);
    assert.deepEqual(ddgRdp(big, [1.5, 8]), [0.75, 4]);
  });

  it('stochastic rounding adds at most one step per coordinate: C + sqrt(d)', () => {
    assert.equal(roundedL2Sensitivity(1000, 10_000), 1100);
  });
});
