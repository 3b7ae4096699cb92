import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PartialSum } from '../../coordinator/aggregation/fold-terms.js';
import { PartialFold } from '../../coordinator/aggregation/partial-sum.js';
import {
  aggregationConfigSchema,
  createStrategy,
} from '../../coordinator/aggregation/strategy-config.js';
import type { AggregationStrategy, SiteUpdate } from '../../coordinator/aggregation/strategy.js';
import { WeightedSumMemory } from '../../coordinator/aggregation/weighted-sum.js';
import { EdgeFolds } from '../../coordinator/nodes/edge-folds.js';
import { BOUNDED_ROUND as ROUND, siteUpdate as update } from '../support/bounded-round.js';
import { DpFedAvg } from '../../coordinator/privacy/dp-fedavg.js';
import { dpConfigSchema } from '../../coordinator/privacy/privacy-config.js';
import type { EdgePartials } from '../../coordinator/runs/round/edge-partials.js';
import { PlainFold } from '../../coordinator/runs/round/plain-fold.js';
import type { FoldResult } from '../../coordinator/runs/round/round-fold.js';
import {
  decodeTensorBlob,
  encodeTensorBlob,
  fail,
  ok,
  unwrap,
  type NamedTensor,
  type Result,
  type RoundUpdate,
} from '../../protocol/index.js';

const tensor = (...values: number[]): NamedTensor[] => [
  { name: 'w', shape: [values.length], values: Float32Array.from(values) },
];

/** A FedAvg whose first round (bounded by its own medians) closed on ROUND. */
function fedAvgAfterOneRound(): AggregationStrategy<unknown> {
  const strategy = createStrategy(aggregationConfigSchema.parse({ strategy: 'fedavg' }));
  let acc = strategy.begin(tensor(0, 0));
  assert.equal(strategy.partialTerms?.(acc), undefined, 'no bounds before a round closed');
  for (const u of ROUND) acc = unwrap(strategy.fold(acc, u));
  strategy.close(acc);
  return strategy;
}

/** The partial sum an edge makes of `updates` under the strategy's terms for `acc`. */
function edgeSum(
  strategy: AggregationStrategy<unknown>,
  acc: unknown,
  updates: readonly SiteUpdate[],
): PartialSum {
  const fold = new PartialFold(tensor(0, 0), strategy.partialTerms!(acc)!, new WeightedSumMemory());
  for (const u of updates) unwrap(fold.add(u.site, u.delta, u.numExamples));
  const partial = fold.of(updates.map((u) => u.site))!;
  // Copied: the sum's memory is the edge's, and the leader gets it over the bus.
  return {
    sum: partial.sum.map((t) => ({ ...t, values: t.values.slice() })),
    entries: partial.entries,
  };
}

describe('partial sums (hierarchical aggregation)', () => {
  it("FedAvg: two edges' partial sums give the hand-computed [4, 5] and the same bounds as one node", () => {
    const single = fedAvgAfterOneRound();
    let acc = single.begin(tensor(0, 0));
    for (const u of ROUND) acc = unwrap(single.fold(acc, u));
    assert.deepEqual([...single.close(acc)![0]!.values], [4, 5]);

    const leader = fedAvgAfterOneRound();
    let sum = leader.begin(tensor(0, 0));
    assert.deepEqual(leader.partialTerms!(sum), {
      kind: 'bounded',
      reference: { medianNorm: 5, medianExamples: 10 },
      limit: { kind: 'median-ratio', ratio: 2 },
    });
    const first = edgeSum(leader, sum, ROUND.slice(0, 2));
    const second = edgeSum(leader, sum, ROUND.slice(2));
    sum = unwrap(leader.foldPartial!(sum, first));
    sum = unwrap(leader.foldPartial!(sum, second));
    assert.deepEqual([...leader.close(sum)![0]!.values], [4, 5]);
    assert.deepEqual(
      leader.bounded!(sum).map((b) => [b.site, b.norm, b.maxNorm, b.weight]),
      [['x', 50, 10, 20]],
      'the attacker is audited as bounded, as on one node',
    );
  });

  it('DP-FedAvg: clipped partial sums average unweighted: 1 + ([0.6, 0.8] + [0.3, 0.4]) / 2', () => {
    const config = dpConfigSchema.parse({ epsilon: 8, clipNorm: 1 });
    // A uniform source of 0 makes the noise exactly 0.
    const dp = unwrap(DpFedAvg.create(config, 1.1, 2, () => 0));
    let acc = dp.begin(tensor(1, 1));
    assert.deepEqual(dp.partialTerms(), { kind: 'clipped', clipNorm: 1 });
    const strategy = dp as AggregationStrategy<unknown>;
    acc = unwrap(dp.foldPartial(acc, edgeSum(strategy, acc, [update('a', [3, 4], 100)])));
    acc = unwrap(dp.foldPartial(acc, edgeSum(strategy, acc, [update('b', [0.3, 0.4], 1)])));
    assert.deepEqual([...dp.close(acc)![0]!.values], [Math.fround(1.45), Math.fround(1.6)]);
  });

  it('an edge refuses a mismatched or non-finite delta, and gives its sum only for exactly the sites asked', () => {
    const strategy = fedAvgAfterOneRound();
    const acc = strategy.begin(tensor(0, 0));
    const fold = new PartialFold(
      tensor(0, 0),
      strategy.partialTerms!(acc)!,
      new WeightedSumMemory(),
    );
    unwrap(fold.add('a', tensor(3, 4), 10));
    const refused = (r: Result<true>): string => (r.ok ? 'folded' : r.error.code);
    assert.equal(refused(fold.add('b', tensor(1, 2, 3), 10)), 'update.shape_mismatch');
    assert.equal(refused(fold.add('b', tensor(Number.NaN, 1), 10)), 'update.non_finite');
    assert.equal(fold.of(['a', 'b']), undefined, 'b was refused: the sum does not hold it');
    assert.equal(fold.of([]), undefined, 'the sum holds a, which the leader did not keep');
    assert.deepEqual([...fold.of(['a'])!.sum[0]!.values], [30, 40], 'only a, weight 10');
  });
});

