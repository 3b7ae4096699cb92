import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { SecAggFederation } from '../support/secagg-parties.js';
import {
  binomialTail,
  degreeFor,
  dequantizeSum,
  neighbourGraph,
  quantizationErrorBound,
  quantizationParams,
  quantize,
  SecAggServer,
  SecAggServerState,
  SecAggSite,
  seededRandom,
  uint32ToBytes,
  unwrap,
  type EncryptedShare,
  type NeighbourGraph,
  type QuantizationParams,
  type RecoveredSum,
  type Result,
  type SecAggRoundSpec,
  type Sodium,
} from '../../protocol/index.js';

let federation: SecAggFederation;
let sodium: Sodium;
let names: readonly string[];
let identityOf: SecAggFederation['identityOf'];

before(async () => {
  federation = await SecAggFederation.create(12);
  ({ sodium, names, identityOf } = federation);
});

const spec = (options: Parameters<SecAggFederation['spec']>[0]) => federation.spec(options);
const setUp = (round: SecAggRoundSpec, dropBeforeSharing?: string[]) =>
  federation.setUp(round, dropBeforeSharing);

interface RoundOutcome {
  readonly result: Result<RecoveredSum>;
  readonly inputs: ReadonlyMap<string, Float32Array>;
  readonly params: QuantizationParams;
}

/**
 * One whole round in process. `dropAfterSharing` sites shared keys but send no masked input;
 * `silentAtUnmask` survivors send no shares back.
 */
function runRound(options: {
  sites: number;
  dimension: number;
  degree: number;
  threshold: number;
  dropAfterSharing?: (graph: NeighbourGraph) => string[];
  silentAtUnmask?: string[];
  rounding?: 'nearest' | 'stochastic';
}): RoundOutcome {
  const sites = names.slice(0, options.sites);
  const round = spec(options);
  const shared = setUp(round);
  const { parties, server, relayed, graph } = shared;
  const params = unwrap(quantizationParams({ clip: 0.5, sites: sites.length }));
  const random = seededRandom(11);
  const dropped = options.dropAfterSharing?.(graph) ?? [];
  const inputs = new Map<string, Float32Array>();
  for (const [site, party] of parties) {
    unwrap(party.receiveShares(relayed.get(site)!));
    const x = Float32Array.from({ length: options.dimension }, () => (random() - 0.5) * 1.2);
    inputs.set(site, x);
    const rounding =
      options.rounding === 'stochastic'
        ? { kind: 'stochastic' as const, random: seededRandom(site.length) }
        : { kind: 'nearest' as const };
    const masked = unwrap(party.mask(unwrap(quantize(x, params, rounding))));
    if (!dropped.includes(site)) unwrap(server.receiveMasked(site, masked));
  }
  const request = federation.consistencyRound(shared);
  if (!request.ok) return { result: request, inputs, params };
  for (const site of request.value.survivors) {
    const response = unwrap(parties.get(site)!.unmask(request.value));
    if (!options.silentAtUnmask?.includes(site)) unwrap(server.receiveUnmask(response));
  }
  return { result: server.recover(), inputs, params };
}

/** The recovered sum against the plain sum of the survivors' clipped inputs. */
function assertSumMatches(outcome: RoundOutcome, rounding: 'nearest' | 'stochastic'): void {
  const { sum, survivors } = unwrap(outcome.result);
  const back = unwrap(dequantizeSum(sum, outcome.params, survivors.length));
  const bound = quantizationErrorBound(outcome.params, survivors.length, rounding);
  let worst = 0;
  for (let i = 0; i < back.length; i++) {
    let plain = 0;
    for (const site of survivors)
      plain += Math.min(0.5, Math.max(-0.5, outcome.inputs.get(site)![i]!));
    worst = Math.max(worst, Math.abs(back[i]! - plain));
  }
  assert.ok(worst <= bound, `worst error ${worst} over the bound ${bound}`);
}

