import { z } from 'zod';
import { aggregationConfigSchema, refuseTrimmingNothing } from '../aggregation/strategy-config.js';
import { pruningConfigSchema, refuseUnreachablePruning } from '../compression/pruning-config.js';
import { dpConfigSchema, refuseDpWithoutPlainMean } from '../privacy/privacy-config.js';
import {
  refuseSecureAggregationConflicts,
  secureAggregationSchema,
} from '../privacy/secure-aggregation-config.js';
import { refuseHiddenStateWithoutModel, teacherConfigSchema } from '../teacher/teacher-config.js';
import {
  cnnArchitectureSchema,
  textArchitectureSchema,
  cnnProblems,
  type CnnArchitecture,
  type TextArchitecture,
  contentHash,
  distillationScheduleSchema,
  fail,
  MAX_CHUNK_BYTES,
  MIN_CHUNK_BYTES,
  ok,
  tensorEncodingSchema,
  toHex,
  type Result,
  type Sodium,
  type StudentSpec,
} from '../../protocol/index.js';

const hidden = z.array(z.number().int().min(1).max(4096)).max(8);

/**
 * What one run is: the student, the teacher and how its knowledge is distilled, the schedules,
 * rounds, participation and quorum, the aggregation and the update encoding. A run comes from
 * the coordinator's config file or from the REST API; both are checked by this schema.
 */
export const runSpecSchema = z
  .object({
    /** Names the run's export folder, so it may not be a path (no `/`, no `..`). */
    id: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and -, at most 64')
      .optional(),
    rounds: z.number().int().min(1).max(10_000).default(10),
    /** The run starts once this many sites hold the transfer set. */
    minSites: z.number().int().min(1).default(1),
    /**
     * The share of ready sites asked to train each round (seeded choice), at least minSites.
     * A round whose deadline passes with fewer than minSites updates fails and is retried.
     */
    participationFraction: z.number().positive().max(1).default(1),
    seed: z.number().int().min(0).default(0),
    schedule: distillationScheduleSchema.default({
      temperature: { kind: 'linear', from: 5, to: 1 },
      alpha: { kind: 'constant', value: 0.5 },
    }),
    localEpochs: z.number().int().min(1).max(1000).default(2),
    batchSize: z.number().int().min(1).max(65_536).default(32),
    learningRate: z.number().positive().max(10).default(0.01),
    labelSmoothing: z.number().min(0).max(0.5).default(0),
    /** FedProx's mu (arXiv 1812.06127); 0 is plain FedAvg local training. */
    proximalMu: z.number().min(0).max(10).default(0),
    studentHidden: hidden.default([8]),
    /** When set, the student is this CNN (rows reshaped to its image) and studentHidden is unused. */
    studentCnn: cnnArchitectureSchema.optional(),
    /** The student of a run over text (data.text): an embedding bag or a small encoder. */
    studentText: textArchitectureSchema.optional(),
    /** A teacher model trained here (the default) or imported logits (LOGITS-FORMAT.md). */
    teacher: teacherConfigSchema,
    /**
     * What the sites distil from: the teacher's logits on a public transfer set (with its
     * hidden features when hiddenState is set), or per-class mean logits (no shared inputs).
     */
    distillation: z
      .object({
        mode: z.enum(['transfer-set', 'class-logits']).default('transfer-set'),
        hiddenState: z
          .object({
            /** The student layer whose output is regressed on the teacher's last hidden layer. */
            studentLayer: z.string().min(1).max(64),
            weight: z.number().positive().max(100),
          })
          .strict()
          .optional(),
      })
      .strict()
      .refine((d) => !(d.hiddenState && d.mode === 'class-logits'), {
        message: 'hidden-state distillation needs the transfer-set mode',
        path: ['hiddenState'],
      })
      .default({ mode: 'transfer-set' }),
    /**
     * The most examples a site may claim in an update; a larger claim is refused
     * (update.count_over_cap). Below it the mean family still weighs no site above twice the
     * median claim (aggregation/update-bounds.ts).
     */
    maxExamplesPerSite: z.number().int().min(1).max(1e9).optional(),
    /** How updates become the next model: FedAvg, a server optimizer, or a robust rule. */
    aggregation: aggregationConfigSchema,
    /** How sites encode their updates (the tensor codec, PROTOCOL.md section 7). */
    updateEncoding: tensorEncodingSchema.default('float32'),
    /** For the topk encoding: the share of each tensor's values a site sends. */
    topkFraction: z.number().positive().max(1).default(0.1),
    /** When set, sites clip their updates to this L2 norm. */
    clipNorm: z.number().positive().optional(),
    /** Differential privacy for the released model, with its budget (privacy-config.ts). */
    privacy: z
      .object({
        dp: dpConfigSchema.optional(),
        /** The coordinator learns only each round's sum (secure-aggregation-config.ts). */
        secureAggregation: secureAggregationSchema.optional(),
      })
      .strict()
      .default({}),
    /** Chunk size of the blobs the coordinator sends: the transfer set and each model. */
    blobChunkBytes: z
      .number()
      .int()
      .min(MIN_CHUNK_BYTES)
      .max(MAX_CHUNK_BYTES)
      .default(64 * 1024),
    /** A round closes when every participant has answered or this much time has passed. */
    roundDeadlineMs: z.number().int().min(100).max(86_400_000).default(120_000),
    /**
     * A site whose update pull gets no chunk for this long is withholding it: its session is
     * refused (update.withheld) and its upload slot freed. Generous: one 64 KiB chunk per 30 s.
     */
    updateIdleMs: z.number().int().min(100).max(86_400_000).default(30_000),
    /**
     * What makes the student small: pruning after each round's aggregation, and
     * quantization-aware training in the final rounds.
     */
    compression: z
      .object({
        pruning: pruningConfigSchema.optional(),
        /**
         * In the last `finalRounds` rounds the sites train with their kernels fake-quantized
         * to the int8 grid of the export (per tensor, or per output channel).
         */
        quantizationAware: z
          .object({
            finalRounds: z.number().int().min(1),
            scheme: z.enum(['int8', 'int8-channel']).default('int8'),
          })
          .strict()
          .optional(),
      })
      .strict()
      .default({}),
  })
  .strict()
  .superRefine(refuseHiddenStateWithoutModel)
  .superRefine(refuseUnreachablePruning)
  .superRefine(refuseDpWithoutPlainMean)
  .superRefine(refuseSecureAggregationConflicts)
  .superRefine(refuseTrimmingNothing);

