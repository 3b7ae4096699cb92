import { fail, ok, type Result } from '../errors.js';
import type { IdentityKeyPair } from '../handshake.js';
import { parseWith } from '../parse.js';
import type { Sodium } from '../sodium.js';
import {
  checkSurvivorSet,
  consistencyQuorum,
  roundDigest,
  survivorSetBytes,
  validSigners,
} from './consistency.js';
import { neighbourGraph, type NeighbourGraph } from './graph.js';
import { applyMask } from './mask-prg.js';
import { roundContextHash } from './round-context.js';
import { pairwiseSeed, pairwiseSign, signRoundKeys, verifyRoundKeys } from './round-keys.js';
import type { SecAggRoundSpec } from './round-spec.js';
import { openShare, sealShare } from './share-box.js';
import { shamirCommitment, splitSecret } from './shamir.js';
import {
  encryptedShareSchema,
  keyRosterSchema,
  survivorSetSchema,
  unmaskRequestSchema,
  SHARE_PLAINTEXT_BYTES,
  type AdvertisedKeys,
  type EncryptedShare,
  type KeyRoster,
  type RevealedShare,
  type SurvivorSignature,
  type UnmaskResponse,
} from './wire.js';

/**
 * One site's side of one SecAgg+ round (Bonawitz et al. 2017 with the SecAgg+ graph of Bell et
 * al. 2020). Each step checks the state first, works on copies, and sets the next state last;
 * a step that fails because a peer or the coordinator misbehaved leaves the site Failed, and a
 * failed site answers nothing more this round.
 *
 *   advertise()          Created        -> Advertised      signed X25519 keys + commitments
 *   shareKeys(roster)    Advertised     -> SharesSent      Shamir shares, sealed per neighbour
 *   receiveShares(...)   SharesSent     -> SharesReceived  neighbours' shares, opened and kept
 *   mask(quantized)      SharesReceived -> Masked          y = x + PRG(b_u) + sum_v +-PRG(s_uv)
 *   signSurvivors(set)   Masked         -> Signed          its signature on the one survivor set
 *                                                          it will ever answer for
 *   unmask(request)      Signed         -> Unmasked        only for that set, with a quorum of
 *                                                          survivors' signatures on it: b shares
 *                                                          of survivors, key shares of dropped
 *                                                          neighbours, never both
 */
export enum SecAggSiteState {
  Created = 'created',
  Advertised = 'advertised',
  SharesSent = 'shares-sent',
  SharesReceived = 'shares-received',
  Masked = 'masked',
  Signed = 'signed',
  Unmasked = 'unmasked',
  Failed = 'failed',
}

export interface SecAggSiteOptions {
  readonly site: string;
  /** The site's long-term Ed25519 identity, which signs its round keys. */
  readonly identity: IdentityKeyPair;
  readonly round: SecAggRoundSpec;
  /** Pinned Ed25519 identity keys of the enrolled sites, to check neighbours' round keys. */
  readonly identityOf: (site: string) => Uint8Array | undefined;
  /** Randomness for keys, seeds and Shamir coefficients; tests inject a seeded source. */
  readonly randomBytes?: (length: number) => Uint8Array;
}

interface HeldShares {
  readonly selfMask: Uint8Array;
  readonly maskKey: Uint8Array;
}

export class SecAggSite {
  private stateValue = SecAggSiteState.Created;
  private readonly contextHash: Uint8Array;
  private readonly maskSecretKey: Uint8Array;
  private readonly maskPublicKey: Uint8Array;
  private readonly encryptionSecretKey: Uint8Array;
  private readonly encryptionPublicKey: Uint8Array;
  /** b_u, the self-mask seed. */
  private readonly selfMaskSeed: Uint8Array;
  private graph: NeighbourGraph | undefined;
  /** U1: the graph's members as the roster listed them. */
  private graphMembers: readonly string[] = [];
  /** The survivor set this site signed, and the bytes it signed. */
  private signed: { readonly survivors: readonly string[]; readonly bytes: Uint8Array } | undefined;
  private neighbourKeys = new Map<string, AdvertisedKeys>();
  /** Shares held for each neighbour whose shares arrived: the live neighbours. */
  private held = new Map<string, HeldShares>();

  constructor(
    private readonly sodium: Sodium,
    private readonly options: SecAggSiteOptions,
  ) {
    const random = options.randomBytes ?? ((n: number) => sodium.randombytes_buf(n));
    this.contextHash = roundContextHash(sodium, options.round.context);
    this.maskSecretKey = random(32);
    this.maskPublicKey = sodium.crypto_scalarmult_base(this.maskSecretKey);
    this.encryptionSecretKey = random(32);
    this.encryptionPublicKey = sodium.crypto_scalarmult_base(this.encryptionSecretKey);
    this.selfMaskSeed = random(32);
  }

