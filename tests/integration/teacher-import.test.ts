import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { prepareWorkspace, type DemoWorkspace } from '../../cli/demo/workspace.js';
import { runWorkspaceSites } from '../../harness/run-fixture.js';
import {
  loadCoordinatorConfig,
  type CoordinatorConfig,
} from '../../coordinator/config/coordinator-config.js';
import { startCoordinator } from '../../coordinator/coordinator.js';
import type { RunSpec } from '../../coordinator/runs/run-spec.js';
import { exportTeacherLogits } from '../../coordinator/teacher/logits-export.js';
import type { LogitsFormat } from '../../coordinator/teacher/teacher-config.js';
import { readTeacherLogits } from '../../coordinator/teacher/teacher-logits.js';
import type { TeacherSummary } from '../../coordinator/teacher/prepared-teacher.js';
import { FedistillError } from '../../protocol/index.js';

const MAIN = fileURLToPath(new URL('../../cli/main.js', import.meta.url));
const run = promisify(execFile);

describe('teacher logits imported from a file: exported from the trained teacher, read back, distilled by real sites', () => {
  let dir: string;
  let workspace: DemoWorkspace;
  let config: CoordinatorConfig;
  let cliOutput: string;
  const files = { jsonl: '', float32: '', float16: '' };
  let exported: { rows: number; classes: number; fromCache: boolean };
  let shape: { rows: number; classes: number };

  const withTeacher = (
    teacher: RunSpec['teacher'],
    mode: 'transfer-set' | 'class-logits' = 'transfer-set',
  ): CoordinatorConfig => ({
    ...config,
    run: { ...config.run!, teacher, distillation: { mode } },
    // Each coordinator its own store: a store keeps the run it was given.
    storeFile: path.join(path.dirname(config.storeFile), `store-${++stores}.db`),
  });
  let stores = 0;
  const imported = (file: string, format: LogitsFormat) =>
    ({ source: 'logits', file, format }) as const;

  /** Starts a coordinator only to see what it would send the sites. */
  async function preparedTeacher(conf: CoordinatorConfig): Promise<TeacherSummary> {
    const coordinator = await startCoordinator(conf, { logLevels: false });
    await coordinator.close();
    return coordinator.teacher!;
  }

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'fedistill-import-'));
    workspace = await prepareWorkspace(dir, {
      sites: 3,
      rounds: 3,
      seed: 7,
      cacheDir: path.join(dir, 'cache'),
    });
    config = await loadCoordinatorConfig(workspace.coordinatorConfigFile);
    // A run's teacher file must be under the coordinator's operator files folder.
    await mkdir(config.operatorFiles.dir, { recursive: true });
    files.jsonl = path.join(config.operatorFiles.dir, 'teacher.jsonl');
    files.float32 = path.join(config.operatorFiles.dir, 'teacher.bin');
    files.float16 = path.join(config.operatorFiles.dir, 'teacher-half.bin');
    // The CLI trains the teacher (and caches it); the function exports the cached one again.
    ({ stdout: cliOutput } = await run(process.execPath, [
      MAIN,
      'teacher',
      'export-logits',
      '--config',
      workspace.coordinatorConfigFile,
      '--out',
      files.jsonl,
    ]));
    exported = await exportTeacherLogits(
      config,
      { file: files.float32, format: 'binary', dtype: 'float32' },
      () => {},
    );
    shape = { rows: exported.rows, classes: exported.classes };
    await exportTeacherLogits(
      config,
      { file: files.float16, format: 'binary', dtype: 'float16' },
      () => {},
    );
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('the CLI writes one JSONL line per public-split row, in row order', async () => {
    const rows = workspace.split.publicSplit.rows;
    assert.match(cliOutput, new RegExp(`wrote ${rows} x 2 teacher logits to .*teacher\\.jsonl`));
    const lines = (await readFile(files.jsonl, 'utf8')).trimEnd().split('\n');
    assert.equal(lines.length, rows);
    assert.deepEqual(
      lines.map((l) => (JSON.parse(l) as { id: number }).id),
      [...Array(rows).keys()],
    );
    assert.deepEqual(exported, { rows, classes: 2, fromCache: true });
  });

  it('JSONL and binary float32 imports give the soft labels of the trained teacher, byte for byte', async () => {
    for (const mode of ['transfer-set', 'class-logits'] as const) {
      const model = await preparedTeacher(withTeacher(config.run!.teacher, mode));
      assert.equal(model.source, 'model');
      for (const [file, format] of [
        [files.jsonl, 'jsonl'],
        [files.float32, 'binary'],
      ] as const) {
        const teacher = await preparedTeacher(withTeacher(imported(file, format), mode));
        assert.equal(teacher.transferHash, model.transferHash, `${mode} from ${format}`);
        assert.equal(teacher.transferAccuracy, model.transferAccuracy);
      }
    }
  });

  it('binary float16 holds the same logits within half-precision rounding', async () => {
    const at = config.operatorFiles;
    const full = await readTeacherLogits({ file: files.float32, format: 'binary' }, shape, at);
    const half = await readTeacherLogits({ file: files.float16, format: 'binary' }, shape, at);
    assert.ok(full.ok && half.ok);
    let rounded = 0;
    full.value.forEach((v, i) => {
      const h = half.value[i]!;
      // Relative 2^-11 for normal halves; 2^-25 absolute below them (subnormals).
      assert.ok(Math.abs(h - v) <= Math.max(Math.abs(v) * 2 ** -11, 2 ** -25), `${v} -> ${h}`);
      if (h !== v) rounded++;
    });
    assert.ok(rounded > 0, 'float16 should round some float32 logits');
  });

  it('a federated run from the imported JSONL beats the majority-class rate and reports the teacher as what it is', async () => {
    const coordinator = await startCoordinator(withTeacher(imported(files.jsonl, 'jsonl')), {
      logLevels: false,
    });
    try {
      const { sites, report } = await runWorkspaceSites(workspace, coordinator);
      assert.deepEqual(
        sites.map((s) => s.roundsTrained),
        [3, 3, 3],
      );
      assert.ok(
        report.student_accuracy > report.majority_class_rate,
        `student ${report.student_accuracy} vs majority ${report.majority_class_rate}`,
      );
      assert.ok(report.teacher_source === 'logits', report.teacher_source);
      assert.equal(report.teacher_accuracy, null);
      assert.equal(report.teacher_params, null);
      assert.equal(report.teacher_cached, false);
      assert.equal(report.teacher_logits_file, files.jsonl);
      // The agreement, recounted here from the file and the public split's labels.
      const { labels } = workspace.split.publicSplit;
      const lines = (await readFile(files.jsonl, 'utf8')).trimEnd().split('\n');
      const agree = lines.filter((line) => {
        const { id, logits } = JSON.parse(line) as { id: number; logits: [number, number] };
        return (logits[1] > logits[0] ? 1 : 0) === labels[id];
      }).length;
      assert.equal(report.teacher_transfer_accuracy, agree / labels.length);
    } finally {
      await coordinator.close();
    }
  });

  it('a logits file that lacks a row stops the coordinator before it listens, naming the file and the row', async () => {
    const lines = (await readFile(files.jsonl, 'utf8')).trimEnd().split('\n');
    const short = path.join(config.operatorFiles.dir, 'short.jsonl');
    await writeFile(short, lines.slice(0, -1).join('\n') + '\n');
    await assert.rejects(
      startCoordinator(withTeacher(imported(short, 'jsonl')), { logLevels: false }),
      (error) => {
        assert.ok(error instanceof FedistillError);
        assert.equal(error.code, 'data.invalid');
        assert.match(
          error.message,
          new RegExp(`short\\.jsonl: no line for id ${lines.length - 1};`),
        );
        return true;
      },
    );
  });
});
