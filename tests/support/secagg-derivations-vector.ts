import {
  combineShares,
  maskVector,
  neighbourGraph,
  pairwiseSeed,
  quantizationParams,
  quantize,
  roundContextHash,
  sealShare,
  shamirCommitment,
  splitSecret,
  toHex,
  unwrap,
  type Sodium,
} from '../../protocol/index.js';

/**
 * Each SecAgg+ derivation of PROTOCOL.md section 11 on fixed inputs. Written to
 * protocol/vectors/secagg-derivations-v1.json by write-vectors.ts and checked by
 * tests/protocol/conformance.test.ts. The share box draws its nonce at random, so the sealed
 * share is recorded and checked by opening it.
 */

const bytes = (hex: string) => Uint8Array.from(Buffer.from(hex, 'hex'));

export const DERIVATION_INPUTS = {
  context: { runId: 'run-7f3a', round: 4, attempt: 1 },
  /** X25519 secret keys; the public keys are crypto_scalarmult_base of them. */
  sites: [
    { site: 'bank-a', maskSecretKey: '31'.repeat(32), encryptionSecretKey: '41'.repeat(32) },
    { site: 'bank-b', maskSecretKey: '32'.repeat(32), encryptionSecretKey: '42'.repeat(32) },
  ],
  shamir: {
    secret: '5a'.repeat(32),
    threshold: 3,
    shares: 5,
    /** coefficients[(j - 1) * 32 + b]: the x^j coefficient of byte b's polynomial. */
    coefficients: Array.from({ length: 64 }, (_, i) => (i * 37 + 11) % 256)
      .map((b) => b.toString(16).padStart(2, '0'))
      .join(''),
    combineFrom: [5, 2, 4],
  },
  maskSeed: '61'.repeat(32),
  maskWords: 8,
  graph: {
    seed: 42,
    round: 4,
    attempt: 1,
    participants: ['bank-a', 'bank-b', 'bank-c', 'bank-d', 'bank-e', 'bank-f', 'bank-g'],
    degree: 4,
    threshold: 3,
  },
  quantization: {
    clip: 1,
    levels: 1000,
    sites: 3,
    rounding: 'nearest',
    values: [-2, -1, -0.5, -0.001, 0, 0.0005, 0.25, 0.9999, 1, 3],
  },
} as const;

export function secaggDerivationsVector(sodium: Sodium) {
  const inputs = DERIVATION_INPUTS;
  const contextHash = roundContextHash(sodium, inputs.context);
  const parties = inputs.sites.map((s) => ({
    site: s.site,
    mask: {
      secretKey: bytes(s.maskSecretKey),
      publicKey: sodium.crypto_scalarmult_base(bytes(s.maskSecretKey)),
    },
    box: {
      secretKey: bytes(s.encryptionSecretKey),
      publicKey: sodium.crypto_scalarmult_base(bytes(s.encryptionSecretKey)),
    },
  }));
  const [a, b] = parties as [(typeof parties)[0], (typeof parties)[0]];
  const seed = unwrap(
    pairwiseSeed(
      sodium,
      contextHash,
      { site: a.site, ...a.mask },
      { site: b.site, publicKey: b.mask.publicKey },
    ),
  );
  const secret = bytes(inputs.shamir.secret);
  const coefficients = bytes(inputs.shamir.coefficients);
  const sharing = unwrap(
    splitSecret(sodium, secret, inputs.shamir, () => Uint8Array.from(coefficients)),
  );
  const combined = unwrap(
    combineShares(
      sodium,
      inputs.shamir.combineFrom.map((index) => sharing.shares[index - 1]!),
      { threshold: inputs.shamir.threshold, commitment: sharing.commitment },
    ),
  );
  // The share plaintext: the share index, then the self-mask and mask-key shares of that index.
  const plaintext = new Uint8Array(65);
  plaintext[0] = 1;
  plaintext.set(sharing.shares[0]!.value, 1);
  plaintext.set(sharing.shares[1]!.value, 33);
  const sealed = unwrap(
    sealShare(
      sodium,
      contextHash,
      { site: a.site, ...a.box },
      { site: b.site, publicKey: b.box.publicKey },
      plaintext,
    ),
  );
  const graph = unwrap(neighbourGraph(sodium, inputs.graph));
  const params = unwrap(quantizationParams(inputs.quantization));
  const quantized = unwrap(
    quantize(Float64Array.from(inputs.quantization.values), params, { kind: 'nearest' }),
  );
  return {
    kind: 'secagg-derivations',
    description:
      'fedistill protocol v1: each SecAgg+ derivation (section 11) on fixed inputs: round context hash, pairwise mask seed, Shamir split with fixed coefficients and combine, commitment, share box (sealed with a random nonce: it must open to the plaintext), mask PRG words, graph order, quantization',
    inputs,
    contextHash: toHex(contextHash),
    publicKeys: parties.map((p) => ({
      site: p.site,
      maskPublicKey: toHex(p.mask.publicKey),
      encryptionPublicKey: toHex(p.box.publicKey),
    })),
    pairwiseSeed: toHex(seed),
    shamir: {
      shares: sharing.shares.map((s) => ({ index: s.index, value: toHex(s.value) })),
      commitment: toHex(sharing.commitment),
      combined: toHex(combined),
    },
    shareBox: {
      from: a.site,
      to: b.site,
      plaintext: toHex(plaintext),
      sealed: toHex(sealed),
    },
    maskWords: Array.from(maskVector(sodium, bytes(inputs.maskSeed), inputs.maskWords)),
    graph: {
      order: graph.order,
      degree: graph.degree,
      threshold: graph.threshold,
      neighbours: Object.fromEntries(graph.neighbours),
    },
    commitmentOfMaskSeed: toHex(shamirCommitment(sodium, bytes(inputs.maskSeed))),
    quantized: Array.from(quantized),
  };
}