  get state(): SecAggSiteState {
    return this.stateValue;
  }

  get site(): string {
    return this.options.site;
  }

  /** The live neighbours, known once shares have been received. */
  get liveNeighbours(): readonly string[] {
    return [...this.held.keys()];
  }

  /** AdvertiseKeys: the two public keys and the commitments, signed with the identity. */
  advertise(): Result<AdvertisedKeys> {
    if (this.stateValue !== SecAggSiteState.Created) return this.outOfStep('advertise');
    const keys = signRoundKeys(
      this.sodium,
      this.contextHash,
      {
        site: this.options.site,
        maskPublicKey: this.maskPublicKey,
        encryptionPublicKey: this.encryptionPublicKey,
        selfMaskCommitment: shamirCommitment(this.sodium, this.selfMaskSeed),
        maskKeyCommitment: shamirCommitment(this.sodium, this.maskSecretKey),
      },
      this.options.identity.privateKey,
    );
    this.stateValue = SecAggSiteState.Advertised;
    return ok(keys);
  }

  /**
   * ShareKeys: draws the graph from the roster's participants, checks every neighbour's
   * signed keys, and seals to each neighbour its Shamir shares of b_u and of the mask secret
   * key (share index = the neighbour's position in this site's neighbour list, from 1).
   */
  shareKeys(raw: KeyRoster): Result<EncryptedShare[]> {
    if (this.stateValue !== SecAggSiteState.Advertised) return this.outOfStep('shareKeys');
    const result = this.buildShares(raw);
    this.stateValue = result.ok ? SecAggSiteState.SharesSent : SecAggSiteState.Failed;
    return result;
  }

  private buildShares(raw: KeyRoster): Result<EncryptedShare[]> {
    const parsed = parseWith(keyRosterSchema, raw, 'secagg.bad_request', 'key roster');
    if (!parsed.ok) return parsed;
    const roster = parsed.value;
    const { round } = this.options;
    const invited = new Set(round.participants);
    const outsider = roster.participants.find((site) => !invited.has(site));
    if (outsider !== undefined) {
      return fail('secagg.bad_request', `the roster lists ${outsider}, not a participant`);
    }
    const graph = neighbourGraph(this.sodium, {
      seed: round.graphSeed,
      round: round.context.round,
      attempt: round.context.attempt,
      participants: roster.participants,
      degree: round.degree,
      threshold: round.threshold,
    });
    if (!graph.ok) return graph;
    const neighbours = graph.value.neighbours.get(this.options.site);
    if (neighbours === undefined) {
      return fail('secagg.unknown_site', `${this.options.site} is not among the participants`);
    }
    const keys = new Map<string, AdvertisedKeys>();
    for (const neighbour of neighbours) {
      const advertised = roster.keys.find((k) => k.site === neighbour);
      if (advertised === undefined) {
        return fail('secagg.bad_request', `the roster has no keys for neighbour ${neighbour}`);
      }
      const verified = verifyRoundKeys(
        this.sodium,
        this.contextHash,
        advertised,
        this.options.identityOf(neighbour),
      );
      if (!verified.ok) return verified;
      keys.set(neighbour, verified.value);
    }

    const random = this.options.randomBytes;
    const split = (secret: Uint8Array) =>
      splitSecret(
        this.sodium,
        secret,
        { threshold: graph.value.threshold, shares: neighbours.length },
        random,
      );
    const selfMask = split(this.selfMaskSeed);
    if (!selfMask.ok) return selfMask;
    const maskKey = split(this.maskSecretKey);
    if (!maskKey.ok) return maskKey;

    const out: EncryptedShare[] = [];
    for (let i = 0; i < neighbours.length; i++) {
      const to = neighbours[i]!;
      const plaintext = new Uint8Array(SHARE_PLAINTEXT_BYTES);
      plaintext[0] = i + 1;
      plaintext.set(selfMask.value.shares[i]!.value, 1);
      plaintext.set(maskKey.value.shares[i]!.value, 33);
      const sealed = sealShare(
        this.sodium,
        this.contextHash,
        {
          site: this.options.site,
          publicKey: this.encryptionPublicKey,
          secretKey: this.encryptionSecretKey,
        },
        { site: to, publicKey: keys.get(to)!.encryptionPublicKey },
        plaintext,
      );
      this.sodium.memzero(plaintext);
      if (!sealed.ok) return sealed;
      out.push({ from: this.options.site, to, ciphertext: sealed.value });
    }
    for (const share of [...selfMask.value.shares, ...maskKey.value.shares]) {
      this.sodium.memzero(share.value as Uint8Array);
    }
    this.graph = graph.value;
    this.graphMembers = [...roster.participants].sort();
    this.neighbourKeys = keys;
    return ok(out);
  }

