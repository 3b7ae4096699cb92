import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  unwrap,
  type NamedTensor,
  type Normalizer,
  type StudentSpec,
} from '../../protocol/index.js';
import type { EvaluationService } from '../evaluation/evaluation.service.js';
import type { PreparedTeacher } from '../teacher/prepared-teacher.js';
import { exportSizes, type ExportSizes } from './export-sizes.js';
import { measureLatency, type LatencyFigures } from './inference-latency.js';
import { exportTfjsModel, MODEL_JSON_FILE } from './tfjs-export.js';

interface Figures<T> {
  readonly teacher: T | null;
  readonly student_fp32: T;
  readonly student_int8: T;
}

/** The report's `compression` section: what the exported student keeps and what it costs. */
export interface CompressionReport {
  /** Held-out accuracy; the int8 student as read back from its export by tfjs itself. */
  readonly accuracy: Figures<number>;
  /** Held-out AUC of the class-1 probability, for binary tasks. */
  readonly auc?: Figures<number>;
  readonly parameters: { readonly teacher: number | null; readonly student: number };
  /** The share of the student's kernel weights pruned (exact zeros among all weights if none). */
  readonly sparsity: number;
  /** File sizes of each export, raw and gzipped. */
  readonly exports: ExportSizes;
  readonly latency_ms_per_example: {
    readonly teacher: LatencyFigures | null;
    readonly student: LatencyFigures;
  };
  /** Where the int8 and float32 TensorFlow.js models were written. */
  readonly files: { readonly int8: string; readonly fp32: string };
}

/**
 * Loads an exported layers model through tfjs's own weight decoding (dequantization included):
 * model.json and its shards, read from disk, then `tf.io.fromMemory`.
 */
async function loadExported(dir: string): Promise<tfl.LayersModel> {
  const modelJson = JSON.parse(await readFile(path.join(dir, MODEL_JSON_FILE), 'utf8')) as {
    modelTopology: object;
    weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  };
  const group = modelJson.weightsManifest[0]!;
  const shards = await Promise.all(group.paths.map((p) => readFile(path.join(dir, p))));
  const weightData = new Uint8Array(shards.reduce((n, s) => n + s.byteLength, 0));
  let offset = 0;
  for (const shard of shards) {
    weightData.set(shard, offset);
    offset += shard.byteLength;
  }
  return tfl.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: modelJson.modelTopology,
      weightSpecs: group.weights,
      weightData: weightData.buffer,
    }),
  );
}

/**
 * Exports the final student (int8 to `dir/student`, float32 to `dir/student-fp32`), reads the
 * int8 one back through tfjs and evaluates it beside the float32 student and the teacher.
 */
export async function compressStudent(args: {
  readonly dir: string;
  readonly spec: StudentSpec;
  readonly weights: readonly NamedTensor[];
  readonly student: tfl.LayersModel;
  readonly evaluation: EvaluationService;
  readonly teacher: PreparedTeacher;
  /** The input normalisation the student expects, kept in model.json's userDefinedMetadata. */
  readonly normalizer: Normalizer;
  /** The run's kernel sparsity, when it pruned. */
  readonly sparsity?: number;
}): Promise<CompressionReport> {
  const { dir, spec, weights, student, evaluation, teacher } = args;
  const files = { int8: path.join(dir, 'student'), fp32: path.join(dir, 'student-fp32') };
  const metadata = { fedistill: { normalizer: args.normalizer, classes: spec.classes } };
  unwrap(await exportTfjsModel(files.int8, spec, weights, 'int8', metadata));
  unwrap(await exportTfjsModel(files.fp32, spec, weights, 'float32', metadata));
  const exported = await loadExported(files.int8);
  const [fp32, int8] = [await evaluation.measure(student), await evaluation.measure(exported)];
  exported.dispose();
  const sizes = unwrap(await exportSizes(spec, weights));
  const model = teacher.summary.source === 'model' ? teacher.summary : undefined;
  // Teacher and student timed one after the other, so the machine's load is alike for both.
  const teacherModel = await teacher.loadModel?.();
  const teacherFeatures = teacherModel ? (teacherModel.inputs[0]!.shape[1] as number) : undefined;
  const latency = {
    teacher:
      teacherModel && teacherFeatures ? await measureLatency(teacherModel, teacherFeatures) : null,
    student: await measureLatency(student, spec.inputs),
  };
  teacherModel?.dispose();
  return {
    accuracy: {
      teacher: model?.accuracy ?? null,
      student_fp32: fp32.accuracy,
      student_int8: int8.accuracy,
    },
    ...(fp32.auc !== undefined && int8.auc !== undefined
      ? { auc: { teacher: model?.auc ?? null, student_fp32: fp32.auc, student_int8: int8.auc } }
      : {}),
    parameters: { teacher: model?.params ?? null, student: sizes.parameters },
    sparsity: args.sparsity ?? sizes.sparsity,
    exports: sizes,
    latency_ms_per_example: latency,
    files,
  };
}
