import path from 'node:path';
import { z } from 'zod';
import { runSpecSchema } from '../runs/run-spec.js';
import { publicLabelNeeds } from '../teacher/public-labels.js';
import { resolveTeacherPaths } from '../teacher/teacher-config.js';
import {
  backendChoiceSchema,
  fitNormalizer,
  HANDSHAKE_TIMEOUT_MS,
  MAX_VOCABULARY,
  parseWith,
  readJsonFile,
  unwrap,
  type FeatureTable,
  type Normalizer,
} from '../../protocol/index.js';

/** Imported logits of a large transfer set fit; the cap is read into memory whole. */
const DEFAULT_OPERATOR_FILE_BYTES = 256 * 1024 * 1024;
/** A buffer this coordinator can hold beside the run's own memory. */
const MAX_OPERATOR_FILE_BYTES = 2 * 1024 * 1024 * 1024;

const rateLimitSchema = (burst: number, perSecond: number) =>
  z
    .object({
      /** Requests allowed at once from one address. */
      burst: z.number().int().min(1).max(1_000_000).default(burst),
      /** Requests per second one address earns back. */
      perSecond: z.number().positive().max(1_000_000).default(perSecond),
    })
    .strict()
    .default({ burst, perSecond });

/**
 * What anyone may cost the coordinator before proving who they are. Addresses are the TCP
 * peer's (a proxy in front makes every client one address: raise the per-address limits there).
 */
