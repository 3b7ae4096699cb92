import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import {
  combineShares,
  gfMultiply,
  loadSodium,
  shamirCommitment,
  splitSecret,
  unwrap,
  type ShamirShare,
  type Sodium,
} from '../../protocol/index.js';

let sodium: Sodium;
before(async () => {
  sodium = await loadSodium();
});

/** Every k-element subset of `items`. */
function subsets<T>(items: readonly T[], k: number): T[][] {
  if (k === 0) return [[]];
  if (items.length < k) return [];
  const [head, ...tail] = items;
  return [...subsets(tail, k - 1).map((s) => [head!, ...s]), ...subsets(tail, k)];
}

describe('Shamir sharing over GF(2^8)', () => {
  it('multiplies as FIPS-197 does (0x57 x 0x83 = 0xc1; 0x53 and 0xca are inverses)', () => {
    assert.equal(gfMultiply(0x57, 0x83), 0xc1);
    assert.equal(gfMultiply(0x53, 0xca), 0x01);
    assert.equal(gfMultiply(0xff, 0), 0);
  });

  it('matches a hand-computed 2-of-3 sharing of one byte', () => {
    // f(x) = 0x53 + 0xca x: f(1) = 0x53^0xca = 0x99; 2*0xca = 0x194^0x11b = 0x8f, f(2) = 0xdc;
    // 3*0xca = 0xca^0x8f = 0x45, f(3) = 0x16. From x = 2, 3: l2 = 3/(2^3) = 3, l3 = 2/(3^2) = 2,
    // 3*0xdc = 0x7f, 2*0x16 = 0x2c, 0x7f^0x2c = 0x53.
    const secret = Uint8Array.of(0x53);
    const sharing = unwrap(
      splitSecret(sodium, secret, { threshold: 2, shares: 3 }, () => Uint8Array.of(0xca)),
    );
    assert.deepEqual(
      sharing.shares.map((s) => [s.index, s.value[0]]),
      [
        [1, 0x99],
        [2, 0xdc],
        [3, 0x16],
      ],
    );
    const rebuilt = combineShares(
      sodium,
      [
        { index: 2, value: Uint8Array.of(0xdc) },
        { index: 3, value: Uint8Array.of(0x16) },
      ],
      { threshold: 2, commitment: shamirCommitment(sodium, secret) },
    );
    assert.deepEqual(rebuilt, { ok: true, value: secret });
  });

  it('any t of n shares rebuild a 32-byte secret', () => {
    const secret = sodium.randombytes_buf(32);
    const { shares, commitment } = unwrap(splitSecret(sodium, secret, { threshold: 3, shares: 6 }));
    const all = subsets(shares, 3);
    assert.equal(all.length, 20);
    for (const subset of all) {
      const rebuilt = unwrap(combineShares(sodium, subset, { threshold: 3, commitment }));
      assert.deepEqual(rebuilt, secret);
    }
  });

  it('t - 1 shares are refused as insufficient, and detected even under a lowered threshold', () => {
    const secret = sodium.randombytes_buf(32);
    const { shares, commitment } = unwrap(splitSecret(sodium, secret, { threshold: 4, shares: 7 }));
    const few = shares.slice(2, 5);
    const refused = combineShares(sodium, few, { threshold: 4, commitment });
    assert.equal(refused.ok, false);
    assert.equal(!refused.ok && refused.error.code, 'secagg.insufficient_shares');
    // A caller that claims t = 3 interpolates some other polynomial: the commitment catches it.
    const lowered = combineShares(sodium, few, { threshold: 3, commitment });
    assert.equal(lowered.ok, false);
    assert.equal(!lowered.ok && lowered.error.code, 'secagg.commitment_mismatch');
  });

  it('a corrupted share is detected, not returned as a wrong secret', () => {
    const secret = sodium.randombytes_buf(32);
    const { shares, commitment } = unwrap(splitSecret(sodium, secret, { threshold: 2, shares: 3 }));
    const bad: ShamirShare = { index: shares[0]!.index, value: Uint8Array.from(shares[0]!.value) };
    bad.value[5]! ^= 1;
    const result = combineShares(sodium, [bad, shares[1]!], { threshold: 2, commitment });
    assert.equal(!result.ok && result.error.code, 'secagg.commitment_mismatch');
  });

  it('refuses share index 0, duplicate indices and impossible thresholds', () => {
    const commitment = shamirCommitment(sodium, Uint8Array.of(1));
    const zero = combineShares(
      sodium,
      [
        { index: 0, value: Uint8Array.of(1) },
        { index: 1, value: Uint8Array.of(1) },
      ],
      { threshold: 2, commitment },
    );
    assert.equal(!zero.ok && zero.error.code, 'secagg.bad_share');
    const twice = combineShares(
      sodium,
      [
        { index: 1, value: Uint8Array.of(1) },
        { index: 1, value: Uint8Array.of(1) },
      ],
      { threshold: 2, commitment },
    );
    assert.equal(!twice.ok && twice.error.code, 'secagg.bad_share');
    const tooMany = splitSecret(sodium, Uint8Array.of(1), { threshold: 2, shares: 256 });
    assert.equal(!tooMany.ok && tooMany.error.code, 'secagg.bad_parameters');
  });
});
