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
  type Result,
  type SecureRound,
  type Sodium,
} from '../../protocol/index.js';

type Stage = 'keys' | 'shares' | 'masked' | 'unmask' | 'ended';

/** What the coordinator learns from a secure round: the sum of the survivors' updates. */
export interface SecureSum {
  /** Sum over the survivors of their clipped updates, flattened in layout order. */
  readonly sum: Float64Array;
  readonly survivors: readonly string[];
  readonly dropped: readonly string[];
}

export interface SecureRoundOptions {
  readonly sodium: Sodium;
  readonly runId: string;
  readonly round: number;
  readonly settings: SecureRound;
  readonly dimension: number;
  /** How long each stage waits for the sites it expects; the rest count as dropped. */
  readonly stageMs: number;
  readonly send: (site: string, message: CoordinatorMessage) => void;
  /** Called once: with the sum, or with why the round cannot be unmasked. */
  readonly done: (outcome: Result<SecureSum>) => void;
}

/**
 * The coordinator's part in one securely aggregated round (PROTOCOL.md section 11). Each stage
 * waits for the sites it expects (or its time) and then moves on with those that answered:
 * keys -> rosters; shares -> relay; masked updates -> unmask request; unmask answers -> the sum.
 * A site that leaves is no longer waited for. The coordinator only relays sealed shares and
 * public keys, and learns nothing but the sum.
 */
export class CoordinatorSecureRound {
  private readonly server: SecAggServer;
  private stage: Stage = 'keys';
  private expected: Set<string>;
  private timer: NodeJS.Timeout;

  constructor(private readonly options: SecureRoundOptions) {
    const { sodium, runId, round, settings, dimension } = options;
    this.server = new SecAggServer(sodium, {
      round: secAggRoundSpec(runId, round, settings, dimension),
      identityOf: identityTable(settings.identities),
    });
    this.expected = new Set(settings.participants);
    this.timer = this.armStage();
  }

  private armStage(): NodeJS.Timeout {
    const stage = this.stage;
    return setTimeout(() => this.advance(stage), this.options.stageMs);
  }

  /**
   * Moves on once the caller's handler has finished: advancing can end the round and open the
   * next attempt, which must not happen in the middle of handling this attempt's message.
   */
  private advanceSoon(): void {
    const stage = this.stage;
    queueMicrotask(() => this.advance(stage));
  }

  /** Whether the round still waits on this site's masked update. */
  awaitsMasked(site: string): boolean {
    return this.stage === 'masked' && this.expected.has(site);
  }

  keys(site: string, keys: unknown): Result<true> {
    if (this.stage !== 'keys' || !this.expected.has(site)) return this.unexpected('secagg.keys');
    const received = this.server.receiveKeys(keys);
    if (!received.ok) return received;
    if (received.value.site !== site) {
      return fail('secagg.bad_signature', `${site} advertised keys for ${received.value.site}`);
    }
    return this.answered(site);
  }

  shares(site: string, shares: readonly unknown[]): Result<true> {
    if (this.stage !== 'shares' || !this.expected.has(site))
      return this.unexpected('secagg.shares');
    const received = this.server.receiveShares(site, shares);
    return received.ok ? this.answered(site) : received;
  }

  masked(site: string, bytes: Uint8Array): Result<true> {
    if (!this.awaitsMasked(site)) return this.unexpected('masked update');
    if (bytes.length !== 4 * this.options.dimension) {
      return fail(
        'update.shape_mismatch',
        `a masked update has ${this.options.dimension} values, not ${bytes.length / 4}`,
      );
    }
    const received = this.server.receiveMasked(site, bytesToUint32(bytes));
    return received.ok ? this.answered(site) : received;
  }

  unmasked(site: string, response: unknown): Result<true> {
    if (this.stage !== 'unmask' || !this.expected.has(site)) {
      return this.unexpected('secagg.unmask_response');
    }
    const received = this.server.receiveUnmask(response);
    return received.ok ? this.answered(site) : received;
  }

  /** A site left: the stage stops waiting for it. */
  left(site: string): void {
    if (this.expected.delete(site) && this.expected.size === 0) this.advanceSoon();
  }

  /** The round is over for another reason (cancelled, closed): nothing more happens. */
  end(): void {
    clearTimeout(this.timer);
    this.stage = 'ended';
  }

  private unexpected(what: string): Result<true> {
    return fail('protocol.unexpected_message', `${what} in the ${this.stage} stage`);
  }

  private answered(site: string): Result<true> {
    this.expected.delete(site);
    if (this.expected.size === 0) this.advanceSoon();
    return ok(true);
  }

  /** Moves from `stage` to the next with whoever answered, or ends the round. */
  private advance(stage: Stage): void {
    // Already moved on (the timer and the last answer can both ask).
    if (this.stage !== stage) return;
    clearTimeout(this.timer);
    const next = this.next();
    if (!next.ok) return this.finish(next);
    if (this.stage !== 'ended') this.timer = this.armStage();
  }

  private next(): Result<true> {
    const { runId, round, send } = this.options;
    switch (this.stage) {
      case 'keys': {
        const rosters = this.server.rosters();
        if (!rosters.ok) return rosters;
        for (const [site, roster] of rosters.value) {
          send(site, { type: 'secagg.roster', runId, round, roster });
        }
        return this.enter('shares', rosters.value.keys());
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
        return this.enter('masked', relay.value.keys());
      }
      case 'masked': {
        const request = this.server.unmaskRequest();
        if (!request.ok) return request;
        for (const site of request.value.survivors) {
          send(site, { type: 'secagg.unmask', runId, round, request: request.value });
        }
        return this.enter('unmask', request.value.survivors);
      }
      case 'unmask': {
        const recovered = this.server.recover();
        if (!recovered.ok) return recovered;
        const { settings } = this.options;
        const params = unwrap(
          quantizationParams({
            clip: settings.clip,
            sites: settings.participants.length,
            levels: settings.levels,
          }),
        );
        const { survivors, dropped } = recovered.value;
        const sum = dequantizeSum(recovered.value.sum, params, survivors.length);
        if (!sum.ok) return sum;
        this.finish(ok({ sum: sum.value, survivors, dropped }));
        return ok(true);
      }
      case 'ended':
        return ok(true);
    }
  }

  private enter(stage: Stage, sites: Iterable<string>): Result<true> {
    this.stage = stage;
    this.expected = new Set(sites);
    // Nobody to wait for (everyone left): move on at once.
    if (this.expected.size === 0) return this.next();
    return ok(true);
  }

  private finish(outcome: Result<SecureSum> | { ok: false; error: FedistillIssue }): void {
    this.end();
    this.options.done(outcome);
  }
}
