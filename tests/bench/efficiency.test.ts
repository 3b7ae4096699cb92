import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { efficiency, roundsTo } from '../../bench/efficiency.js';

type Input = Parameters<typeof efficiency>[0];

/** Four rounds of three sites; only the fields efficiency reads carry meaning. */
function report(over: {
  studentCurve: number[];
  teacherParams: number | null;
  /** An outside teacher: timed by the demo, not by the run. */
  outsideLatency?: number;
}): Input {
  const per_round = over.studentCurve.map((student_accuracy, i) => ({
    round: i + 1,
    participants: 3,
    // 3,000 bytes a round: 1,000 per site.
    bytes_up: 1_200,
    bytes_down: 1_800,
    student_accuracy,
  }));
  return {
    per_round,
    sites: 3,
    // 12,000 in the rounds and 9,000 outside them: 3,000 per site once.
    bytes_up: 5_000,
    bytes_down: 16_000,
    baselines: {
      fedavg_no_teacher: { accuracy: 0.9, per_round: [0.7, 0.9, 0.85, 0.9] },
      teacher: {
        accuracy: 0.97,
        params: over.teacherParams,
        ...(over.outsideLatency === undefined
          ? {}
          : { latency_ms_per_example: { batch_1: over.outsideLatency, batch_256: 0.02 } }),
      },
    },
    compression: {
      exports: { tfjs: { int8: { weights_bytes: 296 } } },
      latency_ms_per_example: {
        teacher:
          over.teacherParams === null || over.outsideLatency !== undefined
            ? null
            : { batch_1: 0.36, batch_256: 0.011 },
        student: { batch_1: 0.12, batch_256: 0.006 },
      },
    },
  } as unknown as Input;
}

describe('what a run shows besides accuracy', () => {
  it('finds the first round at or above a target', () => {
    assert.equal(roundsTo([0.5, 0.8, 0.79, 0.9], 0.8), 2);
    assert.equal(roundsTo([0.5, 0.8], 0.5), 1);
    assert.equal(roundsTo([0.5, 0.8], 0.81), null);
  });

  it('splits traffic into per round and once per site, and times both to FedAvg’s final accuracy', () => {
    const e = efficiency(report({ studentCurve: [0.8, 0.88, 0.92, 0.95], teacherParams: 4130 }));
    assert.equal(e.roundBytesPerSite, 1_000);
    assert.equal(e.onceBytesPerSite, 3_000);
    assert.equal(e.target, 0.9);
    // FedAvg first reaches 0.9 in round 2 (it dips after), the student in round 3.
    assert.equal(e.fedavgRounds, 2);
    assert.equal(e.studentRounds, 3);
    assert.equal(e.fedavgBytesToTarget, 2_000);
    assert.equal(e.studentBytesToTarget, 3_000 + 3 * 1_000);
    assert.equal(e.studentBytes, 296);
    assert.equal(e.teacherBytes, 16_520);
    // FedAvg never reaches the student's final 0.95.
    assert.equal(e.fedavgRoundsToStudent, null);
    assert.ok(Math.abs(e.speedup! - 3) < 1e-12);
  });

  it('says when the student never reached the target, and when there is no teacher model to time', () => {
    const e = efficiency(report({ studentCurve: [0.8, 0.85, 0.88, 0.89], teacherParams: null }));
    assert.equal(e.studentRounds, null);
    assert.equal(e.studentBytesToTarget, null);
    // The student ends at 0.89, which FedAvg first reaches in round 2.
    assert.equal(e.fedavgRoundsToStudent, 2);
    assert.equal(e.teacherBytes, null);
    assert.equal(e.speedup, null);
  });

  it('times an outside teacher by what the demo measured, the run having only its logits', () => {
    const e = efficiency(
      report({ studentCurve: [0.9, 0.9, 0.9, 0.9], teacherParams: 215_370, outsideLatency: 0.6 }),
    );
    assert.ok(Math.abs(e.speedup! - 5) < 1e-12);
    assert.equal(e.teacherBytes, 861_480);
  });
});
