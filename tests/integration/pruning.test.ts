import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RunReport } from '../../coordinator/runs/run-report.js';
import { openSqliteStore } from '../../coordinator/store/sqlite/open-sqlite-store.js';
import { SqliteUpdateStore } from '../../coordinator/store/sqlite/sqlite-update-store.js';
import type { StoredModel } from '../../coordinator/store/store.js';
import { decodeTensorBlob, loadSodium, unwrap, type NamedTensor } from '../../protocol/index.js';
import { startRunFixture, type RunFixture } from '../support/run-fixture.js';

const ROUNDS = 4;
/** The 30-8-2 student's kernels: 30 x 8 + 8 x 2 weights. */
const KERNEL_WEIGHTS = 256;
/**
 * Polynomial 0 -> 0.5 over rounds 1..3, power 3: 0 after round 1, 0.5 - 0.5 x 0.5^3 = 0.4375
 * after round 2, 0.5 after rounds 3 and 4; of 256 kernel weights, 0, 112, 128 and 128.
 */
const SCHEDULE = {
  kind: 'polynomial',
  initial: 0,
  final: 0.5,
  beginRound: 1,
  endRound: 3,
} as const;
const TARGETS = [0, 0.4375, 0.5, 0.5];
const PRUNED = [0, 112, 128, 128];

const isKernel = (t: NamedTensor): boolean => t.name.endsWith('/kernel');
const zerosOf = (tensors: readonly NamedTensor[]): number =>
  tensors.filter(isKernel).reduce((n, t) => n + t.values.filter((v) => v === 0).length, 0);

interface SavedUpdate {
  readonly round: number;
  readonly site: string;
  readonly delta: NamedTensor[];
}

describe('a pruned run: 3 real sites, 4 rounds, polynomial sparsity 0 -> 0.5', () => {
  let fixture: RunFixture;
  let report: RunReport;
  /** Model version v (after round v) and the mask stored with it. */
  const versions: { model: NamedTensor[]; mask?: NamedTensor[] }[] = [];
  const updates: SavedUpdate[] = [];
  const save = SqliteUpdateStore.prototype.save;

  before(async () => {
    // The store drops an update's bytes once its round closes; this spy keeps a decoded copy
    // of every update the coordinator accepted, as the site sent it.
    SqliteUpdateStore.prototype.save = function (saved) {
      const { round, update } = saved;
      updates.push({ round, site: update.site, delta: unwrap(decodeTensorBlob(update.bytes)) });
      return save.call(this, saved);
    };
    fixture = await startRunFixture({
      sites: 3,
      rounds: ROUNDS,
      adjust: (config) => ({
        ...config,
        run: {
          ...config.run!,
          compression: { pruning: { schedule: { ...SCHEDULE, power: 3 }, structure: 'weights' } },
        },
      }),
    });
    ({ report } = await fixture.runAllSites());
    const store = openSqliteStore({
      sodium: await loadSodium(),
      file: path.join(fixture.workspace.dir, 'coordinator', 'coordinator.db'),
    });
    try {
      const read = async (hash: string) =>
        unwrap(decodeTensorBlob(await store.models.readBlob(hash)));
      for (let v = 0; v <= ROUNDS; v++) {
        const stored: StoredModel = await store.models.get({
          runId: fixture.coordinator.runId!,
          version: v,
        });
        versions.push({
          model: await read(stored.modelHash),
          ...(stored.maskHash ? { mask: await read(stored.maskHash) } : {}),
        });
      }
    } finally {
      await store.close();
    }
  });

  after(async () => {
    SqliteUpdateStore.prototype.save = save;
    await fixture?.dispose();
  });

  it("each round's summary sparsity is the schedule's, to one weight in 256", () => {
    assert.deepEqual(
      report.per_round.map((r) => r.participants),
      [3, 3, 3, 3],
    );
    report.per_round.forEach((r, i) => {
      assert.ok(
        r.sparsity >= TARGETS[i]! && r.sparsity < TARGETS[i]! + 1 / KERNEL_WEIGHTS,
        `round ${r.round}: sparsity ${r.sparsity}, scheduled ${TARGETS[i]}`,
      );
    });
  });

  it("the final model's kernels are at least 50% exactly zero, and its biases are not pruned", () => {
    const final = versions[ROUNDS]!.model;
    assert.ok(zerosOf(final) >= KERNEL_WEIGHTS / 2, `${zerosOf(final)} zeros`);
    for (const t of final.filter((t) => !isKernel(t))) assert.ok(!t.values.includes(0), t.name);
    // The report's compression section gives the run's final kernel sparsity.
    assert.equal(report.compression.sparsity, report.per_round[ROUNDS - 1]!.sparsity);
  });

  it('a mask is stored from the first round that prunes; it only grows, and each model is zero wherever its mask is', () => {
    assert.equal(versions[0]!.mask, undefined);
    assert.equal(versions[1]!.mask, undefined, 'round 1 pruned nothing: no mask to send');
    for (let v = 2; v <= ROUNDS; v++) {
      const { model, mask } = versions[v]!;
      assert.ok(mask, `version ${v} has no mask`);
      assert.equal(zerosOf(mask), PRUNED[v - 1]);
      mask.forEach((m, t) =>
        m.values.forEach((keep, i) => {
          if (!isKernel(m)) assert.equal(keep, 1, `${m.name} is masked`);
          if (keep === 0) assert.ok(model[t]!.values[i] === 0, `version ${v} ${m.name}[${i}]`);
        }),
      );
      const before = versions[v - 1]!.mask;
      before?.forEach((m, t) =>
        m.values.forEach((keep, i) => {
          if (keep === 0)
            assert.equal(mask[t]!.values[i], 0, `version ${v} revived ${m.name}[${i}]`);
        }),
      );
    }
  });

  it('the sites honoured the mask: no update moved a weight that its round was sent as pruned', () => {
    // Rounds 3 and 4 were sent the masks of versions 2 and 3.
    for (const round of [3, 4]) {
      const mask = versions[round - 1]!.mask!;
      const sent = updates.filter((u) => u.round === round);
      assert.equal(sent.length, 3);
      for (const update of sent) {
        let moved = 0;
        let masked = 0;
        mask.forEach((m, t) =>
          m.values.forEach((keep, i) => {
            if (keep !== 0) return;
            masked++;
            if (update.delta[t]!.values[i] !== 0) moved++;
          }),
        );
        assert.equal(masked, PRUNED[round - 2]);
        assert.equal(moved, 0, `${update.site} moved ${moved} pruned weights in round ${round}`);
      }
    }
    // Unmasked, training moves nearly every kernel weight: the check above can fail.
    for (const update of updates.filter((u) => u.round === 1))
      assert.ok(zerosOf(update.delta) < 16, `${update.site}: ${zerosOf(update.delta)} unmoved`);
  });

  it('the pruned student still beats the majority-class rate', () => {
    assert.ok(
      report.student_accuracy > report.majority_class_rate,
      `student ${report.student_accuracy} vs majority ${report.majority_class_rate}`,
    );
  });
});
