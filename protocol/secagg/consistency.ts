import { fail, ok, type Result } from '../errors.js';
import type { Sodium } from '../sodium.js';
import { encodeFields } from './round-context.js';
import type { SecAggRoundSpec } from './round-spec.js';
import type { SurvivorSignature } from './wire.js';

/**
 * The consistency round of SecAgg+ (Bonawitz et al. 2017, ConsistencyCheck; Bell et al. 2020):
 * before any share is revealed, every survivor signs the one survivor set it was shown, and a
 * site reveals only for a request that carries that same set with enough signatures on it.
 *
 * Why a quorum of m > (n + c) / 2 signatures: an honest site signs once per attempt, so two
 * different sets accepted by two honest sites need two disjoint groups of honest signers, each
 * of at least m - c (the c corrupt sites sign anything). 2 (m - c) <= n - c is impossible when
 * 2 m > n + c. With m = floor(2n / 3) + 1 that holds for every c < n / 3 + 2 / 3: the protocol
 * assumes fewer than a third of a round's participants collude with the coordinator. One set
 * for everyone means no honest holder is asked for a self-mask share and a mask-key share in
 * two different worlds, which is what the inconsistent-survivor-set attack needs.
 */
const SURVIVORS_LABEL = 'fedistill/1 secagg survivors';
const ROUND_DIGEST_LABEL = 'fedistill/1 secagg round digest';

/** The signatures a survivor set needs: a two-thirds quorum of the participants, and at least t. */
export function consistencyQuorum(participants: number, threshold: number): number {
  return Math.max(threshold, Math.floor((2 * participants) / 3) + 1);
}

/**
 * What the signatures bind besides the context: the round's participants with their identity
 * keys, the graph's members (U1, those who advertised keys) and the graph parameters. Sites
 * shown different participants or graphs sign different bytes, so their signatures never
 * count for each other.
 */
export function roundDigest(
  sodium: Sodium,
  round: SecAggRoundSpec,
  identityOf: (site: string) => Uint8Array | undefined,
  graphMembers: readonly string[],
): Uint8Array {
  const participants = round.participants.flatMap((site) => [
    site,
    identityOf(site) ?? new Uint8Array(0),
  ]);
  return sodium.crypto_generichash(
    32,
    encodeFields(
      ROUND_DIGEST_LABEL,
      round.graphSeed,
      round.degree,
      round.threshold,
      round.participants.length,
      ...participants,
      graphMembers.length,
      ...graphMembers,
    ),
    null,
  );
}

/** The bytes a survivor signs: label, round context, round digest and the sorted survivor set. */
export function survivorSetBytes(
  contextHash: Uint8Array,
  digest: Uint8Array,
  survivors: readonly string[],
): Uint8Array {
  return encodeFields(SURVIVORS_LABEL, contextHash, digest, survivors.length, ...survivors);
}

/** A survivor set as the protocol accepts it: sorted, no repeats, every member a participant. */
export function checkSurvivorSet(
  survivors: readonly string[],
  members: ReadonlySet<string>,
): Result<true> {
  for (let i = 0; i < survivors.length; i++) {
    const site = survivors[i]!;
    if (i > 0 && survivors[i - 1]! >= site) {
      return fail('secagg.bad_request', 'the survivor set must be sorted with no repeats');
    }
    if (!members.has(site))
      return fail('secagg.bad_request', `survivor ${site} is not in the round`);
  }
  return ok(true);
}

/**
 * The members of `survivors` with a valid signature on `signed`, counted once each. Signatures
 * by anyone else, repeated or invalid ones count for nothing: the quorum is checked on the count.
 */
export function validSigners(
  sodium: Sodium,
  signed: Uint8Array,
  survivors: readonly string[],
  signatures: readonly SurvivorSignature[],
  identityOf: (site: string) => Uint8Array | undefined,
): Set<string> {
  const members = new Set(survivors);
  const signers = new Set<string>();
  for (const { site, signature } of signatures) {
    const key = identityOf(site);
    if (!members.has(site) || signers.has(site) || key === undefined) continue;
    let valid: boolean;
    try {
      valid = sodium.crypto_sign_verify_detached(signature, signed, key);
    } catch {
      valid = false;
    }
    if (valid) signers.add(site);
  }
  return signers;
}