  /**
   * Opens the shares relayed to this site. Their senders are its live neighbours: the ones it
   * will mask with. Fewer than t live neighbours means its own secrets could not be rebuilt,
   * so the site stops here (`secagg.insufficient_shares`).
   */
  receiveShares(raw: readonly EncryptedShare[]): Result<{ readonly live: readonly string[] }> {
    if (this.stateValue !== SecAggSiteState.SharesSent) return this.outOfStep('receiveShares');
    const result = this.openShares(raw);
    this.stateValue = result.ok ? SecAggSiteState.SharesReceived : SecAggSiteState.Failed;
    return result;
  }

  private openShares(raw: readonly EncryptedShare[]): Result<{ readonly live: readonly string[] }> {
    const graph = this.graph!;
    const mine = graph.neighbours.get(this.options.site)!;
    const held = new Map<string, HeldShares>();
    for (const [i, item] of raw.entries()) {
      const parsed = parseWith(encryptedShareSchema, item, 'secagg.bad_share', `share ${i}`);
      if (!parsed.ok) return parsed;
      const share = parsed.value;
      if (share.to !== this.options.site) {
        return fail('secagg.share_rejected', `a share for ${share.to} was sent to ${this.site}`);
      }
      const senderKeys = this.neighbourKeys.get(share.from);
      if (!mine.includes(share.from) || senderKeys === undefined) {
        return fail('secagg.share_rejected', `a share from ${share.from}, not a neighbour`);
      }
      if (held.has(share.from)) return fail('secagg.duplicate', `two shares from ${share.from}`);
      const opened = openShare(
        this.sodium,
        this.contextHash,
        { site: share.from, publicKey: senderKeys.encryptionPublicKey },
        {
          site: this.options.site,
          publicKey: this.encryptionPublicKey,
          secretKey: this.encryptionSecretKey,
        },
        share.ciphertext,
      );
      if (!opened.ok) return opened;
      const expectedIndex = graph.neighbours.get(share.from)!.indexOf(this.options.site) + 1;
      if (opened.value[0] !== expectedIndex) {
        return fail(
          'secagg.bad_share',
          `share index ${opened.value[0]} from ${share.from}, expected ${expectedIndex}`,
        );
      }
      held.set(share.from, {
        selfMask: opened.value.slice(1, 33),
        maskKey: opened.value.slice(33, 65),
      });
      this.sodium.memzero(opened.value);
    }
    if (held.size < graph.threshold) {
      return fail(
        'secagg.insufficient_shares',
        `${held.size} live neighbours, the threshold is ${graph.threshold}`,
      );
    }
    this.held = held;
    return ok({ live: [...held.keys()] });
  }

  /**
   * MaskedInputCollection: y = x + PRG(b_u) + sum over live neighbours v of sign(u,v) PRG(s_uv)
   * mod 2^32, with sign + for the lower site name, so each pair's masks cancel in the sum.
   */
  mask(quantized: Uint32Array): Result<Uint32Array> {
    if (this.stateValue !== SecAggSiteState.SharesReceived) return this.outOfStep('mask');
    const { dimension } = this.options.round;
    if (quantized.length !== dimension) {
      return fail(
        'secagg.shape_mismatch',
        `${quantized.length} values, the round masks ${dimension}`,
      );
    }
    const masked = Uint32Array.from(quantized);
    applyMask(this.sodium, masked, this.selfMaskSeed, 1);
    for (const peer of this.held.keys()) {
      const seed = pairwiseSeed(
        this.sodium,
        this.contextHash,
        {
          site: this.options.site,
          secretKey: this.maskSecretKey,
          publicKey: this.maskPublicKey,
        },
        { site: peer, publicKey: this.neighbourKeys.get(peer)!.maskPublicKey },
      );
      if (!seed.ok) {
        this.stateValue = SecAggSiteState.Failed;
        return seed;
      }
      applyMask(this.sodium, masked, seed.value, pairwiseSign(this.options.site, peer));
      this.sodium.memzero(seed.value);
    }
    this.stateValue = SecAggSiteState.Masked;
    return ok(masked);
  }

  /**
   * ConsistencyCheck: signs the survivor set the coordinator announced, once. The set must be
   * sorted, drawn from the graph's members, hold this site (it sent its masked input) and be at
   * least the quorum: a coordinator cannot get a signature on a set too small to answer for.
   */
  signSurvivors(raw: unknown): Result<SurvivorSignature> {
    if (this.stateValue !== SecAggSiteState.Masked) return this.outOfStep('signSurvivors');
    const result = this.signSet(raw);
    if (result.ok) this.stateValue = SecAggSiteState.Signed;
    else this.fail();
    return result;
  }

