import path from 'node:path';
import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import {
  applyNormalizer,
  contentHash,
  encodeTransferSet,
  parameterCount,
  toHex,
  type MlpSpec,
  type TransferSetDescriptor,
} from '../../protocol/index.js';
import { COORDINATOR_SETUP, type CoordinatorSetup } from '../coordinator-setup.js';
import { EvaluationService } from '../evaluation/evaluation.service.js';
import { TransferService } from '../transfer/transfer.service.js';
import { loadTeacher, saveTeacher } from './teacher-store.js';
import { trainTeacher } from './teacher-trainer.js';

interface PreparedTeacher {
  readonly transferSet: TransferSetDescriptor;
  readonly accuracy: number;
  readonly params: number;
  readonly fromCache: boolean;
}

/**
 * The teacher and its soft labels. The teacher is trained once on the public split and cached
 * on disk under a key of its data and settings; its logits on the public inputs form the
 * transfer set, announced to sites by content hash and served in chunks.
 */
@Injectable()
export class TeacherService implements OnModuleInit {
  private readonly logger = new Logger('Teacher');
  private prepared: PreparedTeacher | undefined;

  constructor(
    @Inject(COORDINATOR_SETUP) private readonly setup: CoordinatorSetup,
    private readonly evaluation: EvaluationService,
    private readonly transfer: TransferService,
  ) {}

  async onModuleInit(): Promise<void> {
    const { config, publicSplit, normalizer, sodium } = this.setup;
    const spec: MlpSpec = {
      kind: 'mlp',
      inputs: publicSplit.features,
      hidden: config.run.teacher.hidden,
      classes: config.data.classes,
    };
    const training = { ...config.run.teacher, seed: config.run.seed };
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

    const logitsTensor = model.predict(inputs) as tf.Tensor2D;
    const logits = (await logitsTensor.data()) as Float32Array;
    logitsTensor.dispose();
    inputs.dispose();
    const set = {
      rows: publicSplit.rows,
      features: publicSplit.features,
      classes: config.data.classes,
      inputs: publicSplit.inputs,
      logits,
    };
    const encoded = encodeTransferSet(set);
    this.prepared = {
      transferSet: {
        blob: this.transfer.offer(encoded, config.run.blobChunkBytes),
        rows: set.rows,
        features: set.features,
        classes: set.classes,
      },
      accuracy: await this.evaluation.accuracy(model),
      params: parameterCount(spec),
      fromCache,
    };
    model.dispose();
    this.logger.log(
      `teacher ready: ${this.prepared.params} parameters, held-out accuracy ${this.prepared.accuracy.toFixed(4)}; ` +
        `transfer set ${toHex(this.prepared.transferSet.blob.hash).slice(0, 16)}, ${encoded.length} bytes in ${this.prepared.transferSet.blob.chunkHashes.length} chunks`,
    );
  }

  private get ready(): PreparedTeacher {
    if (!this.prepared) throw new Error('the teacher is not prepared yet');
    return this.prepared;
  }

  get transferSet(): TransferSetDescriptor {
    return this.ready.transferSet;
  }

  get accuracy(): number {
    return this.ready.accuracy;
  }

  get fromCache(): boolean {
    return this.ready.fromCache;
  }

  get params(): number {
    return this.ready.params;
  }
}
