import { fail, ok, type Result } from '../errors.js';
import { parseWith } from '../parse.js';
import type { Sodium } from '../sodium.js';
import { neighbourGraph, type NeighbourGraph } from './graph.js';
import { consistencyQuorum, roundDigest, survivorSetBytes, validSigners } from './consistency.js';
import {
  planUnmask,
  recoverSum,
  survivingHolders,
  type RoundMembership,
  type UnmaskPlan,
} from './recover.js';
import { addInto } from './mask-prg.js';
import { roundContextHash } from './round-context.js';
import { verifyRoundKeys } from './round-keys.js';
import type { SecAggRoundSpec } from './round-spec.js';
import {
  encryptedShareSchema,
  survivorSignatureSchema,
  unmaskResponseSchema,
  type AdvertisedKeys,
  type EncryptedShare,
  type KeyRoster,
  type SurvivorSet,
  type SurvivorSignature,
  type UnmaskRequest,
  type UnmaskResponse,
} from './wire.js';

/**
 * The coordinator's side of one SecAgg+ round. It sees public keys, sealed shares, masked
 * inputs and, at the end, only the shares it needs; it never holds a site's input in the
 * clear. Same state-machine rules as SecAggSite: a step checks the state first and sets the
 * next one last; a failed recovery leaves it Failed with no sum.
 *
 *   receiveKeys(keys)*       CollectingKeys   (signatures checked on arrival)
 *   rosters()                -> CollectingShares   the graph, and each site's neighbours' keys
 *   receiveShares(site, s)*  CollectingShares
 *   relay()                  -> CollectingMasked   U2 = sites that shared; sealed shares by recipient
 *   receiveMasked(site, y)*  CollectingMasked
 *   survivorSet()            -> CollectingSignatures  U3 = sites that masked; fails if any
 *                                                  needed secret has fewer than t surviving
 *                                                  holders
 *   receiveSignature(s)*     CollectingSignatures (each checked against its signer's identity)
 *   unmaskRequest()          -> Unmasking          U3 with the signatures; fails below the quorum
 *   receiveUnmask(r)*        Unmasking
 *   recover()                -> Done               the uint32 sum of the survivors' inputs
 */
export enum SecAggServerState {
  CollectingKeys = 'collecting-keys',
  CollectingShares = 'collecting-shares',
  CollectingMasked = 'collecting-masked',
  CollectingSignatures = 'collecting-signatures',
  Unmasking = 'unmasking',
  Done = 'done',
  Failed = 'failed',
}

export interface SecAggServerOptions {
  readonly round: SecAggRoundSpec;
  /** Enrolled sites' Ed25519 identity keys (the allow-list). */
  readonly identityOf: (site: string) => Uint8Array | undefined;
}

export interface RecoveredSum {
  /** sum of the survivors' quantized inputs mod 2^32. */
  readonly sum: Uint32Array;
  /** Whose inputs are in the sum (dequantizeSum needs their count). */
  readonly survivors: readonly string[];
  readonly dropped: readonly string[];
}

export class SecAggServer {
  private stateValue = SecAggServerState.CollectingKeys;
  private readonly contextHash: Uint8Array;
  private readonly keys = new Map<string, AdvertisedKeys>();
  private graph: NeighbourGraph | undefined;
  private readonly shares = new Map<string, EncryptedShare[]>();
  private live = new Set<string>();
  /** Sites whose masked input is in `maskedSum` (U3 once the stage closes). */
  private readonly maskedSites = new Set<string>();
  /**
   * The masked inputs' sum mod 2^32, added to as they arrive: recovery needs only the sum, so
   * the server's memory is one vector however many sites mask.
   */
  private maskedSum: Uint32Array | undefined;
  private plan: UnmaskPlan | undefined;
  private signedBytes: Uint8Array | undefined;
  private readonly signatures = new Map<string, SurvivorSignature>();
  private request: UnmaskRequest | undefined;
  private readonly responses = new Map<string, UnmaskResponse>();

  constructor(
    private readonly sodium: Sodium,
    private readonly options: SecAggServerOptions,
  ) {
    this.contextHash = roundContextHash(sodium, options.round.context);
  }

  get state(): SecAggServerState {
    return this.stateValue;
  }

  /** The round's graph, once rosters() has drawn it. */
  get neighbours(): NeighbourGraph | undefined {
    return this.graph;
  }

  /** A site's advertised keys; its signature is checked before it is kept. */
  receiveKeys(raw: unknown): Result<AdvertisedKeys> {
    if (this.stateValue !== SecAggServerState.CollectingKeys) {
      return this.outOfStep('receiveKeys');
    }
    const site = (raw as { site?: unknown } | null)?.site;
    const verified = verifyRoundKeys(
      this.sodium,
      this.contextHash,
      raw,
      typeof site === 'string' ? this.options.identityOf(site) : undefined,
    );
    if (!verified.ok) return verified;
    if (this.keys.has(verified.value.site)) {
      return fail('secagg.duplicate', `second keys from ${verified.value.site}`);
    }
    this.keys.set(verified.value.site, verified.value);
    return ok(verified.value);
  }