  private signSet(raw: unknown): Result<SurvivorSignature> {
    const parsed = parseWith(survivorSetSchema, raw, 'secagg.bad_request', 'survivor set');
    if (!parsed.ok) return parsed;
    const { survivors } = parsed.value;
    const checked = checkSurvivorSet(survivors, new Set(this.graphMembers));
    if (!checked.ok) return checked;
    if (!survivors.includes(this.options.site)) {
      return fail('secagg.bad_request', `${this.site} sent its masked input but is not a survivor`);
    }
    const quorum = this.quorum();
    if (survivors.length < quorum) {
      return fail(
        'secagg.insufficient_signatures',
        `a survivor set of ${survivors.length}; the round needs at least ${quorum}`,
      );
    }
    const digest = roundDigest(
      this.sodium,
      this.options.round,
      this.options.identityOf,
      this.graphMembers,
    );
    const bytes = survivorSetBytes(this.contextHash, digest, survivors);
    this.signed = { survivors: [...survivors], bytes };
    const signature = this.sodium.crypto_sign_detached(bytes, this.options.identity.privateKey);
    return ok({ site: this.options.site, signature });
  }

  /**
   * Unmasking: only for the set this site signed, carrying a quorum of its members' signatures
   * on it, reveals for each live neighbour the b share if it survived or the mask-key share if
   * it dropped. A request that names a peer as both is refused (`secagg.refused`). A second
   * request of any kind is out of step: the two kinds cannot be had one at a time.
   */
  unmask(raw: unknown): Result<UnmaskResponse> {
    if (this.stateValue !== SecAggSiteState.Signed) return this.outOfStep('unmask');
    const result = this.answerUnmask(raw);
    this.stateValue = result.ok ? SecAggSiteState.Unmasked : SecAggSiteState.Failed;
    this.forgetSecrets();
    return result;
  }

  private answerUnmask(raw: unknown): Result<UnmaskResponse> {
    const parsed = parseWith(unmaskRequestSchema, raw, 'secagg.bad_request', 'unmask request');
    if (!parsed.ok) return parsed;
    const request = parsed.value;
    const signed = this.signed!;
    if (
      request.survivors.length !== signed.survivors.length ||
      request.survivors.some((site, i) => site !== signed.survivors[i])
    ) {
      return fail('secagg.inconsistent', 'the unmask request is not for the survivor set signed');
    }
    const survivors = new Set(request.survivors);
    const dropped = new Set(request.dropped);
    for (const peer of dropped) {
      if (survivors.has(peer)) {
        return fail(
          'secagg.refused',
          `asked for both the self-mask share and the mask-key share of ${peer}`,
        );
      }
    }
    const signers = validSigners(
      this.sodium,
      signed.bytes,
      signed.survivors,
      request.signatures,
      this.options.identityOf,
    );
    const quorum = this.quorum();
    if (signers.size < quorum) {
      return fail(
        'secagg.insufficient_signatures',
        `${signers.size} valid survivor signatures on the set; the round needs ${quorum}`,
      );
    }
    const selfMaskShares: RevealedShare[] = [];
    const maskKeyShares: RevealedShare[] = [];
    for (const [peer, shares] of this.held) {
      if (survivors.has(peer)) {
        selfMaskShares.push({ owner: peer, share: shares.selfMask.slice() });
      } else if (dropped.has(peer)) {
        maskKeyShares.push({ owner: peer, share: shares.maskKey.slice() });
      } else {
        return fail('secagg.bad_request', `live neighbour ${peer} is neither survivor nor dropped`);
      }
    }
    return ok({ site: this.options.site, selfMaskShares, maskKeyShares });
  }

  private quorum(): number {
    return consistencyQuorum(this.options.round.participants.length, this.graph!.threshold);
  }

  /** A site that refused forgets its secrets: it answers nothing more this attempt. */
  private fail(): void {
    this.stateValue = SecAggSiteState.Failed;
    this.forgetSecrets();
  }

  private forgetSecrets(): void {
    for (const secret of [this.maskSecretKey, this.encryptionSecretKey, this.selfMaskSeed]) {
      this.sodium.memzero(secret);
    }
    for (const shares of this.held.values()) {
      this.sodium.memzero(shares.selfMask);
      this.sodium.memzero(shares.maskKey);
    }
  }

  private outOfStep<T>(step: string): Result<T> {
    return fail('secagg.unexpected_step', `${step} in state ${this.stateValue}`);
  }
}
