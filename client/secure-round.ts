import {
  addModular,
  DiscreteGaussian,
  identityTable,
  quantizationParams,
  quantize,
  SecAggSite,
  secAggRoundSpec,
  uint32ToBytes,
  ok,
  type AdvertisedKeys,
  type EncryptedShare,
  type IdentityKeyPair,
  type KeyRoster,
  type NamedTensor,
  type Result,
  type SecureRound,
  type Sodium,
  type SurvivorSignature,
  type UnmaskResponse,
} from '../protocol/index.js';

/**
 * A site's part in one securely aggregated round (PROTOCOL.md section 11): its SecAgg+ state,
 * and the wait for its neighbours' shares, which must be in before the update is masked (a site
 * that masks without them could not be unmasked if it dropped).
 */
export class SiteSecureRound {
  private readonly secagg: SecAggSite;
  private readonly settings: SecureRound;
  private sharesReceived!: () => void;
  private readonly sharesIn: Promise<void>;

  constructor(
    private readonly sodium: Sodium,
    options: {
      readonly site: string;
      readonly identity: IdentityKeyPair;
      readonly runId: string;
      readonly round: number;
      readonly settings: SecureRound;
      readonly dimension: number;
    },
  ) {
    const settings = (this.settings = options.settings);
    this.secagg = new SecAggSite(sodium, {
      site: options.site,
      identity: options.identity,
      round: secAggRoundSpec(options.runId, options.round, settings, options.dimension),
      identityOf: identityTable(settings.identities),
    });
    this.sharesIn = new Promise((resolve) => (this.sharesReceived = resolve));
  }

  /** The round keys to advertise (signed with the site's identity key). */
  keys(): Result<AdvertisedKeys> {
    return this.secagg.advertise();
  }

  /** The shares for each neighbour, sealed to it, once the coordinator sent the roster. */
  share(roster: KeyRoster): Result<EncryptedShare[]> {
    return this.secagg.shareKeys(roster);
  }

  /** The neighbours' shares for this site. */
  receive(shares: readonly EncryptedShare[]): Result<true> {
    const received = this.secagg.receiveShares(shares);
    if (!received.ok) return received;
    this.sharesReceived();
    return ok(true);
  }

  /**
   * The update as the coordinator will see it: flattened in layout order, each coordinate
   * clipped and stochastically rounded (unbiased) to the round's fixed point, with distributed
   * DP this site's share of the noise added on the grid, then masked.
   */
  async masked(delta: readonly NamedTensor[]): Promise<Result<Uint8Array>> {
    await this.sharesIn;
    const { clip, participants, levels, noiseSigma2 } = this.settings;
    const params = quantizationParams({ clip, sites: participants.length, levels });
    if (!params.ok) return params;
    const flat = new Float64Array(delta.reduce((n, t) => n + t.values.length, 0));
    let offset = 0;
    for (const tensor of delta) {
      flat.set(tensor.values, offset);
      offset += tensor.values.length;
    }
    // 32 random bits per coordinate are plenty for the rounding's coin.
    const random = () => this.sodium.randombytes_random() / 2 ** 32;
    const quantized = quantize(flat, params.value, { kind: 'stochastic', random });
    if (!quantized.ok) return quantized;
    let input = quantized.value;
    if (noiseSigma2 !== undefined) {
      // Exact integer noise on the grid: no double ever carries it (PROTOCOL.md section 11).
      const gaussian = DiscreteGaussian.create(noiseSigma2);
      if (!gaussian.ok) return gaussian;
      input = addModular(input, () => gaussian.value.sample());
    }
    const masked = this.secagg.mask(input);
    return masked.ok ? ok(uint32ToBytes(masked.value)) : masked;
  }

  /** The site's signature on the survivor set: the only set it will reveal shares for. */
  signSurvivors(set: unknown): Result<SurvivorSignature> {
    return this.secagg.signSurvivors(set);
  }

  /**
   * The shares the coordinator asks for: refused unless the request is for the signed set with
   * a quorum of survivors' signatures, and when it asks for both kinds of one peer.
   */
  unmask(request: unknown): Result<UnmaskResponse> {
    return this.secagg.unmask(request);
  }
}
