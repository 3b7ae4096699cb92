import {
  bytesToUint32,
  dequantizeSum,
  fail,
  identityTable,
  ok,
  quantizationParams,
  SecAggServer,
  secAggRoundSpec,
  unwrap,
  type CoordinatorMessage,
  type FedistillIssue,
  type NamedTensor,
  type Result,
  type SecureRound,
  type Sodium,
} from '../../../protocol/index.js';
import type {
  FoldedUpdate,
  FoldMessage,
  FoldResult,
  RoundFold,
  StageEnd,
} from '../round/round-fold.js';
import {
  EdgeContributions,
  gatheredEvent,
  type FoldEdges,
  type Gathered,
} from '../round/edge-partials.js';
import { survivorsMean } from './survivors-mean.js';

type Stage = 'keys' | 'shares' | 'masked' | 'consistency' | 'unmask' | 'ended';

export interface SecureFoldOptions {
  readonly sodium: Sodium;
  readonly runId: string;
  readonly round: number;
  readonly settings: SecureRound;
  readonly global: readonly NamedTensor[];
  readonly dimension: number;
  /** Fewer survivors than this and the attempt fails: nothing is applied. */
  readonly quorum: number;
  /** The stages' messages to one site (rosters, relayed shares, unmask requests). */
  readonly send: (site: string, message: CoordinatorMessage) => void;
  /** Edge nodes that may sum the masked inputs of their sites; none on a single node. */
  readonly edges?: FoldEdges | undefined;
}

/**
 * The coordinator's part in one securely aggregated attempt (PROTOCOL.md section 11), as a fold:
 * keys -> rosters; shares -> relay; masked updates -> survivor set; signatures on it -> unmask
 * request (the set and its signatures); unmask answers -> the sum,
 * and the next model is the global model plus the survivors' mean. The coordinator only relays
 * sealed shares and public keys, and learns nothing but the sum. With distributed differential
 * privacy the sites' noise is already in the sum.
 */
export class SecureFold implements RoundFold {
  readonly resumable = false;
  readonly roundStart: { readonly secureAggregation: SecureRound };
  private readonly server: SecAggServer;
  private current: Stage = 'keys';
  /** Masked inputs summed at edge nodes, added to the server's sum when the stage ends. */
  private readonly atEdges: EdgeContributions | undefined;
  private gathered: Gathered | undefined;

  constructor(private readonly options: SecureFoldOptions) {
    const { sodium, runId, round, settings, dimension } = options;
    this.roundStart = { secureAggregation: settings };
    this.server = new SecAggServer(sodium, {
      round: secAggRoundSpec(runId, round, settings, dimension),
      identityOf: identityTable(settings.identities),
    });
    this.atEdges =
      options.edges && EdgeContributions.open(options.edges, { kind: 'masked', dimension });
  }

  get stage(): string {
    return this.current;
  }

  update(site: string, update: FoldedUpdate): Result<true> {
    if (this.current !== 'masked') return this.unexpected('masked update');
    if ('atEdge' in update) {
      if (!this.atEdges) return this.unexpected('update summed at an edge');
      // What the server would refuse now is refused now, not when the edge's sum comes in.
      const may = this.server.mayMask(site);
      if (!may.ok) return may;
      this.atEdges.record(site, update);
      return ok(true);
    }
    return this.receiveMasked(site, update.bytes);
  }

  private receiveMasked(site: string, bytes: Uint8Array): Result<true> {
    if (bytes.length !== 4 * this.options.dimension) {
      return fail(
        'update.shape_mismatch',
        `a masked update has ${this.options.dimension} values, not ${bytes.length / 4}`,
      );
    }
    const received = this.server.receiveMasked(site, bytesToUint32(bytes));
    return received.ok ? ok(true) : received;
  }

  step(site: string, message: FoldMessage): Result<true> {
    switch (message.type) {
      case 'secagg.keys': {
        if (this.current !== 'keys') return this.unexpected(message.type);
        const received = this.server.receiveKeys(message.keys);
        if (!received.ok) return received;
        return received.value.site === site
          ? ok(true)
          : fail('secagg.bad_signature', `${site} advertised keys for ${received.value.site}`);
      }
      case 'secagg.shares': {
        if (this.current !== 'shares') return this.unexpected(message.type);
        const received = this.server.receiveShares(site, message.shares);
        return received.ok ? ok(true) : received;
      }
      case 'secagg.signature': {
        if (this.current !== 'consistency') return this.unexpected(message.type);
        const received = this.server.receiveSignature(site, message.signature);
        return received.ok ? ok(true) : received;
      }
      case 'secagg.unmask_response': {
        if (this.current !== 'unmask') return this.unexpected(message.type);
        const received = this.server.receiveUnmask(message.response);
        return received.ok ? ok(true) : received;
      }
      default: {
        const unreachable: never = message;
        return unreachable;
      }
    }
  }