  /** Closes AdvertiseKeys: the participants are the sites that advertised. */
  rosters(): Result<ReadonlyMap<string, KeyRoster>> {
    if (this.stateValue !== SecAggServerState.CollectingKeys) return this.outOfStep('rosters');
    const { round } = this.options;
    const participants = [...this.keys.keys()].sort();
    const graph = neighbourGraph(this.sodium, {
      seed: round.graphSeed,
      round: round.context.round,
      attempt: round.context.attempt,
      participants,
      degree: round.degree,
      threshold: round.threshold,
    });
    if (!graph.ok) {
      this.stateValue = SecAggServerState.Failed;
      return graph;
    }
    const out = new Map<string, KeyRoster>();
    for (const [site, neighbours] of graph.value.neighbours) {
      out.set(site, { participants, keys: neighbours.map((v) => this.keys.get(v)!) });
    }
    this.graph = graph.value;
    this.stateValue = SecAggServerState.CollectingShares;
    return ok(out);
  }

  /** One site's sealed shares: exactly one for each of its neighbours, from itself. */
  receiveShares(site: string, raw: readonly unknown[]): Result<void> {
    if (this.stateValue !== SecAggServerState.CollectingShares) {
      return this.outOfStep('receiveShares');
    }
    const neighbours = this.graph!.neighbours.get(site);
    if (neighbours === undefined) return fail('secagg.unknown_site', `${site} is not in the round`);
    if (this.shares.has(site)) return fail('secagg.duplicate', `second shares from ${site}`);
    const out: EncryptedShare[] = [];
    for (const [i, item] of raw.entries()) {
      const parsed = parseWith(encryptedShareSchema, item, 'secagg.bad_share', `share ${i}`);
      if (!parsed.ok) return parsed;
      out.push(parsed.value);
    }
    const recipients = out.map((s) => s.to).sort();
    const expected = [...neighbours].sort();
    if (
      out.some((s) => s.from !== site) ||
      recipients.length !== expected.length ||
      recipients.some((r, i) => r !== expected[i])
    ) {
      return fail('secagg.bad_share', `${site} must send one share to each of its neighbours`);
    }
    this.shares.set(site, out);
    return ok(undefined);
  }

  /**
   * Closes ShareKeys: U2 is the sites that sent shares. Each gets the shares addressed to it
   * by other members of U2 (shares to sites outside U2 are dropped with them).
   */
  relay(): Result<ReadonlyMap<string, EncryptedShare[]>> {
    if (this.stateValue !== SecAggServerState.CollectingShares) return this.outOfStep('relay');
    const live = new Set(this.shares.keys());
    const out = new Map<string, EncryptedShare[]>([...live].map((s) => [s, []]));
    for (const shares of this.shares.values()) {
      for (const share of shares) out.get(share.to)?.push(share);
    }
    this.live = live;
    this.stateValue = SecAggServerState.CollectingMasked;
    return ok(out);
  }

  receiveMasked(site: string, masked: Uint32Array): Result<void> {
    return this.receiveMaskedSum([site], masked);
  }

  /** Whether a masked input of `site` would be taken now (it is summed elsewhere meanwhile). */
  mayMask(site: string): Result<void> {
    if (this.stateValue !== SecAggServerState.CollectingMasked) {
      return this.outOfStep('receiveMasked');
    }
    if (!this.live.has(site)) return fail('secagg.unknown_site', `${site} did not share keys`);
    if (this.maskedSites.has(site)) {
      return fail('secagg.duplicate', `second masked input from ${site}`);
    }
    return ok(undefined);
  }

  /**
   * The sum mod 2^32 of several sites' masked inputs, added up elsewhere (an edge node of the
   * coordinator): the same as receiving each of them, since recovery needs only their sum.
   */
  receiveMaskedSum(sites: readonly string[], sum: Uint32Array): Result<void> {
    const seen = new Set<string>();
    for (const site of sites) {
      const may = this.mayMask(site);
      if (!may.ok) return may;
      if (seen.has(site)) return fail('secagg.duplicate', `second masked input from ${site}`);
      seen.add(site);
    }
    if (sum.length !== this.options.round.dimension) {
      return fail(
        'secagg.shape_mismatch',
        `${sum.length} values from ${sites.join(', ')}, the round masks ${this.options.round.dimension}`,
      );
    }
    this.maskedSum ??= new Uint32Array(this.options.round.dimension);
    addInto(this.maskedSum, sum);
    for (const site of sites) this.maskedSites.add(site);
    return ok(undefined);
  }

  /**
   * Closes MaskedInputCollection: the survivor set every survivor is asked to sign. If some
   * needed secret cannot be rebuilt the round fails here, before anything is signed or asked.
   */
  survivorSet(): Result<SurvivorSet> {
    if (this.stateValue !== SecAggServerState.CollectingMasked) {
      return this.outOfStep('survivorSet');
    }
    const plan = planUnmask(this.membership());
    if (!plan.ok) {
      this.stateValue = SecAggServerState.Failed;
      return plan;
    }
    const { round, identityOf } = this.options;
    const digest = roundDigest(this.sodium, round, identityOf, [...this.keys.keys()].sort());
    this.plan = plan.value;
    this.signedBytes = survivorSetBytes(this.contextHash, digest, plan.value.survivors);
    this.stateValue = SecAggServerState.CollectingSignatures;
    return ok({ survivors: [...plan.value.survivors] });
  }