describe('SecAgg+ round', () => {
  it('the unmasked sum of 10 sites x 10k parameters equals the plain sum within the bound', () => {
    const outcome = runRound({ sites: 10, dimension: 10_000, degree: 9, threshold: 5 });
    assert.equal(unwrap(outcome.result).survivors.length, 10);
    assertSumMatches(outcome, 'nearest');
  });

  it('with sites dropped after sharing, down to the quorum, the survivors sum is recovered', () => {
    // Complete graph of 10 (k = 9, t = 5), quorum 7: three may drop after sharing.
    const outcome = runRound({
      sites: 10,
      dimension: 2000,
      degree: 9,
      threshold: 5,
      rounding: 'stochastic',
      dropAfterSharing: () => names.slice(2, 5),
    });
    const recovered = unwrap(outcome.result);
    assert.deepEqual(recovered.dropped, names.slice(2, 5));
    assert.equal(recovered.survivors.length, 7);
    assertSumMatches(outcome, 'stochastic');
  });

  it('recovers on a sparse graph with a dropped site in the middle of a ring', () => {
    const outcome = runRound({
      sites: 12,
      dimension: 1000,
      degree: 4,
      threshold: 3,
      dropAfterSharing: (graph) => [graph.order[5]!],
    });
    assertSumMatches(outcome, 'nearest');
  });

  it('with more than k - t dropped, recovery fails with insufficient_shares and no sum', () => {
    const outcome = runRound({
      sites: 10,
      dimension: 500,
      degree: 9,
      threshold: 5,
      dropAfterSharing: () => names.slice(2, 7),
    });
    assert.equal(outcome.result.ok, false);
    assert.equal(!outcome.result.ok && outcome.result.error.code, 'secagg.insufficient_shares');
    assert.ok(!('value' in outcome.result));
  });

  it('a neighbourhood with fewer than t live neighbours fails the round', () => {
    const outcome = runRound({
      sites: 12,
      dimension: 500,
      degree: 4,
      threshold: 3,
      // Two of one site's four neighbours go: it keeps only 2 holders of its b_u.
      dropAfterSharing: (graph) => graph.neighbours.get(names[0]!)!.slice(0, 2),
    });
    assert.equal(!outcome.result.ok && outcome.result.error.code, 'secagg.insufficient_shares');
    assert.match(!outcome.result.ok ? outcome.result.error.message : '', /surviving neighbours/);
  });

  it('a survivor that goes silent at unmasking leaves too few shares: recover fails cleanly', () => {
    const outcome = runRound({
      sites: 10,
      dimension: 500,
      degree: 9,
      threshold: 5,
      dropAfterSharing: () => names.slice(2, 5),
      // Each survivor's b share has 6 holders; two silent leave 4, under t = 5.
      silentAtUnmask: [names[0]!, names[1]!],
    });
    assert.equal(!outcome.result.ok && outcome.result.error.code, 'secagg.insufficient_shares');
  });

  it('a single masked update is indistinguishable from uniform bytes (chi-square, 255 dof)', () => {
    const dimension = 25_000; // 100,000 bytes
    const round = spec({ degree: 2, threshold: 2, dimension, sites: 3 });
    const { parties, relayed } = setUp(round);
    const params = unwrap(quantizationParams({ clip: 1, sites: 3 }));
    const random = seededRandom(3);
    const x = Float32Array.from({ length: dimension }, () => (random() - 0.5) * 0.02);
    const quantized = unwrap(quantize(x, params, { kind: 'nearest' }));
    const party = parties.get(names[0]!)!;
    unwrap(party.receiveShares(relayed.get(names[0]!)!));
    const masked = unwrap(party.mask(quantized));
    const chiSquare = (bytes: Uint8Array): number => {
      const counts = new Float64Array(256);
      for (const b of bytes) counts[b]!++;
      const expected = bytes.length / 256;
      return counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
    };
    const CRITICAL_0_999 = 330.5;
    const maskedStatistic = chiSquare(uint32ToBytes(masked));
    const plainStatistic = chiSquare(uint32ToBytes(quantized));
    assert.ok(maskedStatistic < CRITICAL_0_999, `masked: ${maskedStatistic}`);
    assert.ok(plainStatistic > CRITICAL_0_999, `unmasked: ${plainStatistic}`);
  });
});

