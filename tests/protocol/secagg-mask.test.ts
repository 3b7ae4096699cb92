import assert from 'node:assert/strict';
import { createCipheriv } from 'node:crypto';
import { before, describe, it } from 'node:test';
import {
  addModular,
  bytesToUint32,
  DiscreteGaussian,
  dequantizeSum,
  loadSodium,
  maskVector,
  quantizationErrorBound,
  quantizationParams,
  quantize,
  seededRandom,
  uint32ToBytes,
  unwrap,
  type Sodium,
} from '../../protocol/index.js';

let sodium: Sodium;
before(async () => {
  sodium = await loadSodium();
});

/** ChaCha20-IETF keystream, key = seed, nonce "LibsodiumDRG", counter 0 (node:crypto's layout). */
function chachaKeystream(seed: Uint8Array, length: number): Uint8Array {
  const iv = Buffer.concat([Buffer.alloc(4), Buffer.from('LibsodiumDRG')]);
  return new Uint8Array(createCipheriv('chacha20', seed, iv).update(Buffer.alloc(length)));
}

describe('the mask PRG', () => {
  it('is randombytes_buf_deterministic, pinned for the all-zero seed and equal to ChaCha20', () => {
    const seed = new Uint8Array(32);
    const mask = uint32ToBytes(maskVector(sodium, seed, 1024));
    assert.equal(
      Buffer.from(mask.subarray(0, 16)).toString('hex'),
      'a11f8f12d0876f736d2d8fd26e14c2de',
    );
    assert.deepEqual(mask, sodium.randombytes_buf_deterministic(4096, seed));
    assert.deepEqual(mask, chachaKeystream(seed, 4096));
    // little-endian words: bytes a1 1f 8f 12 are the value 0x128f1fa1
    assert.equal(maskVector(sodium, seed, 1)[0], 0x128f1fa1);
  });

  it('uses the full 32-byte seed: seeds differing only in the last byte give different masks', () => {
    const a = new Uint8Array(32).fill(7);
    const b = Uint8Array.from(a);
    b[31] = 8;
    const ma = maskVector(sodium, a, 256);
    const mb = maskVector(sodium, b, 256);
    assert.notDeepEqual(ma, mb);
    assert.ok(ma.filter((v, i) => v === mb[i]).length < 4);
    assert.deepEqual(uint32ToBytes(mb), chachaKeystream(b, 1024));
  });

  it('refuses a seed that is not 32 bytes', () => {
    assert.throws(() => maskVector(sodium, new Uint8Array(16), 4));
  });
});

describe('the wire form of a masked vector', () => {
  it('reads little-endian uint32 values from a Node Buffer at any offset, as bytes off the bus arrive', () => {
    const values = Uint32Array.of(1, 0xffffffff, 0x01020304);
    // A Buffer of the shared pool at an odd offset: its slice() is a view, not a copy.
    const pooled = Buffer.concat([Buffer.from([9, 9, 9]), Buffer.from(uint32ToBytes(values))]);
    for (const offset of [3, 0]) {
      const bytes = offset ? pooled.subarray(offset) : Buffer.from(uint32ToBytes(values));
      assert.deepEqual([...bytesToUint32(bytes)], [1, 0xffffffff, 0x01020304]);
    }
    assert.deepEqual([...uint32ToBytes(Uint32Array.of(0x01020304))], [4, 3, 2, 1]);
  });
});

describe('quantization into Z_2^32', () => {
  it('refuses parameters whose sum could wrap mod 2^32', () => {
    // 1024 x 2^22 = 2^32 exactly: a sum at the top of every range would wrap to 0.
    assert.ok(quantizationParams({ clip: 1, sites: 1023, levels: 2 ** 22 }).ok);
    const over = quantizationParams({ clip: 1, sites: 1024, levels: 2 ** 22 });
    assert.equal(!over.ok && over.error.code, 'secagg.bad_parameters');
    const defaults = unwrap(quantizationParams({ clip: 1, sites: 100 }));
    assert.ok(defaults.levels * 100 <= 2 ** 32 - 1);
    assert.ok((defaults.levels + 1) * 100 > 2 ** 32 - 1);
    const count = dequantizeSum(new Uint32Array(1), defaults, 101);
    assert.equal(!count.ok && count.error.code, 'secagg.bad_parameters');
  });

  it('refuses NaN and infinity', () => {
    const params = unwrap(quantizationParams({ clip: 1, sites: 2 }));
    const result = quantize(Float32Array.of(0, NaN), params, { kind: 'nearest' });
    assert.equal(!result.ok && result.error.code, 'update.non_finite');
  });

  for (const kind of ['nearest', 'stochastic'] as const) {
    it(`the dequantized sum is within the stated bound (${kind} rounding, coarse levels)`, () => {
      // Coarse levels so that the rounding error is large enough to measure against the bound.
      const params = unwrap(quantizationParams({ clip: 1, sites: 8, levels: 1000 }));
      const random = seededRandom(5);
      const rounding = kind === 'nearest' ? { kind } : { kind, random: seededRandom(9) };
      const d = 5000;
      const sum = new Uint32Array(d);
      const plain = new Float64Array(d);
      for (let s = 0; s < 8; s++) {
        const x = Float32Array.from({ length: d }, () => (random() - 0.5) * 2.4);
        const q = unwrap(quantize(x, params, rounding));
        for (let i = 0; i < d; i++) {
          sum[i] = (sum[i]! + q[i]!) >>> 0;
          plain[i]! += Math.min(1, Math.max(-1, x[i]!));
        }
      }
      const back = unwrap(dequantizeSum(sum, params, 8));
      const bound = quantizationErrorBound(params, 8, kind);
      const worst = back.reduce((m, v, i) => Math.max(m, Math.abs(v - plain[i]!)), 0);
      assert.ok(worst <= bound, `worst ${worst} over bound ${bound}`);
      // The bound is not vacuous: the error reaches a good part of it.
      assert.ok(worst > bound / 4, `worst ${worst} is far under bound ${bound}`);
    });
  }
});

