import path from 'node:path';
import { z } from 'zod';
import { aggregationConfigSchema } from '../aggregation/strategy-config.js';
import {
  backendChoiceSchema,
  distillationScheduleSchema,
  HANDSHAKE_TIMEOUT_MS,
  MAX_CHUNK_BYTES,
  MIN_CHUNK_BYTES,
  parseWith,
  tensorEncodingSchema,
  readJsonFile,
  unwrap,
} from '../../protocol/index.js';
import {
  refuseHiddenStateWithoutModel,
  resolveTeacherPaths,
  teacherConfigSchema,
} from '../teacher/teacher-config.js';

const hidden = z.array(z.number().int().min(1).max(4096)).max(8);

/** The coordinator's config file: who may join, what data it holds, and how the run goes. */
export const coordinatorConfigSchema = z
  .object({
    listen: z
      .object({
        host: z.string().default('127.0.0.1'),
        /** 0 picks a free port; the chosen URL is logged and returned. */
        port: z.number().int().min(0).max(65_535).default(0),
        /** A connection that has not finished the handshake by then is refused. */
        handshakeTimeoutMs: z.number().int().min(100).max(600_000).default(HANDSHAKE_TIMEOUT_MS),
      })
      .strict()
      .default({ host: '127.0.0.1', port: 0, handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS }),
    identityFile: z.string().min(1),
    allowListFile: z.string().min(1),
    data: z
      .object({
        /** The data set's name, for the report. */
        name: z.string().min(1),
        classes: z.number().int().min(2).max(1000),
        /** Public split: trains the teacher and is the transfer set. */
        publicSplit: z.string().min(1),
        /** Held-out split that only the coordinator holds, for evaluation. */
        heldOut: z.string().min(1),
      })
      .strict(),
    run: z
      .object({
        id: z.string().min(1).max(64).optional(),
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
        /** How updates become the next model: FedAvg, a server optimizer, or a robust rule. */
        aggregation: aggregationConfigSchema,
        /** How sites encode their updates (the tensor codec, PROTOCOL.md section 7). */
        updateEncoding: tensorEncodingSchema.default('float32'),
        /** For the topk encoding: the share of each tensor's values a site sends. */
        topkFraction: z.number().positive().max(1).default(0.1),
        /** When set, sites clip their updates to this L2 norm. */
        clipNorm: z.number().positive().optional(),
        /** Chunk size of the blobs the coordinator sends: the transfer set and each model. */
        blobChunkBytes: z
          .number()
          .int()
          .min(MIN_CHUNK_BYTES)
          .max(MAX_CHUNK_BYTES)
          .default(64 * 1024),
        /** A round closes when every participant has answered or this much time has passed. */
        roundDeadlineMs: z.number().int().min(100).max(86_400_000).default(120_000),
      })
      .strict()
      .superRefine(refuseHiddenStateWithoutModel),
    /** Where the trained teacher is cached, keyed by its data and settings. */
    cacheDir: z.string().min(1),
    reportFile: z.string().min(1),
    backend: backendChoiceSchema.default('auto'),
  })
  .strict();

export type CoordinatorConfig = z.infer<typeof coordinatorConfigSchema>;
export type CoordinatorConfigInput = z.input<typeof coordinatorConfigSchema>;

/** Parses a config object; relative paths resolve against `baseDir`. */
export function parseCoordinatorConfig(raw: unknown, baseDir: string): CoordinatorConfig {
  const config = unwrap(
    parseWith(coordinatorConfigSchema, raw, 'config.invalid', 'coordinator config'),
  );
  return resolvePaths(config, baseDir);
}

export async function loadCoordinatorConfig(file: string): Promise<CoordinatorConfig> {
  const config = unwrap(await readJsonFile(file, coordinatorConfigSchema));
  return resolvePaths(config, path.dirname(path.resolve(file)));
}

function resolvePaths(config: CoordinatorConfig, baseDir: string): CoordinatorConfig {
  const at = (p: string): string => path.resolve(baseDir, p);
  return {
    ...config,
    identityFile: at(config.identityFile),
    allowListFile: at(config.allowListFile),
    data: {
      ...config.data,
      publicSplit: at(config.data.publicSplit),
      heldOut: at(config.data.heldOut),
    },
    run: { ...config.run, teacher: resolveTeacherPaths(config.run.teacher, at) },
    cacheDir: at(config.cacheDir),
    reportFile: at(config.reportFile),
  };
}
