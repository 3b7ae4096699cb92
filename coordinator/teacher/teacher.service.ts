import path from 'node:path';
import { Inject, Injectable, Logger } from '@nestjs/common';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  applyNormalizer,
  contentHash,
  encodeTeacherKnowledge,
  parameterCount,
  toHex,
  type MlpSpec,
  type TeacherKnowledge,
} from '../../protocol/index.js';
import { COORDINATOR_SETUP, type CoordinatorSetup } from '../coordinator-setup.js';
import { EvaluationService } from '../evaluation/evaluation.service.js';
import type { PreparedTeacher } from '../runs/federated-run.js';
import type { RunSpec } from '../runs/run-spec.js';
import { TransferService } from '../transfer/transfer.service.js';
import { loadTeacher, saveTeacher } from './teacher-store.js';
import { trainTeacher } from './teacher-trainer.js';

/**
 * The teacher and its soft labels. The teacher is trained once on the public split and cached
 * on disk under a key of its data and settings; its logits on the public inputs form the
 * transfer set, announced to sites by content hash and served in chunks.
 */
@Injectable()
export class TeacherService {
  private readonly logger = new Logger('Teacher');
  /** Teachers prepared so far, by cache key: runs with the same teacher share it. */
  private readonly prepared = new Map<string, Promise<PreparedTeacher>>();

  constructor(
    @Inject(COORDINATOR_SETUP) private readonly setup: CoordinatorSetup,
    private readonly evaluation: EvaluationService,
    private readonly transfer: TransferService,
  ) {}

  /** The run's teacher and its knowledge, offered to sites; prepared once per settings. */
  prepare(run: RunSpec): Promise<PreparedTeacher> {
    const key = JSON.stringify([run.teacher, run.seed, run.distillation, run.blobChunkBytes]);
    let prepared = this.prepared.get(key);
    if (!prepared) {
      prepared = this.train(run);
      this.prepared.set(key, prepared);
      prepared.catch(() => this.prepared.delete(key));
    }
    return prepared;
  }

  private async train(run: RunSpec): Promise<PreparedTeacher> {
    const { config, publicSplit, normalizer, sodium } = this.setup;
    const spec: MlpSpec = {
      kind: 'mlp',
      inputs: publicSplit.features,
      hidden: run.teacher.hidden,
      classes: config.data.classes,
    };
    const training = { ...run.teacher, seed: run.seed };
    const keyMaterial = new Uint8Array([
      ...this.setup.publicSplitBytes,
      ...new TextEncoder().encode(JSON.stringify({ spec, training })),
    ]);
    const dir = path.join(
      config.cacheDir,
      `teacher-${toHex(contentHash(sodium, keyMaterial)).slice(0, 32)}`,
    );
    const inputs = tf.tensor2d(applyNormalizer(publicSplit.inputs, normalizer), [
      publicSplit.rows,
      publicSplit.features,
    ]);

    let model: tfl.LayersModel | undefined = await loadTeacher(dir);
    const fromCache = model !== undefined;
    if (!model) {
      this.logger.log(
        `training the teacher on ${publicSplit.rows} public rows (${training.epochs} epochs)`,
      );
      model = trainTeacher(spec, inputs, publicSplit.labels, training);
      await saveTeacher(model, dir).catch((error: Error) =>
        this.logger.warn(`teacher not cached: ${error.message}`),
      );
    } else {
      this.logger.log(`teacher loaded from cache ${dir}`);
    }

    const knowledge = await this.knowledge(model, inputs, run);
    inputs.dispose();
    const encoded = encodeTeacherKnowledge(knowledge);
    const blob = this.transfer.offer(encoded, run.blobChunkBytes);
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
      accuracy: await this.evaluation.accuracy(model),
      params: parameterCount(spec),
      fromCache,
    };
    model.dispose();
    this.logger.log(
      `teacher ready: ${prepared.params} parameters, held-out accuracy ${prepared.accuracy.toFixed(4)}; ` +
        `${knowledge.mode} ${toHex(blob.hash).slice(0, 16)}, ${encoded.length} bytes in ${blob.chunkHashes.length} chunks`,
    );
    return prepared;
  }

  /**
   * What the sites receive of the teacher. Transfer set: its logits on the public inputs, and
   * its last hidden layer's features when the run distils hidden states. Class logits: the mean
   * of its logits over the public rows of each true class.
   */
  private async knowledge(
    model: tfl.LayersModel,
    inputs: tf.Tensor2D,
    run: RunSpec,
  ): Promise<TeacherKnowledge> {
    const { config, publicSplit } = this.setup;
    const classes = config.data.classes;
    const logitsTensor = model.predict(inputs) as tf.Tensor2D;
    const logits = (await logitsTensor.data()) as Float32Array;
    logitsTensor.dispose();
    if (run.distillation.mode === 'class-logits') {
      const matrix = new Float32Array(classes * classes);
      const counts = new Array<number>(classes).fill(0);
      publicSplit.labels.forEach((label, row) => {
        counts[label]!++;
        for (let c = 0; c < classes; c++)
          matrix[label * classes + c]! += logits[row * classes + c]!;
      });
      matrix.forEach(
        (v, i) =>
          (matrix[i] =
            counts[Math.floor(i / classes)]! > 0 ? v / counts[Math.floor(i / classes)]! : 0),
      );
      return { mode: 'class-logits', classes, matrix };
    }
    let hidden: Float32Array = new Float32Array(0);
    let hiddenWidth = 0;
    if (run.distillation.hiddenState) {
      const lastHidden = model.layers[model.layers.length - 2]!;
      const extractor = tfl.model({
        inputs: model.inputs,
        outputs: lastHidden.output as tfl.SymbolicTensor,
      });
      const features = extractor.predict(inputs) as tf.Tensor2D;
      hiddenWidth = features.shape[1];
      hidden = (await features.data()) as Float32Array;
      features.dispose();
    }
    return {
      mode: 'transfer-set',
      rows: publicSplit.rows,
      features: publicSplit.features,
      classes,
      inputs: publicSplit.inputs,
      logits,
      hiddenWidth,
      hidden,
    };
  }
}