describe('distributed DP noise on the grid', () => {
  it('sites add integer discrete Gaussian noise mod 2^32 and the centred sum decodes it exactly', () => {
    const sites = 8;
    // 2^20 levels leave the sum room either side of [0, 8 L] (a run's range leaves it inside).
    const params = unwrap(quantizationParams({ clip: 1, sites, levels: 2 ** 20 }));
    const step = (2 * params.clip) / params.levels;
    const sigma2 = 1e10; // sigma 1e5 steps per site, 0.19 in value units
    const d = 20_000;
    const random = seededRandom(21);
    const sum = new Uint32Array(d);
    const plain = new Float64Array(d);
    const noiseTotal = new Float64Array(d);
    for (let s = 0; s < sites; s++) {
      // Half the coordinates at the edges of the range, where noise leaves [0, L].
      const x = Float64Array.from({ length: d }, (_, i) => (i % 2 ? (random() - 0.5) * 2 : -1));
      const q = unwrap(quantize(x, params, { kind: 'nearest' }));
      const gaussian = unwrap(DiscreteGaussian.create(sigma2, bytesFrom(seededRandom(100 + s))));
      const draws = gaussian.samples(d);
      let next = 0;
      const noisy = addModular(q, () => draws[next++]!);
      for (let i = 0; i < d; i++) {
        // The noise a site adds is an integer number of grid steps: no float noise.
        assert.ok(Number.isInteger(draws[i]!));
        assert.equal(noisy[i], (((q[i]! + draws[i]!) % 2 ** 32) + 2 ** 32) % 2 ** 32);
        sum[i] = (sum[i]! + noisy[i]!) >>> 0;
        plain[i]! += q[i]! * step - params.clip;
        noiseTotal[i]! += draws[i]!;
      }
    }
    const back = unwrap(dequantizeSum(sum, params, sites));
    let wrapped = 0;
    let squares = 0;
    for (let i = 0; i < d; i++) {
      const expected = plain[i]! + noiseTotal[i]! * step;
      assert.ok(Math.abs(back[i]! - expected) < 1e-6, `coordinate ${i}`);
      if (i % 2 === 0 && noiseTotal[i]! < 0) wrapped++;
      squares += (noiseTotal[i]! * step) ** 2;
    }
    // The edge coordinates whose noise is negative fell below 0 mod 2^32 and decoded right.
    assert.ok(wrapped > d / 5, `${wrapped} wrapped`);
    // The sum's noise has stddev sqrt(8) sigma step = 0.539: within 2% over 20k coordinates.
    const stddev = Math.sqrt(squares / d);
    const target = Math.sqrt(sites * sigma2) * step;
    assert.ok(Math.abs(stddev / target - 1) < 0.02, `noise stddev ${stddev} vs ${target}`);
  });

  it('a sum just below 0 mod 2^32 decodes as a small negative offset, not as 2^32 - 1 steps', () => {
    const params = unwrap(quantizationParams({ clip: 1, sites: 4, levels: 1000 }));
    const step = (2 * params.clip) / params.levels;
    // Four inputs at -clip (q = 0) plus noise totalling -3 steps: read as 2^32 - 3, the plain
    // S * step - 4 c would be 8.6 million.
    const back = unwrap(dequantizeSum(Uint32Array.of(2 ** 32 - 3), params, 4));
    assert.ok(Math.abs(back[0]! - (-4 - 3 * step)) < 1e-9, `${back[0]}`);
  });
});

/** A byte source from a seeded generator. */
function bytesFrom(random: () => number): (into: Uint8Array) => void {
  return (into) => {
    for (let i = 0; i < into.length; i++) into[i] = Math.floor(random() * 256);
  };
}