describe('SecAgg+ site refusals', () => {
  it('a tampered share ciphertext is refused', () => {
    const { parties, relayed } = setUp(spec({ degree: 4, threshold: 3, dimension: 8 }));
    const shares = relayed
      .get(names[1]!)!
      .map((s) => ({ ...s, ciphertext: Uint8Array.from(s.ciphertext) }));
    shares[0]!.ciphertext[40]! ^= 0x01;
    const result = parties.get(names[1]!)!.receiveShares(shares);
    assert.equal(!result.ok && result.error.code, 'secagg.share_rejected');
  });

  it('a share readdressed to another recipient is refused', () => {
    const { parties, relayed } = setUp(spec({ degree: 4, threshold: 3, dimension: 8 }));
    // The coordinator takes a share meant for site-02 and hands it to site-01 as its own.
    const forOther = relayed.get(names[2]!)!.find((s) => s.from === names[0]!)!;
    const shares: EncryptedShare[] = relayed
      .get(names[1]!)!
      .map((s) => (s.from === names[0]! ? { ...forOther, to: names[1]! } : s));
    const result = parties.get(names[1]!)!.receiveShares(shares);
    assert.equal(!result.ok && result.error.code, 'secagg.share_rejected');
    // A site that saw a bad share accepts nothing more this round.
    const asSent = parties.get(names[1]!)!.receiveShares([forOther]);
    assert.equal(!asSent.ok && asSent.error.code, 'secagg.unexpected_step');
  });

  it('a share replayed from another round is refused', () => {
    const old = setUp(spec({ degree: 4, threshold: 3, dimension: 8, round: 3 }));
    const now = setUp(spec({ degree: 4, threshold: 3, dimension: 8, round: 4 }));
    const result = now.parties.get(names[1]!)!.receiveShares(old.relayed.get(names[1]!)!);
    assert.equal(!result.ok && result.error.code, 'secagg.share_rejected');
  });

  it('an advertised key with a bad signature is refused by the coordinator and by sites', () => {
    const round = spec({ degree: 4, threshold: 3, dimension: 8 });
    const site = new SecAggSite(sodium, {
      site: names[0]!,
      identity: federation.identity(names[0]!),
      round,
      identityOf,
    });
    const keys = unwrap(site.advertise());
    const swapped = {
      ...keys,
      maskPublicKey: sodium.crypto_scalarmult_base(sodium.randombytes_buf(32)),
    };
    const server = new SecAggServer(sodium, { round, identityOf });
    const atServer = server.receiveKeys(swapped);
    assert.equal(!atServer.ok && atServer.error.code, 'secagg.bad_signature');
    // Signed by someone else's identity: also refused.
    const other = new SecAggSite(sodium, {
      site: names[0]!,
      identity: federation.identity(names[1]!),
      round,
      identityOf,
    });
    const forged = server.receiveKeys(unwrap(other.advertise()));
    assert.equal(!forged.ok && forged.error.code, 'secagg.bad_signature');

    // A coordinator that substitutes a key in a site's roster is caught by the site.
    const { server: honest, parties } = (() => {
      const parties = new Map(
        names.slice(0, 5).map((s) => [
          s,
          new SecAggSite(sodium, {
            site: s,
            identity: federation.identity(s),
            round,
            identityOf,
          }),
        ]),
      );
      const server = new SecAggServer(sodium, { round, identityOf });
      for (const p of parties.values()) unwrap(server.receiveKeys(unwrap(p.advertise())));
      return { server, parties };
    })();
    const roster = unwrap(honest.rosters()).get(names[0]!)!;
    const tampered = {
      ...roster,
      keys: roster.keys.map((k, i) =>
        i === 0 ? { ...k, encryptionPublicKey: swapped.maskPublicKey } : k,
      ),
    };
    const atSite = parties.get(names[0]!)!.shareKeys(tampered);
    assert.equal(!atSite.ok && atSite.error.code, 'secagg.bad_signature');
  });

  it('steps out of order are refused', () => {
    const round = spec({ degree: 4, threshold: 3, dimension: 8 });
    const site = new SecAggSite(sodium, {
      site: names[0]!,
      identity: federation.identity(names[0]!),
      round,
      identityOf,
    });
    const early = site.mask(new Uint32Array(8));
    assert.equal(!early.ok && early.error.code, 'secagg.unexpected_step');
    const server = new SecAggServer(sodium, { round, identityOf });
    const recover = server.recover();
    assert.equal(!recover.ok && recover.error.code, 'secagg.unexpected_step');
    assert.equal(server.state, SecAggServerState.CollectingKeys);
  });
});

describe('SecAgg+ neighbour graph', () => {
  const draw = (participants: readonly string[], degree: number, attempt = 0, threshold = 3) =>
    unwrap(
      neighbourGraph(sodium, { seed: 42, round: 3, attempt, participants, degree, threshold }),
    );

  it('is k-regular, symmetric, and the same from any order of the participants', () => {
    const graph = draw(names, 4);
    assert.equal(graph.degree, 4);
    for (const [site, neighbours] of graph.neighbours) {
      assert.equal(new Set(neighbours).size, 4);
      assert.ok(!neighbours.includes(site));
      for (const v of neighbours) assert.ok(graph.neighbours.get(v)!.includes(site));
    }
    assert.deepEqual(draw([...names].reverse(), 4).order, graph.order);
  });

  it('rounds an odd degree up, and a new attempt reshuffles', () => {
    assert.equal(draw(names, 3).degree, 4);
    assert.equal(draw(names, 50, 0, 6).degree, names.length - 1);
    assert.notDeepEqual(draw(names, 4, 1).order, draw(names, 4, 0).order);
  });

  it('is sized against the threat: binomial tails and the degrees the union bound gives', () => {
    // P(Bin(10, 1/2) >= 5) = 638/1024 exactly; the others summed by hand from the pmf.
    assert.equal(binomialTail(10, 0.5, 5), 638 / 1024);
    assert.ok(Math.abs(binomialTail(34, 0.1, 17) / 4.341845430127652e-9 - 1) < 1e-9);
    assert.ok(Math.abs(binomialTail(34, 0.05, 18) / 3.871053335953333e-15 - 1) < 1e-9);
    // 5% corrupt, 10% dropout, 2^-20: at n = 100, k = 32 leaves 100 P(Bin(32, 0.1) >= 16)
    // = 1.24e-6 over the bound; k = 34 gives 4.3e-7.
    assert.deepEqual(degreeFor(100), { degree: 34, threshold: 18 });
    assert.deepEqual(degreeFor(50), { degree: 32, threshold: 17 });
    assert.deepEqual(degreeFor(1000), { degree: 38, threshold: 20 });
    assert.deepEqual(degreeFor(20), { degree: 19, threshold: 10 }, 'complete below that');
  });

  it('refuses a threshold of half the degree or less', () => {
    const result = neighbourGraph(sodium, {
      seed: 1,
      round: 1,
      attempt: 0,
      participants: names,
      degree: 4,
      threshold: 2,
    });
    assert.equal(!result.ok && result.error.code, 'secagg.bad_parameters');
  });
});