describe("an edge node's folds", () => {
  const model = unwrap(encodeTensorBlob(tensor(0, 0), 'float32'));
  const ATTEMPT = {
    runId: 'run',
    round: 2,
    attempt: 1,
    modelVersion: 1,
    modelHash: 'ab'.repeat(32),
    terms: { kind: 'clipped', clipNorm: 1 } as const,
    maxExamples: 100,
  };
  const roundUpdate = (fields: Partial<RoundUpdate>, hashByte: number): RoundUpdate =>
    ({
      type: 'round.update',
      runId: 'run',
      round: 2,
      baseVersion: 1,
      numExamples: 10,
      delta: {
        hash: new Uint8Array(32).fill(hashByte),
        bytes: 12,
        chunkBytes: 1024,
        chunkHashes: [],
      },
      ...fields,
    }) as RoundUpdate;
  const bytes = (...values: number[]): Uint8Array =>
    unwrap(encodeTensorBlob(tensor(...values), 'float32'));

  it('folds and stages what the leader will keep, forwards what it will refuse, and sums exactly the sites asked', async () => {
    const staged: string[] = [];
    const folds = new EdgeFolds(
      (hash) => Promise.resolve(hash === ATTEMPT.modelHash ? model : new Uint8Array(0)),
      {
        stage: (update) => {
          staged.push(`${update.site} r${update.round}`);
          return Promise.resolve();
        },
      },
    );
    folds.begin(ATTEMPT);
    const outcome = (r: Result<number> | undefined): string =>
      r === undefined ? 'to the leader' : r.ok ? `attempt ${r.value}` : r.error.code;
    assert.equal(outcome(await folds.fold('a', roundUpdate({}, 1), bytes(3, 4))), 'attempt 1');
    assert.equal(outcome(await folds.fold('b', roundUpdate({}, 2), bytes(0.3, 0.4))), 'attempt 1');
    // A second update of a site, or a claim over the cap: the leader refuses them, so the sum
    // must not hold them.
    assert.equal(outcome(await folds.fold('a', roundUpdate({}, 3), bytes(1, 0))), 'to the leader');
    assert.equal(
      outcome(await folds.fold('c', roundUpdate({ numExamples: 101 }, 4), bytes(1, 0))),
      'to the leader',
    );
    // Another round or model version: no terms for it here.
    assert.equal(
      outcome(await folds.fold('d', roundUpdate({ round: 3 }, 5), bytes(1, 0))),
      'to the leader',
    );
    assert.equal(
      outcome(await folds.fold('d', roundUpdate({ baseVersion: 0 }, 6), bytes(1, 0))),
      'to the leader',
    );
    // A delta the model does not have room for is refused with the leader's code.
    assert.equal(
      outcome(await folds.fold('e', roundUpdate({}, 7), bytes(1, 2, 3))),
      'update.shape_mismatch',
    );
    assert.deepEqual(staged, ['a r2', 'b r2']);

    const answer = await folds.gather({ runId: 'run', round: 2, attempt: 1 }, ['b', 'a']);
    assert.ok(answer.t === 'partial' && 'sum' in answer.partial);
    // Clipped to norm 1 and summed unweighted: [0.6, 0.8] + [0.3, 0.4].
    const sum = unwrap(decodeTensorBlob(answer.partial.sum));
    assert.deepEqual(
      [...sum[0]!.values],
      [Math.fround(0.6) + Math.fround(0.3), Math.fround(0.8) + Math.fround(0.4)].map(Math.fround),
    );
    assert.deepEqual(
      answer.partial.entries.map((e) => [e.site, e.norm]),
      [
        ['a', 5],
        ['b', Math.hypot(Math.fround(0.3), Math.fround(0.4))],
      ],
    );
    const other = await folds.gather({ runId: 'run', round: 2, attempt: 0 }, ['a', 'b']);
    assert.ok(other.t === 'partial' && 'missing' in other.partial, 'another attempt: no sum');
    const fewer = await folds.gather({ runId: 'run', round: 2, attempt: 1 }, ['a']);
    assert.ok(fewer.t === 'partial' && 'missing' in fewer.partial, 'b is in the sum: no sum');
  });
});

