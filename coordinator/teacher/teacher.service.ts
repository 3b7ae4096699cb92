import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  encodeTeacherKnowledge,
  fail,
  ok,
  parameterCount,
  toHex,
  type Result,
} from '../../protocol/index.js';
import {
  COORDINATOR_SETUP,
  labelledPublicSplit,
  type CoordinatorSetup,
} from '../coordinator-setup.js';
import { EvaluationService } from '../evaluation/evaluation.service.js';
import type { RunSpec } from '../runs/run-spec.js';
import { TransferService } from '../transfer/transfer.service.js';
import type { PreparedTeacher, TeacherSource, TeacherSummary } from './prepared-teacher.js';
import { obtainTeacherModel, teacherOutputs, type TeacherOutputs } from './model-teacher.js';
import type { ImportedTeacherConfig, ModelTeacherConfig } from './teacher-config.js';
import { publicLabelNeeds } from './public-labels.js';
import { labelAgreement, teacherKnowledge } from './teacher-knowledge.js';
import { readTeacherLogits } from './teacher-logits.js';

/**
 * The teacher's soft labels: a model's logits on the public split (trained once and cached),
 * or logits imported from a file. They are announced to sites by content hash and served in
 * chunks. Each run's teacher is prepared when the run starts; runs with the same teacher
 * settings share it.
 */
@Injectable()
export class TeacherService {
  private readonly logger = new Logger('Teacher');
  private readonly prepared = new Map<string, Promise<Result<PreparedTeacher>>>();

  constructor(
    @Inject(COORDINATOR_SETUP) private readonly setup: CoordinatorSetup,
    private readonly evaluation: EvaluationService,
    private readonly transfer: TransferService,
  ) {}

  /**
   * The run's teacher and its knowledge, offered to sites; prepared once per settings. A file
   * that cannot be imported is a coded failure (the operator named it), and is not kept.
   */
  prepare(run: RunSpec): Promise<Result<PreparedTeacher>> {
    const key = JSON.stringify([run.teacher, run.seed, run.distillation, run.blobChunkBytes]);
    let prepared = this.prepared.get(key);
    if (!prepared) {
      prepared = this.build(run);
      this.prepared.set(key, prepared);
      const forget = (): boolean => this.prepared.delete(key);
      prepared.then((result) => result.ok || forget(), forget);
    }
    return prepared;
  }

  private async build(run: RunSpec): Promise<Result<PreparedTeacher>> {
    const { config, publicSplit, publicLabels } = this.setup;
    const { teacher, distillation } = run;
    const classes = config.data.classes;
    // Runs are checked against the split when created; a label need left here is refused too.
    const labelled = labelledPublicSplit(this.setup);
    if (!labelled) {
      const [need] = publicLabelNeeds(run);
      if (need) return fail('config.invalid', need.message, need.path);
    }
    const obtained =
      teacher.source === 'model'
        ? ok(await this.fromModel(teacher, run))
        : await this.fromFile(teacher);
    if (!obtained.ok) return obtained;
    const { outputs, source } = obtained.value;
    const knowledge =
      distillation.mode === 'class-logits' && labelled
        ? teacherKnowledge({ mode: 'class-logits', publicSplit: labelled, classes, ...outputs })
        : teacherKnowledge({ mode: 'transfer-set', publicSplit, classes, ...outputs });
    const encoded = encodeTeacherKnowledge(knowledge);
    const blob = this.transfer.offer(encoded, run.blobChunkBytes);
    const summary: TeacherSummary = {
      ...source,
      // Agreement with labels the transfer set does not have is not a number.
      transferAccuracy: publicLabels ? labelAgreement(outputs.logits, publicLabels, classes) : null,
      transferHash: toHex(blob.hash),
    };
    const prepared: PreparedTeacher = {
      descriptor:
        knowledge.mode === 'class-logits'
          ? { mode: 'class-logits', blob, classes: knowledge.classes }
          : {
              mode: 'transfer-set',
              blob,
              rows: knowledge.rows,
              features: knowledge.features,
              classes: knowledge.classes,
              hiddenWidth: knowledge.hiddenWidth,
            },
      summary,
      ...(teacher.source === 'model'
        ? {
            // From the on-disk cache it was saved to: the report times it beside the student.
            loadModel: async () =>
              (await obtainTeacherModel(this.setup, teacher, run.seed, () => undefined)).model,
          }
        : {}),
    };
    const what =
      summary.source === 'model'
        ? `${summary.params} parameters, held-out accuracy ${summary.accuracy.toFixed(4)}`
        : `logits imported from ${summary.file}`;
    this.logger.log(
      `teacher ready: ${what}, public-split agreement ${summary.transferAccuracy?.toFixed(4) ?? 'none (unlabelled transfer set)'}; ` +
        `${knowledge.mode} ${summary.transferHash.slice(0, 16)}, ${encoded.length} bytes in ${blob.chunkHashes.length} chunks`,
    );
    return ok(prepared);
  }

  private async fromModel(
    teacher: ModelTeacherConfig,
    run: RunSpec,
  ): Promise<{ outputs: TeacherOutputs; source: TeacherSource }> {
    const { model, spec, fromCache } = await obtainTeacherModel(
      this.setup,
      teacher,
      run.seed,
      (line) => this.logger.log(line),
    );
    const outputs = await teacherOutputs(this.setup, model, {
      withFeatures: run.distillation.hiddenState !== undefined,
    });
    const measured = await this.evaluation.measure(model);
    model.dispose();
    return {
      outputs,
      source: { source: 'model', ...measured, params: parameterCount(spec), cached: fromCache },
    };
  }

  private async fromFile(
    teacher: ImportedTeacherConfig,
  ): Promise<Result<{ outputs: TeacherOutputs; source: TeacherSource }>> {
    const { publicSplit, config } = this.setup;
    const logits = await readTeacherLogits(
      teacher,
      { rows: publicSplit.rows, classes: config.data.classes },
      config.operatorFiles,
    );
    if (!logits.ok) return logits;
    return ok({
      outputs: { logits: logits.value },
      source: { source: 'logits', file: teacher.file },
    });
  }
}
