import {
  loadSodium,
  SecAggServer,
  SecAggSite,
  unwrap,
  type EncryptedShare,
  type IdentityKeyPair,
  type NeighbourGraph,
  type SecAggRoundSpec,
  type Sodium,
} from '../../protocol/index.js';

/** Sites up to the point where every one holds its neighbours' shares. */
export interface SharedRound {
  readonly parties: ReadonlyMap<string, SecAggSite>;
  readonly server: SecAggServer;
  readonly relayed: ReadonlyMap<string, EncryptedShare[]>;
  readonly graph: NeighbourGraph;
}

/**
 * A federation of named sites with identity keys, for driving the real SecAgg+ site and
 * coordinator code in process: the honest coordinator, or a test playing a dishonest one.
 */
export class SecAggFederation {
  private constructor(
    readonly sodium: Sodium,
    readonly names: readonly string[],
    private readonly identities: ReadonlyMap<string, IdentityKeyPair>,
  ) {}

  static async create(count: number): Promise<SecAggFederation> {
    const sodium = await loadSodium();
    const names = Array.from({ length: count }, (_, i) => `site-${String(i).padStart(2, '0')}`);
    const identities = new Map(names.map((name) => [name, sodium.crypto_sign_keypair()]));
    return new SecAggFederation(sodium, names, identities);
  }

  identity(site: string): IdentityKeyPair {
    return this.identities.get(site)!;
  }

  readonly identityOf = (site: string): Uint8Array | undefined =>
    this.identities.get(site)?.publicKey;

  /** A deterministic byte source, so masked outputs replay exactly. */
  seededBytes(seed: string): (length: number) => Uint8Array {
    let counter = 0;
    return (length) =>
      this.sodium.randombytes_buf_deterministic(
        length,
        this.sodium.crypto_generichash(32, `${seed}/${counter++}`, null),
      );
  }

  /** A round of the first `sites` names (5 unless said). */
  spec(options: {
    readonly degree: number;
    readonly threshold: number;
    readonly dimension: number;
    readonly sites?: number;
    readonly round?: number;
    readonly attempt?: number;
  }): SecAggRoundSpec {
    return {
      context: { runId: 'run-1', round: options.round ?? 3, attempt: options.attempt ?? 0 },
      participants: this.names.slice(0, options.sites ?? 5),
      graphSeed: 42,
      degree: options.degree,
      threshold: options.threshold,
      dimension: options.dimension,
    };
  }

  site(site: string, round: SecAggRoundSpec): SecAggSite {
    return new SecAggSite(this.sodium, {
      site,
      identity: this.identity(site),
      round,
      identityOf: this.identityOf,
      randomBytes: this.seededBytes(`${site}/${round.context.round}/${round.context.attempt}`),
    });
  }

  /** The round's participants advertise, share (all but `dropBeforeSharing`) and are relayed. */
  setUp(round: SecAggRoundSpec, dropBeforeSharing: readonly string[] = []): SharedRound {
    const parties = new Map(round.participants.map((site) => [site, this.site(site, round)]));
    const server = new SecAggServer(this.sodium, { round, identityOf: this.identityOf });
    for (const party of parties.values()) unwrap(server.receiveKeys(unwrap(party.advertise())));
    const rosters = unwrap(server.rosters());
    for (const [site, party] of parties) {
      const shares = unwrap(party.shareKeys(rosters.get(site)!));
      if (!dropBeforeSharing.includes(site)) unwrap(server.receiveShares(site, shares));
    }
    const relayed = unwrap(server.relay());
    return { parties, server, relayed, graph: server.neighbours! };
  }

  /**
   * The honest consistency round: the coordinator announces the survivor set, each survivor
   * but the `silent` signs it, and the request carries the signatures.
   */
  consistencyRound(
    shared: SharedRound,
    silent: readonly string[] = [],
  ): ReturnType<SecAggServer['unmaskRequest']> {
    const { server, parties } = shared;
    const set = server.survivorSet();
    if (!set.ok) return set;
    for (const site of set.value.survivors) {
      if (silent.includes(site)) continue;
      unwrap(server.receiveSignature(site, unwrap(parties.get(site)!.signSurvivors(set.value))));
    }
    return server.unmaskRequest();
  }
}
