import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  pruningScheduleSchema,
  recommendedSchedule,
  sparsityAt,
  type PruningSchedule,
} from '../../coordinator/compression/pruning-schedule.js';
import { runSpecSchema } from '../../coordinator/runs/run-spec.js';

const rounds = (schedule: PruningSchedule, last: number): number[] =>
  Array.from({ length: last }, (_, i) => sparsityAt(schedule, i + 1));

function assertClose(actual: number[], expected: number[]): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((a, i) =>
    assert.ok(Math.abs(a - expected[i]!) < 1e-12, `round ${i + 1}: ${a} vs ${expected[i]}`),
  );
}

describe('pruning schedules', () => {
  it('polynomial 0 -> 0.5 over rounds 2..6, power 3: nothing before round 2, 0.5 from round 6 on', () => {
    const schedule = pruningScheduleSchema.parse({
      kind: 'polynomial',
      initial: 0,
      final: 0.5,
      beginRound: 2,
      endRound: 6,
    });
    // s = 0.5 - 0.5 (1 - (r - 2) / 4)^3: r=3: 0.5 - 0.5 * 0.75^3 = 0.5 - 0.2109375;
    // r=4: 0.5 - 0.5 * 0.125; r=5: 0.5 - 0.5 * 0.015625. All exact in binary.
    assert.deepEqual(rounds(schedule, 8), [0, 0, 0.2890625, 0.4375, 0.4921875, 0.5, 0.5, 0.5]);
  });

  it('polynomial 0.2 -> 0.8 over rounds 1..5 with power 2 starts at its initial sparsity', () => {
    const schedule = pruningScheduleSchema.parse({
      kind: 'polynomial',
      initial: 0.2,
      final: 0.8,
      beginRound: 1,
      endRound: 5,
      power: 2,
    });
    // s = 0.8 - 0.6 (1 - (r - 1) / 4)^2: 0.8 - 0.6 * {1, 0.5625, 0.25, 0.0625, 0}.
    assertClose(rounds(schedule, 6), [0.2, 0.4625, 0.65, 0.7625, 0.8, 0.8]);
  });

  it('constant: the same sparsity after every round, the first included', () => {
    const schedule: PruningSchedule = { kind: 'constant', sparsity: 0.3 };
    assert.deepEqual(
      [1, 2, 50].map((r) => sparsityAt(schedule, r)),
      [0.3, 0.3, 0.3],
    );
  });

  it('refuses sparsities outside [0, 1), an end not after the begin, and a falling schedule', () => {
    const poly = { kind: 'polynomial', initial: 0, final: 0.5, beginRound: 2, endRound: 6 };
    assert.ok(pruningScheduleSchema.safeParse(poly).success);
    for (const bad of [
      { kind: 'constant', sparsity: 1 },
      { kind: 'constant', sparsity: -0.1 },
      { ...poly, final: 1 },
      { ...poly, endRound: 2 },
      { ...poly, initial: 0.6 },
      { ...poly, power: 0 },
    ]) {
      assert.equal(pruningScheduleSchema.safeParse(bad).success, false, JSON.stringify(bad));
    }
  });

  it('a run spec refuses a schedule that ends after its last round, and unit pruning without a hidden layer', () => {
    const pruning = {
      schedule: { kind: 'polynomial', initial: 0, final: 0.5, beginRound: 1, endRound: 4 },
    };
    const ok = runSpecSchema.safeParse({ rounds: 4, compression: { pruning } });
    assert.ok(ok.success);
    assert.deepEqual(ok.data.compression.pruning, {
      schedule: { ...pruning.schedule, power: 3 },
      structure: 'weights',
    });
    const late = runSpecSchema.safeParse({ rounds: 3, compression: { pruning } });
    assert.deepEqual(
      late.error?.issues.map((i) => i.path.join('.')),
      ['compression.pruning.schedule.endRound'],
    );
    const flat = runSpecSchema.safeParse({
      rounds: 4,
      studentHidden: [],
      compression: { pruning: { ...pruning, structure: 'units' } },
    });
    assert.deepEqual(
      flat.error?.issues.map((i) => i.path.join('.')),
      ['compression.pruning.structure'],
    );
    assert.deepEqual(runSpecSchema.parse({}).compression, {});
  });

  it('the recommended schedule trains dense first, ramps over the middle rounds and ends at its final sparsity with rounds to spare', () => {
    const ten = recommendedSchedule(10, 0.5);
    assert.deepEqual(ten, {
      kind: 'polynomial',
      initial: 0,
      final: 0.5,
      beginRound: 3,
      endRound: 8,
      power: 3,
    });
    // r=4..7: 0.5 (1 - 0.8^3), 0.5 (1 - 0.6^3), 0.5 (1 - 0.4^3), 0.5 (1 - 0.2^3).
    assertClose(rounds(ten, 10), [0, 0, 0, 0.244, 0.392, 0.468, 0.496, 0.5, 0.5, 0.5]);
    assertClose(rounds(recommendedSchedule(4, 0.8), 4), [0, 0.7, 0.8, 0.8]);
    assert.deepEqual(recommendedSchedule(2, 0.5), { kind: 'constant', sparsity: 0.5 });
    for (let r = 1; r <= 30; r++) {
      const spec = runSpecSchema.safeParse({
        rounds: r,
        compression: { pruning: { schedule: recommendedSchedule(r, 0.5) } },
      });
      assert.ok(spec.success, `rounds ${r}`);
    }
  });
});