export const limitsSchema = z
  .object({
    /** Open TCP connections (sites, API, dashboard) in all and from one address. */
    connections: z
      .object({
        total: z.number().int().min(1).max(1_000_000).default(1024),
        perAddress: z.number().int().min(1).max(1_000_000).default(64),
      })
      .strict()
      .default({ total: 1024, perAddress: 64 }),
    /**
     * Bytes a site connection may send before its handshake completes, its upgrade request
     * included; past it the connection is cut without reading the rest.
     */
    preAuthBytes: z.number().int().min(4096).max(1_048_576).default(16_384),
    /** Handshake initiations per address. */
    handshakes: rateLimitSchema(20, 5),
    /** Requests under /api per address, tokens or not. */
    api: rateLimitSchema(200, 50),
    /** Dashboard logins (POST /api/sessions) per address, on top of the API's limit. */
    sessions: rateLimitSchema(10, 1),
    /**
     * Refusals of unauthenticated traffic are counted in /metrics, and the audit log gets one
     * entry per kind and code per this window, with the count, not one entry per refusal.
     */
    refusalSampleMs: z.number().int().min(100).max(3_600_000).default(60_000),
  })
  .strict();

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
        /**
         * Where the other coordinator nodes reach this one's HTTP (they forward operators'
         * requests to the leader). By default the listening address, or this machine's first
         * non-loopback IPv4 address when listening on every interface. With `tls`, name one
         * the certificate covers.
         */
        advertiseUrl: z.url({ protocol: /^https?$/ }).optional(),
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
        /**
         * Whether the public split's CSV has a label column. false: an unlabelled transfer set,
         * whose soft labels come only from a teacher trained elsewhere (imported logits, in the
         * transfer-set mode); a teacher model or class logits, which need labels, are refused.
         */
        publicLabels: z.boolean().default(true),
        /** Held-out split that only the coordinator holds, for evaluation. */
        heldOut: z.string().min(1),
        /**
         * standardize: per-feature z-scores fitted on the public split, sent to every site;
         * none: values as they are (pixels already in [0, 1], where a near-constant border
         * pixel's tiny spread would turn a site's stroke into a huge z-score).
         */
        normalize: z.enum(['standardize', 'none']).default('standardize'),
        /**
         * A run over text: the public and held-out splits are CSV (RFC 4180, with a header) or
         * JSONL (by extension) with a `column` of texts (and `label`, as for rows). Each text
         * becomes its first `length` token ids; the tokenizer is learned from the public split's
         * texts with at most `vocabulary` ids, or read from `tokenizerFile` (a tokenizer.json
         * with [PAD] as id 0 and [UNK] as id 1), and shipped to the sites. Needs `normalize`
         * "none": ids are not magnitudes.
         */
        text: z
          .object({
            column: z.string().min(1).default('text'),
            length: z.number().int().min(1).max(4096).default(128),
            vocabulary: z.number().int().min(3).max(MAX_VOCABULARY).default(4000),
            tokenizerFile: z.string().min(1).optional(),
          })
          .strict()
          .optional(),
      })
      .strict()
      .refine((data) => !data.text || data.normalize === 'none', {
        message: 'text data needs normalize "none": token ids are not magnitudes',
        path: ['normalize'],
      }),
    /**
     * Files that a run spec names (`teacher.file`), from the config or the API: only regular
     * files under `dir` (symbolic links resolved), at most `maxBytes`, read within
     * `readTimeoutMs`. `dir` resolves against the config's folder.
     */
    operatorFiles: z
      .object({
        dir: z.string().min(1).default('imports'),
        maxBytes: z
          .number()
          .int()
          .min(1)
          .max(MAX_OPERATOR_FILE_BYTES)
          .default(DEFAULT_OPERATOR_FILE_BYTES),
        readTimeoutMs: z.number().int().min(100).max(600_000).default(30_000),
      })
      .strict()
      .default({ dir: 'imports', maxBytes: DEFAULT_OPERATOR_FILE_BYTES, readTimeoutMs: 30_000 }),
    /**
     * HTTPS for the API, the dashboard and the sites' socket.io (wss), with HSTS: PEM files,
     * relative to the config's folder. Without it the coordinator speaks plain HTTP, for
     * loopback or behind a reverse proxy that terminates TLS (docs/operations.md, "Behind a reverse proxy").
     */
    tls: z
      .object({ certFile: z.string().min(1), keyFile: z.string().min(1) })
      .strict()
      .optional(),
    /** GET /metrics needs an operator or auditor token unless `public` is true. */
    metrics: z
      .object({ public: z.boolean().default(false) })
      .strict()
      .default({ public: false }),
    /** The run to create and start when the coordinator starts; without it, runs come by the API. */
    run: runSpecSchema.optional(),
    /** Where the trained teacher is cached, keyed by its data and settings. */
    cacheDir: z.string().min(1),
    /**
     * The coordinator's store (SQLite) with the run's state, rounds, updates and models; a
     * coordinator restarted on it resumes the run where it stopped.
     */
    storeFile: z.string().min(1).default('coordinator.db'),
    /**
     * Where the store lives: SQLite at `storeFile` (the default, one coordinator process), or a
     * PostgreSQL server that several coordinator nodes share. The URL is a libpq connection
     * string; its password may instead come from PGPASSWORD, as libpq reads it.
     */
    store: z
      .discriminatedUnion('kind', [
        z.object({ kind: z.literal('sqlite') }).strict(),
        z
          .object({
            kind: z.literal('postgres'),
            url: z.string().regex(/^postgres(ql)?:\/\//, 'a postgres:// connection URL'),
            poolSize: z.number().int().min(2).max(100).default(10),
            /**
             * How long the leader's lease lasts unrenewed: a standby process on the same store
             * takes over this long after the leader stops (a crash, a kill -9).
             */
            leaseMs: z.number().int().min(500).max(600_000).default(10_000),
          })
          .strict(),
      ])
      .default({ kind: 'sqlite' }),
    reportFile: z.string().min(1),
    /**
     * Where the run started at boot writes its final student: `student/` (int8) and
     * `student-fp32/`, TensorFlow.js layers models. Runs from the API write under
     * `exports/<run id>/` beside the store.
     */
    exportDir: z.string().min(1).optional(),
    backend: backendChoiceSchema.default('auto'),
    limits: limitsSchema.default(limitsSchema.parse({})),
  })
  .strict()
  .superRefine((config, ctx) => {
    if (config.data.publicLabels || !config.run) return;
    for (const need of publicLabelNeeds(config.run)) {
      ctx.addIssue({ code: 'custom', message: need.message, path: ['run', ...need.path] });
    }
  });

export type CoordinatorConfig = z.infer<typeof coordinatorConfigSchema>;
export type CoordinatorLimits = z.infer<typeof limitsSchema>;
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
      ...(config.data.text?.tokenizerFile
        ? { text: { ...config.data.text, tokenizerFile: at(config.data.text.tokenizerFile) } }
        : {}),
    },
    ...(config.run
      ? { run: { ...config.run, teacher: resolveTeacherPaths(config.run.teacher, at) } }
      : {}),
    operatorFiles: { ...config.operatorFiles, dir: at(config.operatorFiles.dir) },
    ...(config.tls
      ? { tls: { certFile: at(config.tls.certFile), keyFile: at(config.tls.keyFile) } }
      : {}),
    cacheDir: at(config.cacheDir),
    storeFile: at(config.storeFile),
    reportFile: at(config.reportFile),
    ...(config.exportDir ? { exportDir: at(config.exportDir) } : {}),
  };
}

/** The normalizer the coordinator sends with the transfer set, as `data.normalize` asks. */
export function normalizerFor(
  data: Pick<CoordinatorConfig['data'], 'normalize'>,
  publicSplit: FeatureTable,
): Normalizer {
  if (data.normalize === 'standardize') return fitNormalizer(publicSplit);
  const features = publicSplit.features;
  return { mean: new Array<number>(features).fill(0), std: new Array<number>(features).fill(1) };
}
