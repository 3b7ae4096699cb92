import path from 'node:path';
import { z } from 'zod';
import {
  cnnArchitectureSchema,
  mlpSpecSchema,
  textArchitectureSchema,
} from '../../protocol/index.js';

export const LOGITS_FORMATS = ['jsonl', 'binary'] as const;
export type LogitsFormat = (typeof LOGITS_FORMATS)[number];

const FORMAT_BY_EXTENSION: Readonly<Record<string, LogitsFormat>> = {
  '.jsonl': 'jsonl',
  '.ndjson': 'jsonl',
  '.bin': 'binary',
};

/** The format a logits file's extension names, if it names one. */
export function logitsFormatOf(file: string): LogitsFormat | undefined {
  return FORMAT_BY_EXTENSION[path.extname(file).toLowerCase()];
}

/**
 * A teacher trained on the public split by the coordinator (and cached); the default. An MLP of
 * `hidden`, or the CNN of `cnn` when set (for image rows), or over text the model of `text`.
 */
const modelTeacherSchema = z
  .object({
    source: z.literal('model').default('model'),
    hidden: mlpSpecSchema.shape.hidden.default([64, 32]),
    cnn: cnnArchitectureSchema.optional(),
    /** The teacher of a run over text (data.text): an embedding bag or a small encoder. */
    text: textArchitectureSchema.optional(),
    epochs: z.number().int().min(1).max(10_000).default(150),
    batchSize: z.number().int().min(1).max(65_536).default(32),
    learningRate: z.number().positive().max(10).default(0.005),
  })
  .strict();

/**
 * Teacher logits computed elsewhere (a large language model, say) over the public split's rows,
 * imported from a file in the format of LOGITS-FORMAT.md. The format comes from the file's
 * extension (.jsonl, .ndjson, .bin) unless given.
 */
const importedTeacherSchema = z
  .object({
    source: z.literal('logits'),
    file: z.string().min(1),
    format: z.enum(LOGITS_FORMATS).optional(),
  })
  .strict()
  .transform((teacher, ctx) => {
    const format = teacher.format ?? logitsFormatOf(teacher.file);
    if (format) return { ...teacher, format };
    ctx.addIssue({
      code: 'custom',
      message: `cannot tell the format of ${teacher.file} from its extension (.jsonl, .ndjson or .bin); set format`,
      path: ['format'],
    });
    return z.NEVER;
  });

/** Where the soft labels come from: `run.teacher` of the coordinator config. */
export const teacherConfigSchema = z
  .discriminatedUnion('source', [modelTeacherSchema, importedTeacherSchema])
  .default({ source: 'model', hidden: [64, 32], epochs: 150, batchSize: 32, learningRate: 0.005 });
export type TeacherConfig = z.infer<typeof teacherConfigSchema>;
export type ModelTeacherConfig = Extract<TeacherConfig, { source: 'model' }>;
export type ImportedTeacherConfig = Extract<TeacherConfig, { source: 'logits' }>;

/** Imported logits carry no hidden features, so hidden-state distillation needs a teacher model. */
export function refuseHiddenStateWithoutModel(
  run: { teacher: TeacherConfig; distillation: { hiddenState?: unknown } },
  ctx: z.RefinementCtx,
): void {
  if (run.teacher.source === 'logits' && run.distillation.hiddenState) {
    ctx.addIssue({
      code: 'custom',
      message:
        'hidden-state distillation needs a teacher model (teacher.source "model"); imported logits have no hidden features',
      path: ['distillation', 'hiddenState'],
    });
  }
}

/** The imported file resolves against the config file's folder, like every other path. */
export function resolveTeacherPaths(
  teacher: TeacherConfig,
  at: (p: string) => string,
): TeacherConfig {
  return teacher.source === 'logits' ? { ...teacher, file: at(teacher.file) } : teacher;
}