  /** A survivor's signature on the set, kept only if it verifies. */
  receiveSignature(site: string, raw: unknown): Result<void> {
    if (this.stateValue !== SecAggServerState.CollectingSignatures) {
      return this.outOfStep('receiveSignature');
    }
    const parsed = parseWith(survivorSignatureSchema, raw, 'secagg.bad_signature', 'signature');
    if (!parsed.ok) return parsed;
    if (parsed.value.site !== site) {
      return fail('secagg.bad_signature', `${site} sent a signature for ${parsed.value.site}`);
    }
    if (this.signatures.has(site)) return fail('secagg.duplicate', `second signature from ${site}`);
    const valid = validSigners(
      this.sodium,
      this.signedBytes!,
      this.plan!.survivors,
      [parsed.value],
      this.options.identityOf,
    );
    if (!valid.has(site)) {
      return fail('secagg.bad_signature', `${site}'s signature is not on the survivor set`);
    }
    this.signatures.set(site, parsed.value);
    return ok(undefined);
  }

  /**
   * Closes ConsistencyCheck: the request, with every signature, for the sites that signed. Below
   * the quorum no site would answer, so the round fails here.
   */
  unmaskRequest(): Result<UnmaskRequest> {
    if (this.stateValue !== SecAggServerState.CollectingSignatures) {
      return this.outOfStep('unmaskRequest');
    }
    const quorum = consistencyQuorum(this.options.round.participants.length, this.graph!.threshold);
    if (this.signatures.size < quorum) {
      this.stateValue = SecAggServerState.Failed;
      return fail(
        'secagg.insufficient_signatures',
        `${this.signatures.size} survivors signed the survivor set; the round needs ${quorum}`,
      );
    }
    const plan = this.plan!;
    this.request = {
      survivors: [...plan.survivors],
      dropped: [...plan.dropped],
      signatures: [...this.signatures.values()],
    };
    this.stateValue = SecAggServerState.Unmasking;
    return ok(this.request);
  }

  /** The sites that signed: the ones asked for shares. */
  get signers(): readonly string[] {
    return [...this.signatures.keys()];
  }

  /** A survivor's shares: only what was asked, only from a holder of each secret. */
  receiveUnmask(raw: unknown): Result<void> {
    if (this.stateValue !== SecAggServerState.Unmasking) return this.outOfStep('receiveUnmask');
    const parsed = parseWith(unmaskResponseSchema, raw, 'secagg.bad_share', 'unmask response');
    if (!parsed.ok) return parsed;
    const response = parsed.value;
    const membership = this.membership();
    if (!this.signatures.has(response.site)) {
      return fail('secagg.unknown_site', `${response.site} did not sign the survivor set`);
    }
    if (this.responses.has(response.site)) {
      return fail('secagg.duplicate', `second unmask response from ${response.site}`);
    }
    const check = (owners: readonly string[], from: ReadonlySet<string>, kind: string) => {
      if (new Set(owners).size !== owners.length) return `two ${kind} shares for one owner`;
      for (const owner of owners) {
        if (!from.has(owner)) return `a ${kind} share for ${owner}, which was not asked for`;
        if (!survivingHolders(membership, owner).includes(response.site)) {
          return `a ${kind} share for ${owner}, which ${response.site} does not hold`;
        }
      }
      return undefined;
    };
    const problem =
      check(
        response.selfMaskShares.map((s) => s.owner),
        new Set(this.request!.survivors),
        'self-mask',
      ) ??
      check(
        response.maskKeyShares.map((s) => s.owner),
        new Set(this.request!.dropped),
        'mask-key',
      );
    if (problem !== undefined) return fail('secagg.bad_share', `${response.site}: ${problem}`);
    this.responses.set(response.site, response);
    return ok(undefined);
  }

  /** Rebuilds the needed secrets and returns the survivors' sum, or fails with no sum. */
  recover(): Result<RecoveredSum> {
    if (this.stateValue !== SecAggServerState.Unmasking) return this.outOfStep('recover');
    const sum = recoverSum(this.sodium, {
      contextHash: this.contextHash,
      membership: this.membership(),
      keys: this.keys,
      maskedSum: this.maskedSum ?? new Uint32Array(this.options.round.dimension),
      responses: [...this.responses.values()],
      dimension: this.options.round.dimension,
    });
    if (!sum.ok) {
      this.stateValue = SecAggServerState.Failed;
      return sum;
    }
    this.stateValue = SecAggServerState.Done;
    return ok({
      sum: sum.value,
      survivors: this.request!.survivors,
      dropped: this.request!.dropped,
    });
  }

  private membership(): RoundMembership {
    return { graph: this.graph!, live: this.live, survivors: this.maskedSites };
  }

  private outOfStep<T>(step: string): Result<T> {
    return fail('secagg.unexpected_step', `${step} in state ${this.stateValue}`);
  }
}