describe('a plain attempt folded at edges', () => {
  const ATTEMPT = {
    runId: 'run',
    round: 2,
    attempt: 0,
    modelVersion: 1,
    modelHash: '0'.repeat(64),
  };

  /** Runs an attempt: a and b folded at edge-1, c and x at edge-2, which answers as `second`. */
  async function attempt(
    second: 'answers' | 'dies',
    staged: ReadonlyMap<string, Uint8Array>,
  ): Promise<{ result: FoldResult; announced: number }> {
    const strategy = fedAvgAfterOneRound();
    // The edges fold under the terms the leader announces: the same bounds, from the same round.
    const edges = fedAvgAfterOneRound();
    const terms = edges.begin(tensor(0, 0));
    let announced = 0;
    const partials: EdgePartials = {
      announce: () => announced++,
      gather: (edge, _ref, sites) => {
        if (edge === 'edge-2' && second === 'dies') {
          return Promise.resolve(fail('session.closed', 'edge-2 is silent'));
        }
        const { sum, entries } = edgeSum(
          edges,
          terms,
          ROUND.filter((u) => sites.includes(u.site)),
        );
        return Promise.resolve(ok({ bytes: unwrap(encodeTensorBlob(sum, 'float32')), entries }));
      },
    };
    const fold = new PlainFold(strategy, tensor(0, 0), 4, {
      partials,
      attempt: ATTEMPT,
      readStaged: (site) => Promise.resolve(staged.get(site)),
    });
    for (const u of ROUND) {
      const edge = u.site < 'c' ? 'edge-1' : 'edge-2';
      const folded = fold.update(u.site, {
        numExamples: u.numExamples,
        blobHash: u.site,
        atEdge: { edge, attempt: 0 },
      });
      assert.ok(folded.ok);
    }
    const end = await fold.endStage();
    assert.ok('result' in end);
    return { result: end.result, announced };
  }

  const bytesOf = (u: SiteUpdate): Uint8Array => unwrap(encodeTensorBlob(u.delta, 'float32'));
  const everyStaged = new Map(ROUND.map((u) => [u.site, bytesOf(u)]));

  it("adds the edges' sums: the hand-computed [4, 5], with the gather in the audit log", async () => {
    const { result, announced } = await attempt('answers', new Map());
    assert.equal(announced, 1, 'the terms went out once, when the attempt opened');
    assert.ok(result.ok);
    assert.deepEqual([...result.model[0]!.values], [4, 5]);
    assert.deepEqual(
      result.audit?.find((e) => e.event === 'round.gathered'),
      { event: 'round.gathered', edges: 2, partial_updates: 4, refolded: 0 },
    );
  });

  it("refolds a dead edge's updates from the bytes it staged: still [4, 5], none lost or twice", async () => {
    const { result } = await attempt('dies', everyStaged);
    assert.ok(result.ok);
    assert.deepEqual([...result.model[0]!.values], [4, 5]);
    assert.deepEqual(
      result.audit?.find((e) => e.event === 'round.gathered'),
      { event: 'round.gathered', edges: 1, partial_updates: 2, refolded: 2 },
    );
  });

  it('fails the attempt when an acknowledged update is neither in a sum nor staged', async () => {
    const { result } = await attempt('dies', new Map([['c', everyStaged.get('c')!]]));
    assert.equal(result.ok, false);
    assert.match(result.ok ? '' : result.reason, /the update of x was staged nowhere/);
  });
});
