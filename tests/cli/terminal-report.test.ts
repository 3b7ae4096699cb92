import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { finalLines, outsideTeacherLine } from '../../cli/demo/terminal-lines.js';
import { comparisonTable } from '../../cli/demo/terminal-tables.js';
import type { OutsideTeacher } from '../../cli/demo/outside-teacher.js';
import { demoReportFixture, unlabelledReportFixture } from '../support/demo-report.js';

const FILES = {
  json: 'runs/x/report.json',
  html: 'runs/x/report.html',
  audit: 'runs/x/audit.jsonl',
  coordinatorKey: 'runs/x/coordinator.pub',
};

const OUTSIDE: OutsideTeacher = {
  figures: {
    accuracy: 0.9712,
    params: 215_370,
    latency_ms_per_example: { batch_1: 0.9, batch_256: 0.05 },
  },
  rows: 4_000,
  cached: true,
  logitsFile: 'runs/x/coordinator/imports/outside-teacher.bin',
};

const teacherLine = (lines: string[]): string | undefined =>
  lines.find((line) => /^ {2}teacher (accuracy|agreement)/.test(line));

describe("the demo's terminal report of the teacher and the baselines", () => {
  it('a teacher model trained on the public split: its held-out figures from the run', () => {
    const lines = finalLines({ report: demoReportFixture(), pruning: false, files: FILES });
    assert.equal(
      teacherLine(lines),
      '  teacher accuracy      0.9650  (10562 parameters, public split only)',
    );
  });

  it("an outside teacher: the demo's own held-out figures, as the run has only its logits", () => {
    const report = unlabelledReportFixture();
    const lines = finalLines({ report, pruning: false, files: FILES, outside: OUTSIDE });
    assert.equal(
      teacherLine(lines),
      '  teacher accuracy      0.9712  (215370 parameters, 4000 rows outside the federation; measured by the demo, the run imported its logits)',
    );
    assert.equal(
      outsideTeacherLine(OUTSIDE),
      "  outside teacher loaded from cache on 4000 rows outside the federation: 215370 parameters, held-out accuracy 0.9712; its logits on the unlabelled transfer set are the coordinator's import",
    );
  });

  it('imported logits on an unlabelled transfer set, and no model at hand: no agreement figure', () => {
    const lines = finalLines({ report: unlabelledReportFixture(), pruning: false, files: FILES });
    assert.equal(
      teacherLine(lines),
      '  teacher agreement     none  (imported logits on an unlabelled transfer set; no held-out figure)',
    );
    const labelled = { ...unlabelledReportFixture(), teacher_transfer_accuracy: 0.981 };
    assert.equal(
      teacherLine(finalLines({ report: labelled, pruning: false, files: FILES })),
      '  teacher agreement     0.9810  (imported logits vs public labels; no held-out figure)',
    );
  });

  it('the comparison table has no row for a baseline without public labels to use', () => {
    const unlabelled = comparisonTable(unlabelledReportFixture());
    assert.doesNotMatch(unlabelled, /public labels/);
    assert.match(unlabelled, /│ teacher \(outside\) +│ +0\.9650 │/);
    assert.match(unlabelled, /│ FedAvg without the teacher +│ +0\.9230 │/);
    const labelled = comparisonTable(demoReportFixture());
    assert.match(labelled, /│ FedAvg with the public labels +│ +0\.9300 │/);
    assert.match(labelled, /│ centralized, public labels too +│ +0\.9610 │/);
    assert.match(labelled, /│ teacher \(public split\) +│ +0\.9650 │/);
  });
});