export type RunSpec = z.infer<typeof runSpecSchema>;
export type RunSpecInput = z.input<typeof runSpecSchema>;

/**
 * What makes a run this run: its settings (not its id) and the data it is evaluated on. A
 * restart resumes a stored run only when this matches.
 */
export function runSpecHash(
  sodium: Sodium,
  spec: RunSpec,
  data: unknown,
  publicSplit: Uint8Array,
): string {
  const settings = new TextEncoder().encode(
    JSON.stringify({ run: { ...spec, id: undefined }, data }),
  );
  return toHex(
    contentHash(sodium, new Uint8Array([...contentHash(sodium, publicSplit), ...settings])),
  );
}

/** What the data fixes of a model: its input width, classes and, over text, the vocabulary. */
export interface ModelData {
  readonly inputs: number;
  readonly classes: number;
  /** The tokenizer's ids, for a run over text (`data.text`); absent for numeric rows. */
  readonly vocabulary?: number | undefined;
}

/**
 * A model (student or teacher): over text, the text model of `text` (which must be set: an MLP
 * over token ids would read ids as magnitudes); over rows, the MLP of `hidden`, or the CNN of
 * `cnn` when its image holds exactly one row. A problem names its field under `at`.
 */
export function modelSpecOf(
  layers: {
    readonly hidden: number[];
    readonly cnn?: CnnArchitecture | undefined;
    readonly text?: TextArchitecture | undefined;
  },
  { inputs, classes, vocabulary }: ModelData,
  at: { readonly cnn: readonly string[]; readonly text: readonly string[] },
): Result<StudentSpec> {
  if (vocabulary !== undefined) {
    if (!layers.text) {
      return fail('config.invalid', 'the data is text (data.text): name a text model here', [
        ...at.text,
      ]);
    }
    return ok({ ...layers.text, inputs, vocabulary, classes } as StudentSpec);
  }
  if (layers.text) {
    return fail(
      'config.invalid',
      'a text model needs text data (data.text in the coordinator config)',
      [...at.text],
    );
  }
  if (!layers.cnn) return ok({ kind: 'mlp', inputs, hidden: layers.hidden, classes });
  const [problem] = cnnProblems({ ...layers.cnn, inputs });
  if (problem) return fail('config.invalid', problem.message, [...at.cnn, ...problem.path]);
  return ok({ kind: 'cnn', inputs, ...layers.cnn, classes });
}

/** The student a run trains (studentHidden, studentCnn or studentText). */
export function studentSpecOf(
  spec: Pick<RunSpec, 'studentHidden' | 'studentCnn' | 'studentText'>,
  data: ModelData,
): Result<StudentSpec> {
  return modelSpecOf(
    { hidden: spec.studentHidden, cnn: spec.studentCnn, text: spec.studentText },
    data,
    { cnn: ['studentCnn'], text: ['studentText'] },
  );
}

/** The teacher model's spec, its fields under `teacher`. */
export const teacherAt = { cnn: ['teacher', 'cnn'], text: ['teacher', 'text'] } as const;
