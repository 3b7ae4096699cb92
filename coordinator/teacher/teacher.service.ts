import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import {
  encodeTeacherKnowledge,
  parameterCount,
  toHex,
  unwrap,
  type TeacherDescriptor,
} from '../../protocol/index.js';
import { COORDINATOR_SETUP, type CoordinatorSetup } from '../coordinator-setup.js';
import { EvaluationService } from '../evaluation/evaluation.service.js';
import { TransferService } from '../transfer/transfer.service.js';
import { obtainTeacherModel, teacherOutputs, type TeacherOutputs } from './model-teacher.js';
import type { ImportedTeacherConfig, ModelTeacherConfig } from './teacher-config.js';
import { labelAgreement, teacherKnowledge } from './teacher-knowledge.js';
import { readTeacherLogits } from './teacher-logits.js';

/** Where the soft labels came from, and what could be measured of it. */
export type TeacherSource =
  | {
      readonly source: 'model';
      /** Held-out accuracy of the teacher model. */
      readonly accuracy: number;
      readonly params: number;
      /** True when the model was loaded from the on-disk cache instead of trained. */
      readonly cached: boolean;
    }
  | {
      /** Imported logits: there is no model to run on the held-out split. */
      readonly source: 'logits';
      readonly file: string;
    };

/** What the run's teacher was, as far as this process measured it. */
export type TeacherSummary = TeacherSource & {
  /** Share of public-split rows whose largest teacher logit is at their label. */
  readonly transferAccuracy: number;
  /** Content hash (hex) of the soft labels the sites receive. */
  readonly transferHash: string;
};

/**
 * The teacher's soft labels: a model's logits on the public split (trained once and cached),
 * or logits imported from a file. They are announced to sites by content hash and served in
 * chunks.
 */
@Injectable()
export class TeacherService implements OnModuleInit {
  private readonly logger = new Logger('Teacher');
  private prepared: { descriptor: TeacherDescriptor; summary: TeacherSummary } | undefined;

  constructor(
    @Inject(COORDINATOR_SETUP) private readonly setup: CoordinatorSetup,
    private readonly evaluation: EvaluationService,
    private readonly transfer: TransferService,
  ) {}

  async onModuleInit(): Promise<void> {
    const { config, publicSplit } = this.setup;
    const { teacher, distillation } = config.run;
    const classes = config.data.classes;
    const { outputs, source } =
      teacher.source === 'model' ? await this.fromModel(teacher) : await this.fromFile(teacher);
    const knowledge = teacherKnowledge({
      mode: distillation.mode,
      publicSplit,
      classes,
      logits: outputs.logits,
      features: outputs.features,
    });
    const encoded = encodeTeacherKnowledge(knowledge);
    const blob = this.transfer.offer(encoded, config.run.blobChunkBytes);
    const summary: TeacherSummary = {
      ...source,
      transferAccuracy: labelAgreement(outputs.logits, publicSplit.labels, classes),
      transferHash: toHex(blob.hash),
    };
    this.prepared = {
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
    };
    const what =
      summary.source === 'model'
        ? `${summary.params} parameters, held-out accuracy ${summary.accuracy.toFixed(4)}`
        : `logits imported from ${summary.file}`;
    this.logger.log(
      `teacher ready: ${what}, public-split agreement ${summary.transferAccuracy.toFixed(4)}; ` +
        `${knowledge.mode} ${summary.transferHash.slice(0, 16)}, ${encoded.length} bytes in ${blob.chunkHashes.length} chunks`,
    );
  }

  private async fromModel(
    teacher: ModelTeacherConfig,
  ): Promise<{ outputs: TeacherOutputs; source: TeacherSource }> {
    const { model, spec, fromCache } = await obtainTeacherModel(this.setup, teacher, (line) =>
      this.logger.log(line),
    );
    const outputs = await teacherOutputs(this.setup, model, {
      withFeatures: this.setup.config.run.distillation.hiddenState !== undefined,
    });
    const accuracy = await this.evaluation.accuracy(model);
    model.dispose();
    return {
      outputs,
      source: { source: 'model', accuracy, params: parameterCount(spec), cached: fromCache },
    };
  }

  private async fromFile(
    teacher: ImportedTeacherConfig,
  ): Promise<{ outputs: TeacherOutputs; source: TeacherSource }> {
    const { publicSplit, config } = this.setup;
    const logits = unwrap(
      await readTeacherLogits(teacher, { rows: publicSplit.rows, classes: config.data.classes }),
    );
    return { outputs: { logits }, source: { source: 'logits', file: teacher.file } };
  }

  private get ready(): { descriptor: TeacherDescriptor; summary: TeacherSummary } {
    if (!this.prepared) throw new Error('the teacher is not prepared yet');
    return this.prepared;
  }

  get descriptor(): TeacherDescriptor {
    return this.ready.descriptor;
  }

  get summary(): TeacherSummary {
    return this.ready.summary;
  }
}
