import { fail, ok, type Result } from '../errors.js';
import type { Sodium } from '../sodium.js';
import type { NeighbourGraph } from './graph.js';
import { applyMask } from './mask-prg.js';
import { pairwiseSeed, pairwiseSign } from './round-keys.js';
import { combineShares, type ShamirShare } from './shamir.js';
import type { AdvertisedKeys, UnmaskResponse } from './wire.js';

/**
 * The coordinator's arithmetic for Unmasking, as pure functions: which secrets it needs and
 * whether enough holders survive to give them (`planUnmask`), and the sum once the shares are
 * in (`recoverSum`). Nothing is returned unless every needed secret rebuilt and matched its
 * signed commitment: there is no partial sum.
 */
export interface RoundMembership {
  readonly graph: NeighbourGraph;
  /** Sites whose shares were relayed (U2): the ones their live neighbours masked with. */
  readonly live: ReadonlySet<string>;
  /** Sites that sent a masked input (U3, a subset of U2). */
  readonly survivors: ReadonlySet<string>;
}

/** Neighbours of `site` that hold its shares (live) and can answer (survivors). */
export function survivingHolders(membership: RoundMembership, site: string): string[] {
  const neighbours = membership.graph.neighbours.get(site) ?? [];
  return neighbours.filter((v) => membership.live.has(v) && membership.survivors.has(v));
}

/** Who sent a masked input, and who shared keys but did not, both sorted. */
export interface UnmaskPlan {
  readonly survivors: readonly string[];
  readonly dropped: readonly string[];
}

/**
 * The request every survivor gets, or `secagg.insufficient_shares` when some needed secret
 * has fewer than t surviving holders: each survivor's b_u, and the mask key of each dropped
 * site that a survivor masked with. A dropped site with no surviving neighbour needs nothing.
 */
export function planUnmask(membership: RoundMembership): Result<UnmaskPlan> {
  const { graph, live, survivors } = membership;
  const survivorList = [...survivors].filter((s) => live.has(s)).sort();
  if (survivorList.length < survivors.size) {
    return fail('secagg.bad_request', 'a survivor whose shares were never relayed');
  }
  const dropped = [...live].filter((s) => !survivors.has(s)).sort();
  for (const site of survivorList) {
    const holders = survivingHolders(membership, site).length;
    if (holders < graph.threshold) {
      return fail(
        'secagg.insufficient_shares',
        `survivor ${site} has ${holders} surviving neighbours, the threshold is ${graph.threshold}`,
      );
    }
  }
  for (const site of dropped) {
    const holders = survivingHolders(membership, site).length;
    if (holders > 0 && holders < graph.threshold) {
      return fail(
        'secagg.insufficient_shares',
        `dropped ${site} has ${holders} surviving neighbours, the threshold is ${graph.threshold}`,
      );
    }
  }
  if (survivorList.length === 0) return fail('secagg.insufficient_shares', 'no survivors');
  return ok({ survivors: survivorList, dropped });
}

export interface RecoveryInput {
  readonly contextHash: Uint8Array;
  readonly membership: RoundMembership;
  readonly keys: ReadonlyMap<string, AdvertisedKeys>;
  /** The sum mod 2^32 of the survivors' masked inputs, each survivor's exactly once. */
  readonly maskedSum: Uint32Array;
  /** The survivors' answers to the unmask request (already checked by the server). */
  readonly responses: readonly UnmaskResponse[];
  readonly dimension: number;
}

/**
 * sum_{u in U3} y_u - sum_{u in U3} PRG(b_u) - sum_{d in D} sum_{v in N(d) and U3} sign(v,d) PRG(s_vd)
 * = sum_{u in U3} x_u mod 2^32; pairwise masks between survivors cancel by themselves.
 */
export function recoverSum(sodium: Sodium, input: RecoveryInput): Result<Uint32Array> {
  const { membership, keys, responses } = input;
  const { graph } = membership;
  const plan = planUnmask(membership);
  if (!plan.ok) return plan;
  const secrets: { kind: 'self' | 'key'; owner: string; secret: Uint8Array }[] = [];
  const forget = () => secrets.forEach((s) => sodium.memzero(s.secret));

  const rebuild = (owner: string, kind: 'self' | 'key'): Result<Uint8Array> => {
    const index = graph.neighbours.get(owner)!;
    const shares: ShamirShare[] = [];
    for (const response of responses) {
      const list = kind === 'self' ? response.selfMaskShares : response.maskKeyShares;
      const revealed = list.find((r) => r.owner === owner);
      if (revealed !== undefined) {
        shares.push({ index: index.indexOf(response.site) + 1, value: revealed.share });
      }
    }
    const ownerKeys = keys.get(owner)!;
    const what = kind === 'self' ? `the self-mask seed of ${owner}` : `the mask key of ${owner}`;
    const secret = combineShares(sodium, shares, {
      threshold: graph.threshold,
      commitment: kind === 'self' ? ownerKeys.selfMaskCommitment : ownerKeys.maskKeyCommitment,
    });
    if (!secret.ok) return fail(secret.error.code, `${what}: ${secret.error.message}`);
    if (
      kind === 'key' &&
      !sodium.memcmp(sodium.crypto_scalarmult_base(secret.value), ownerKeys.maskPublicKey)
    ) {
      sodium.memzero(secret.value);
      return fail('secagg.commitment_mismatch', `${what} does not match its public key`);
    }
    return secret;
  };

  for (const owner of plan.value.survivors) {
    const secret = rebuild(owner, 'self');
    if (!secret.ok) {
      forget();
      return secret;
    }
    secrets.push({ kind: 'self', owner, secret: secret.value });
  }
  for (const owner of plan.value.dropped) {
    if (survivingHolders(membership, owner).length === 0) continue;
    const secret = rebuild(owner, 'key');
    if (!secret.ok) {
      forget();
      return secret;
    }
    secrets.push({ kind: 'key', owner, secret: secret.value });
  }

  if (input.maskedSum.length !== input.dimension) {
    forget();
    return fail('secagg.shape_mismatch', `a masked sum of ${input.dimension} values is needed`);
  }
  const sum = Uint32Array.from(input.maskedSum);
  for (const { kind, owner, secret } of secrets) {
    if (kind === 'self') {
      applyMask(sodium, sum, secret, -1);
      continue;
    }
    const ownerKeys = keys.get(owner)!;
    for (const survivor of survivingHolders(membership, owner)) {
      // The survivor added sign(survivor, owner) PRG(s); take exactly that away.
      const seed = pairwiseSeed(
        sodium,
        input.contextHash,
        { site: owner, secretKey: secret, publicKey: ownerKeys.maskPublicKey },
        { site: survivor, publicKey: keys.get(survivor)!.maskPublicKey },
      );
      if (!seed.ok) {
        forget();
        return seed;
      }
      applyMask(sodium, sum, seed.value, pairwiseSign(survivor, owner) === 1 ? -1 : 1);
      sodium.memzero(seed.value);
    }
  }
  forget();
  return ok(sum);
}
