import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  buildModel,
  fail,
  ok,
  readWeights,
  writeWeights,
  type NamedTensor,
  type Result,
  type StudentSpec,
} from '../protocol/index.js';
import { disposeLocalTensors, localTensors, type LocalArrays } from './local-data.js';
import {
  trainLocally,
  type HiddenStateTerm,
  type LocalData,
  type LocalTrainingPlan,
} from './local-trainer.js';
import type { HiddenStateRequest, RoundPlan, Trainer } from './trainer.js';

/** Seeds the hidden-state projection's initial weights, so a run replays exactly. */
const PROJECTION_SEED = 17;

/** Trains in the site's own thread; the only trainer that can distil hidden states. */
export class InThreadTrainer implements Trainer {
  readonly model: tfl.LayersModel;
  private readonly data: LocalData;
  /** The hidden-state extractor and projection, once a round asks for them. */
  private hidden:
    | {
        readonly layer: string;
        readonly extractor: tfl.LayersModel;
        readonly projection: tf.Variable;
      }
    | undefined;

  constructor(
    private readonly options: { readonly spec: StudentSpec; readonly data: LocalArrays },
  ) {
    this.model = buildModel(options.spec, 0);
    this.data = localTensors(options.data, options.spec);
  }

  async train(global: readonly NamedTensor[], plan: RoundPlan): Promise<Result<NamedTensor[]>> {
    writeWeights(this.model, global);
    const { hiddenState, ...rest } = plan;
    let localPlan: LocalTrainingPlan = rest;
    if (hiddenState) {
      const term = this.hiddenStateTerm(hiddenState);
      if (!term.ok) return term;
      localPlan = { ...rest, hiddenState: term.value };
    }
    await trainLocally(this.model, this.data, localPlan);
    return ok(await readWeights(this.model, this.options.spec));
  }

  /**
   * The hidden-state term for this run: an extractor sharing the student's weights up to the
   * named layer, and a projection to the teacher's width, made once and kept across rounds.
   */
  private hiddenStateTerm(request: HiddenStateRequest): Result<HiddenStateTerm> {
    const teacher = this.data.teacher;
    if (teacher.kind !== 'transfer-set' || !teacher.hidden) {
      return fail(
        'protocol.unexpected_message',
        'hidden-state distillation without teacher features',
      );
    }
    if (!this.hidden || this.hidden.layer !== request.layer) {
      let layer: ReturnType<tfl.LayersModel['getLayer']>;
      try {
        layer = this.model.getLayer(request.layer);
      } catch {
        return fail('schema.invalid', `the student has no layer ${request.layer}`);
      }
      const output = layer.output as tfl.SymbolicTensor;
      if (output.shape.length !== 2) {
        // A sequence layer (an encoder block) gives a vector per token, the teacher one per row.
        return fail(
          'schema.invalid',
          `the student's layer ${request.layer} gives [${output.shape.slice(1).join(', ')}] per row; hidden-state distillation needs one vector per row (pool, or a hidden_ layer)`,
        );
      }
      const width = output.shape[1]!;
      const teacherWidth = teacher.hidden.shape[1];
      this.hidden = {
        layer: request.layer,
        extractor: tfl.model({ inputs: this.model.inputs, outputs: output }),
        projection: tf.variable(
          tf.randomNormal(
            [width, teacherWidth],
            0,
            Math.sqrt(2 / (width + teacherWidth)),
            'float32',
            PROJECTION_SEED,
          ),
        ),
      };
    }
    return ok({
      extractor: this.hidden.extractor,
      projection: this.hidden.projection,
      weight: request.weight,
    });
  }

  close(): void {
    this.model.dispose();
    disposeLocalTensors(this.data);
    this.hidden?.projection.dispose();
  }
}
