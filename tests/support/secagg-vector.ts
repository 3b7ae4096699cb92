import {
  consistencyQuorum,
  roundContextHash,
  roundDigest,
  survivorSetBytes,
  toHex,
  type SecAggRoundSpec,
  type Sodium,
} from '../../protocol/index.js';

/** Three sites whose Ed25519 identities are crypto_sign_seed_keypair of 11x32, 12x32, 13x32. */
export const SURVIVOR_VECTOR_SITES = [
  { site: 'bank-a', seed: '11'.repeat(32) },
  { site: 'bank-b', seed: '12'.repeat(32) },
  { site: 'bank-c', seed: '13'.repeat(32) },
] as const;

/**
 * The signed survivor set of PROTOCOL.md section 11 on fixed inputs: the round context hash,
 * the round digest, the bytes each survivor signs and its (deterministic) Ed25519 signature.
 * Written to protocol/vectors/secagg-survivors-v1.json by write-vectors.ts and checked
 * against it by tests/protocol/conformance.test.ts.
 */
export function survivorSetVector(sodium: Sodium) {
  const keys = SURVIVOR_VECTOR_SITES.map(({ site, seed }) => ({
    site,
    pair: sodium.crypto_sign_seed_keypair(Uint8Array.from(Buffer.from(seed, 'hex'))),
  }));
  const participants = keys.map((k) => k.site);
  const round: SecAggRoundSpec = {
    context: { runId: 'run-7f3a', round: 4, attempt: 1 },
    participants,
    graphSeed: 42,
    degree: 2,
    threshold: 2,
    dimension: 16,
  };
  const identityOf = (site: string) => keys.find((k) => k.site === site)?.pair.publicKey;
  const contextHash = roundContextHash(sodium, round.context);
  const digest = roundDigest(sodium, round, identityOf, participants);
  const signed = survivorSetBytes(contextHash, digest, participants);
  return {
    kind: 'secagg-survivors',
    description:
      'fedistill protocol v1: the SecAgg+ signed survivor set (section 11) on fixed identities',
    inputs: {
      ...round.context,
      graphSeed: round.graphSeed,
      degree: round.degree,
      threshold: round.threshold,
      participants: keys.map((k) => ({
        site: k.site,
        identitySeed: SURVIVOR_VECTOR_SITES.find((s) => s.site === k.site)!.seed,
        identityPublicKey: toHex(k.pair.publicKey),
      })),
      graphMembers: participants,
      survivors: participants,
    },
    quorum: consistencyQuorum(participants.length, round.threshold),
    contextHash: toHex(contextHash),
    roundDigest: toHex(digest),
    signedBytes: toHex(signed),
    signatures: keys.map((k) => ({
      site: k.site,
      signature: toHex(sodium.crypto_sign_detached(signed, k.pair.privateKey)),
    })),
  };
}