  endStage(): StageEnd | Promise<StageEnd> {
    const atEdges = this.atEdges;
    if (this.current !== 'masked' || !atEdges?.any) return this.endNow();
    // The edges' sums of masked inputs join the server's before the survivor set is drawn.
    return atEdges
      .gather(
        ({ bytes, entries }) =>
          this.server.receiveMaskedSum(
            entries.map((e) => e.site),
            bytesToUint32(bytes),
          ),
        (site, bytes) => this.receiveMasked(site, bytes),
      )
      .then((gathered) => {
        if (!gathered.ok) return this.failed(gathered.error, false);
        this.gathered = gathered.value;
        return this.endNow();
      });
  }

  private endNow(): StageEnd {
    const unmasking = this.current === 'unmask';
    const next = this.next();
    return next.ok ? next.value : this.failed(next.error, unmasking);
  }

  private failed(issue: FedistillIssue, unmasking: boolean): StageEnd {
    this.current = 'ended';
    return {
      result: {
        ok: false,
        ...(unmasking ? { revealed: true } : {}),
        reason: `secure aggregation failed: ${issue.message}`,
        issue,
        audit: {
          event: 'secagg.failed',
          round: this.options.round,
          attempt: this.options.settings.attempt + 1,
          code: issue.code,
        },
      },
    };
  }

  end(): void {
    this.current = 'ended';
  }

  private unexpected(what: string): Result<true> {
    return fail('protocol.unexpected_message', `${what} in the ${this.current} stage`);
  }

  private next(): Result<StageEnd> {
    const { runId, round, send } = this.options;
    switch (this.current) {
      case 'keys': {
        const rosters = this.server.rosters();
        if (!rosters.ok) return rosters;
        for (const [site, roster] of rosters.value) {
          send(site, { type: 'secagg.roster', runId, round, roster });
        }
        return ok(this.enter('shares', rosters.value.keys()));
      }
      case 'shares': {
        const relay = this.server.relay();
        if (!relay.ok) return relay;
        // A site with fewer than t neighbours left to hold its shares could never be unmasked
        // if it dropped, and it refuses to mask: the round fails here rather than time out.
        const { threshold } = this.options.settings;
        for (const [site, shares] of relay.value) {
          if (shares.length < threshold) {
            return fail(
              'secagg.insufficient_shares',
              `${site} has ${shares.length} neighbours left, the threshold is ${threshold}`,
            );
          }
        }
        for (const [site, shares] of relay.value) {
          send(site, { type: 'secagg.relay', runId, round, shares });
        }
        return ok(this.enter('masked', relay.value.keys()));
      }
      case 'masked': {
        const set = this.server.survivorSet();
        if (!set.ok) return set;
        // A sum of fewer updates than the quorum carries less noise than the ledger assumes:
        // it is never asked for, so it is never revealed.
        const { survivors } = set.value;
        if (survivors.length < this.options.quorum) {
          this.current = 'ended';
          return ok({
            result: {
              ok: false,
              reason: `${survivors.length} of ${this.options.quorum} required updates arrived`,
            },
          });
        }
        for (const site of set.value.survivors) {
          send(site, { type: 'secagg.survivors', runId, round, set: set.value });
        }
        return ok(this.enter('consistency', set.value.survivors));
      }
      case 'consistency': {
        const request = this.server.unmaskRequest();
        if (!request.ok) return request;
        const signers = this.server.signers;
        for (const site of signers) {
          send(site, { type: 'secagg.unmask', runId, round, request: request.value });
        }
        return ok(this.enter('unmask', signers));
      }
      case 'unmask': {
        this.current = 'ended';
        const result = this.unmasked();
        return result.ok ? ok({ result: result.value }) : result;
      }
      case 'ended':
        return fail('protocol.unexpected_message', 'the secure attempt has ended');
    }
  }

  private enter(stage: Stage, sites: Iterable<string>): StageEnd {
    this.current = stage;
    return { stage, awaiting: sites };
  }

  /** The survivors' sum, recovered and dequantized, as the next model. */
  private unmasked(): Result<FoldResult> {
    const recovered = this.server.recover();
    if (!recovered.ok) return recovered;
    const { settings, global } = this.options;
    const params = unwrap(
      quantizationParams({
        clip: settings.clip,
        sites: settings.participants.length,
        levels: settings.levels,
      }),
    );
    const { survivors } = recovered.value;
    const sum = dequantizeSum(recovered.value.sum, params, survivors.length);
    if (!sum.ok) return sum;
    const model = survivorsMean(global, sum.value, survivors.length);
    return ok({
      ok: true,
      model,
      ...(this.gathered ? { audit: [gatheredEvent(this.gathered)] } : {}),
    });
  }
}
