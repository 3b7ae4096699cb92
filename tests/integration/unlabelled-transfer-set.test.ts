import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { prepareWorkspace, type DemoWorkspace } from '../../cli/demo/workspace.js';
import { runWorkspaceSites } from '../../harness/run-fixture.js';
import {
  loadCoordinatorConfig,
  parseCoordinatorConfig,
  type CoordinatorConfig,
} from '../../coordinator/config/coordinator-config.js';
import { startCoordinator, type CoordinatorHandle } from '../../coordinator/coordinator.js';
import type { RunSpec } from '../../coordinator/runs/run-spec.js';
import { exportTeacherLogits } from '../../coordinator/teacher/logits-export.js';
import { FedistillError, formatUnlabelledCsv } from '../../protocol/index.js';
import { apiToken } from '../support/api-token.js';

/** How a refusal of an unlabelled public split's run names its field. */
const MODEL_NEEDS_LABELS =
  /teacher\.source "model" trains the teacher on the public split's labels, but the public split is unlabelled \(data\.publicLabels false\)/;
const CLASS_LOGITS_NEED_LABELS =
  /distillation\.mode "class-logits" averages the teacher's logits per public label, but the public split is unlabelled/;

describe('an unlabelled transfer set (data.publicLabels false): only imported logits label it', () => {
  let dir: string;
  let workspace: DemoWorkspace;
  /** The workspace's labelled config, which trained the teacher whose logits are imported. */
  let labelled: CoordinatorConfig;
  /** The same coordinator on the public split without its label column. */
  let unlabelled: CoordinatorConfig;
  let logitsFile: string;
  let stores = 0;
  const imported = (): RunSpec['teacher'] => ({
    source: 'logits',
    file: logitsFile,
    format: 'binary',
  });
  const withRun = (
    base: CoordinatorConfig,
    run: Partial<RunSpec> | undefined,
  ): CoordinatorConfig => ({
    ...base,
    run: run && { ...base.run!, ...run },
    // Each coordinator its own store: a store keeps the run it was given.
    storeFile: path.join(path.dirname(base.storeFile), `store-${++stores}.db`),
  });

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'fedistill-unlabelled-'));
    workspace = await prepareWorkspace(dir, {
      sites: 3,
      rounds: 3,
      seed: 7,
      cacheDir: path.join(dir, 'cache'),
    });
    labelled = await loadCoordinatorConfig(workspace.coordinatorConfigFile);
    // The teacher trained elsewhere: here, the labelled coordinator's, exported to the imports.
    await mkdir(labelled.operatorFiles.dir, { recursive: true });
    logitsFile = path.join(labelled.operatorFiles.dir, 'teacher.bin');
    await exportTeacherLogits(
      labelled,
      { file: logitsFile, format: 'binary', dtype: 'float32' },
      () => {},
    );
    const publicFile = path.join(path.dirname(labelled.data.publicSplit), 'public-unlabelled.csv');
    await writeFile(publicFile, formatUnlabelledCsv(workspace.split.publicSplit));
    unlabelled = {
      ...labelled,
      data: { ...labelled.data, publicSplit: publicFile, publicLabels: false },
      run: { ...labelled.run!, teacher: imported() },
    };
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('the CSV has no label column, and the sites receive the same soft labels as from the labelled split', async () => {
    const header = (await readFile(unlabelled.data.publicSplit, 'utf8')).split('\n')[0]!;
    assert.equal(header.split(',').length, 30);
    assert.ok(!header.split(',').includes('label'), header);
    const from = async (config: CoordinatorConfig) => {
      const coordinator = await startCoordinator(config, { logLevels: false });
      await coordinator.close();
      return coordinator.teacher!;
    };
    const withLabels = await from(withRun(labelled, { teacher: imported() }));
    const withoutLabels = await from(withRun(unlabelled, {}));
    // Same inputs, same logits: the same transfer set, byte for byte.
    assert.equal(withoutLabels.transferHash, withLabels.transferHash);
    assert.equal(typeof withLabels.transferAccuracy, 'number');
    assert.equal(withoutLabels.transferAccuracy, null);
  });

  it('real sites complete a run on it; the report has no agreement figure, as there are no labels', async () => {
    const coordinator = await startCoordinator(withRun(unlabelled, {}), { logLevels: false });
    try {
      const { sites, report } = await runWorkspaceSites(workspace, coordinator);
      assert.deepEqual(
        sites.map((s) => s.roundsTrained),
        [3, 3, 3],
      );
      assert.equal(report.per_round.length, 3);
      assert.ok(
        report.student_accuracy > report.majority_class_rate,
        `student ${report.student_accuracy} vs majority ${report.majority_class_rate}`,
      );
      assert.ok(report.teacher_source === 'logits', report.teacher_source);
      assert.equal(report.teacher_logits_file, logitsFile);
      assert.equal(report.teacher_transfer_accuracy, null);
      assert.equal(report.teacher_accuracy, null);
      const written = JSON.parse(await readFile(unlabelled.reportFile, 'utf8')) as {
        teacher_transfer_accuracy: unknown;
      };
      assert.equal(written.teacher_transfer_accuracy, null);
    } finally {
      await coordinator.close();
    }
  });

  it('a config whose run needs the labels is refused when read, naming the field', async () => {
    const raw = JSON.parse(await readFile(workspace.coordinatorConfigFile, 'utf8')) as {
      data: object;
      run: object;
    };
    const baseDir = path.dirname(workspace.coordinatorConfigFile);
    const parse = (run: object) =>
      parseCoordinatorConfig(
        { ...raw, data: { ...raw.data, publicLabels: false }, run: { ...raw.run, ...run } },
        baseDir,
      );
    const refusal = (run: object, message: RegExp, field: string) =>
      assert.throws(
        () => parse(run),
        (error) => {
          assert.ok(error instanceof FedistillError);
          assert.equal(error.code, 'config.invalid');
          assert.match(error.message, message);
          assert.match(error.message, new RegExp(`run\\.${field.replace('.', '\\.')}:`));
          return true;
        },
      );
    // The default teacher is a model: an unlabelled split needs one named explicitly.
    refusal({}, MODEL_NEEDS_LABELS, 'teacher.source');
    refusal(
      {
        teacher: { source: 'logits', file: 'imports/t.bin' },
        distillation: { mode: 'class-logits' },
      },
      CLASS_LOGITS_NEED_LABELS,
      'distillation.mode',
    );
    const accepted = parse({ teacher: { source: 'logits', file: 'imports/t.bin' } });
    assert.equal(accepted.data.publicLabels, false);
  });

  it('a coordinator given such a run refuses to start it, before it listens', async () => {
    for (const [run, path, message] of [
      [{ teacher: labelled.run!.teacher }, ['teacher', 'source'], MODEL_NEEDS_LABELS],
      [
        { distillation: { mode: 'class-logits' } },
        ['distillation', 'mode'],
        CLASS_LOGITS_NEED_LABELS,
      ],
    ] as const) {
      await assert.rejects(
        startCoordinator(withRun(unlabelled, run as Partial<RunSpec>), { logLevels: false }),
        (error) => {
          assert.ok(error instanceof FedistillError);
          assert.equal(error.code, 'config.invalid');
          assert.deepEqual(error.path, path);
          assert.match(error.message, message);
          return true;
        },
      );
    }
  });

  it('a public split declared unlabelled that has a label column is refused, naming the column', async () => {
    await assert.rejects(
      startCoordinator(
        withRun(
          { ...unlabelled, data: { ...unlabelled.data, publicSplit: labelled.data.publicSplit } },
          {},
        ),
        { logLevels: false },
      ),
      (error) => {
        assert.ok(error instanceof FedistillError);
        assert.equal(error.code, 'data.invalid');
        assert.match(
          error.message,
          /public\.csv: line 1 has a column "label", but data\.publicLabels is false/,
        );
        return true;
      },
    );
  });

  describe('POST /api/runs on a coordinator with an unlabelled public split', () => {
    let coordinator: CoordinatorHandle;
    let operator: string;
    const post = async (body: unknown): Promise<{ status: number; body: unknown }> => {
      const response = await fetch(new URL('/api/runs', coordinator.url), {
        method: 'POST',
        headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: response.status, body: (await response.json()) as unknown };
    };

    before(async () => {
      const config = withRun(unlabelled, undefined);
      coordinator = await startCoordinator(config, { logLevels: false });
      operator = await apiToken(config.storeFile, 'operator');
    });
    after(async () => {
      await coordinator.close();
    });

    it('refuses a teacher model or class logits with 400, the code and the field, and creates nothing', async () => {
      const model = await post({ minSites: 1 });
      assert.equal(model.status, 400);
      const error = model.body as { code: string; message: string; path: string[] };
      assert.equal(error.code, 'config.invalid');
      assert.deepEqual(error.path, ['teacher', 'source']);
      assert.match(error.message, MODEL_NEEDS_LABELS);
      const both = await post({ minSites: 1, distillation: { mode: 'class-logits' } });
      assert.equal(both.status, 400);
      // Both fields in the message; the path of the first.
      assert.deepEqual((both.body as { path: string[] }).path, ['teacher', 'source']);
      assert.match((both.body as { message: string }).message, CLASS_LOGITS_NEED_LABELS);
      const classLogits = await post({
        minSites: 1,
        teacher: imported(),
        distillation: { mode: 'class-logits' },
      });
      assert.equal(classLogits.status, 400);
      assert.deepEqual((classLogits.body as { path: string[] }).path, ['distillation', 'mode']);
      const listed = await fetch(new URL('/api/runs', coordinator.url), {
        headers: { authorization: `Bearer ${operator}` },
      });
      assert.deepEqual(await listed.json(), []);
    });

    it('accepts imported logits in the transfer-set mode', async () => {
      const created = await post({ id: 'unlabelled', minSites: 1, teacher: imported() });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal((created.body as { id: string }).id, 'unlabelled');
    });
  });
});
