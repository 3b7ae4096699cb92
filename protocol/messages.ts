import { z } from 'zod';
import { binarySchema, hashSchema as hash } from './binary.js';
import { blobManifestSchema, MAX_CHUNK_BYTES, MAX_CHUNKS_PER_REQUEST } from './blob-transfer.js';
import { ERROR_CODES } from './errors.js';
import { MAX_DISCRETE_SIGMA2 } from './privacy/discrete-gaussian.js';
import { MAX_SHARES } from './secagg/shamir.js';
import {
  advertisedKeysSchema,
  encryptedShareSchema,
  keyRosterSchema,
  survivorSetSchema,
  survivorSignatureSchema,
  unmaskRequestSchema,
  unmaskResponseSchema,
} from './secagg/wire.js';
import { studentSpecSchema } from './student-spec.js';
import { normalizerSchema } from './tabular-data.js';
import { tensorEncodingSchema } from './tensor-codec.js';
import { teacherDescriptorSchema } from './transfer-set.js';
import { signedTreeHeadSchema } from './tree-head.js';
import { wireFloat } from './wire-number.js';

/**
 * Every application message, one schema each, discriminated on `type`, with the largest
 * encoded size each may have. The same schemas parse on both sides; a message that fails its
 * schema or its size ends the session. PROTOCOL.md section 5 describes each in prose.
 */

const runId = z.string().min(1).max(64);
const round = z.number().int().min(1).max(100_000);
const version = z.number().int().min(0).max(1_000_000);

/** Either side pulls a window of a blob the other offered. */
const blobRequestSchema = z
  .object({
    type: z.literal('blob.request'),
    hash,
    from: z.number().int().min(0),
    count: z.number().int().min(1).max(MAX_CHUNKS_PER_REQUEST),
  })
  .strict();

/** One chunk of a blob, in answer to a blob.request. */
const blobChunkSchema = z
  .object({
    type: z.literal('blob.chunk'),
    hash,
    index: z.number().int().min(0),
    data: binarySchema,
  })
  .strict();

// coordinator -> site

/** First message of a session: the run, the student, and the transfer set to fetch. */
export const runWelcomeSchema = z
  .object({
    type: z.literal('run.welcome'),
    runId,
    site: z.string().min(1).max(64),
    rounds: round,
    student: studentSpecSchema,
    /**
     * The student's input features by name, in input order: a site maps its own columns to
     * them by name (PROTOCOL.md 5.2). The normalizer's mean and std follow the same order.
     */
    features: z.array(z.string().min(1).max(256)).min(1).max(1_000_000),
    normalizer: normalizerSchema,
    teacher: teacherDescriptorSchema,
    /**
     * A run over text: the tokenizer (tokenizer.json, protocol/text/tokenizer.ts) the site
     * fetches, and the token ids per row it encodes its texts to; `features` then name the
     * positions (token_0...). Absent for numeric rows.
     */
    tokenizer: z
      .object({ blob: blobManifestSchema, length: z.number().int().min(1).max(4096) })
      .strict()
      .optional(),
  })
  .strict();

/** Opens a round for this site: the global model (as a blob) and the round's schedule values. */
/** Most sites one secure round takes; its round.start lists them all. */
export const MAX_SECURE_ROUND_SITES = 1000;

/**
 * The SecAgg+ settings of a round (PROTOCOL.md section 11): who takes part, the neighbour graph
 * and the quantization both sides must agree on, and the participants' identity keys.
 */
export const secureRoundSchema = z
  .object({
    /** The attempt (0-based) of the round: part of the round context every key is bound to. */
    attempt: z.number().int().min(0).max(1_000_000),
    participants: z.array(z.string().min(1).max(64)).min(3).max(MAX_SECURE_ROUND_SITES),
    /**
     * The participants' Ed25519 identity keys, as enrolled at the coordinator: a site checks its
     * neighbours' signed round keys against them.
     */
    identities: z
      .array(
        z
          .object({
            site: z.string().min(1).max(64),
            publicKey: binarySchema.refine((b) => b.length === 32, 'must be 32 bytes'),
          })
          .strict(),
      )
      .max(MAX_SECURE_ROUND_SITES),
    graphSeed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 32),
    degree: z.number().int().min(2).max(254),
    threshold: z.number().int().min(2).max(255),
    /** Each coordinate is clipped to [-clip, clip] before quantization. */
    clip: wireFloat(z.number().positive().max(1e6)),
    /** Quantization levels L: a coordinate becomes an integer in [0, L]. */
    levels: z
      .number()
      .int()
      .min(1)
      .max(2 ** 32 - 1),
    /**
     * Distributed differential privacy: each site adds discrete Gaussian noise N_Z(0,
     * noiseSigma2) in grid units (steps of 2 clip / levels) to every coordinate of its quantized
     * update, modulo 2^32, so the sum carries the run's noise and nobody, the coordinator
     * included, sees an update without it.
     */
    noiseSigma2: wireFloat(z.number().positive().max(MAX_DISCRETE_SIGMA2)).optional(),
  })
  .strict();

export const roundStartSchema = z
  .object({
    type: z.literal('round.start'),
    runId,
    round,
    modelVersion: version,
    temperature: wireFloat(z.number().min(1).max(100)),
    alpha: wireFloat(z.number().min(0).max(1)),
    localEpochs: z.number().int().min(1).max(1000),
    batchSize: z.number().int().min(1).max(65_536),
    learningRate: wireFloat(z.number().positive().max(10)),
    /** Label smoothing epsilon for the hard term. */
    labelSmoothing: wireFloat(z.number().min(0).max(0.5)),
    /** FedProx proximal weight; 0 for plain local training. */
    proximalMu: wireFloat(z.number().min(0).max(10)),
    /** How the site must encode its update. */
    updateEncoding: tensorEncodingSchema,
    /** For the topk encoding: the share of values kept. */
    topkFraction: wireFloat(z.number().positive().max(1)),
    /** When set, the site scales its update to at most this L2 norm. */
    clipNorm: wireFloat(z.number().positive()).optional(),
    model: blobManifestSchema,
    /** When set, a tensor blob of 0/1 values in the model's layout: weights at 0 stay exactly 0. */
    mask: blobManifestSchema.optional(),
    /**
     * When set, hidden-state distillation: the named student layer, through a projection the
     * site learns, regresses onto the teacher's features (sent with the transfer set).
     */
    hiddenState: z
      .object({
        layer: z.string().min(1).max(64),
        weight: wireFloat(z.number().positive().max(100)),
      })
      .strict()
      .optional(),
    /**
     * When set, quantization-aware training: the forward pass uses the kernels fake-quantized to
     * symmetric int8 (per tensor, or per output channel), gradients pass straight through to the
     * float kernels, and the update stays float.
     */
    fakeQuant: z.enum(['int8', 'int8-channel']).optional(),
    /**
     * When set, the round is securely aggregated: the site clips, quantizes and masks its
     * update, and the coordinator learns only the sum (the secagg.* messages).
     */
    secureAggregation: secureRoundSchema.optional(),
  })
  .strict();

// SecAgg+ (PROTOCOL.md section 11): the coordinator relays keys and sealed shares.

/** Each participant's neighbours and their signed round keys. */
export const secaggRosterSchema = z
  .object({ type: z.literal('secagg.roster'), runId, round, roster: keyRosterSchema })
  .strict();

/** The sealed shares the site's neighbours made for it. */
export const secaggRelaySchema = z
  .object({
    type: z.literal('secagg.relay'),
    runId,
    round,
    shares: z.array(encryptedShareSchema).max(MAX_SHARES),
  })
  .strict();

/** The survivor set (sites whose masked update arrived), for every survivor to sign. */
export const secaggSurvivorsSchema = z
  .object({ type: z.literal('secagg.survivors'), runId, round, set: survivorSetSchema })
  .strict();

/**
 * The signed survivor set, who shared keys but sent no update, and the survivors' signatures:
 * the shares the coordinator needs.
 */
export const secaggUnmaskSchema = z
  .object({ type: z.literal('secagg.unmask'), runId, round, request: unmaskRequestSchema })
  .strict();

/** The coordinator holds this site's update for the round; the site may drop its copy. */
export const updateAcceptedSchema = z
  .object({ type: z.literal('update.accepted'), runId, round })
  .strict();

/**
 * An update that arrived after its round closed (a straggler's): not applied, and not a
 * protocol violation, so the session goes on. The site may drop its copy.
 */
export const updateRejectedSchema = z
  .object({ type: z.literal('update.rejected'), runId, round, code: z.enum(ERROR_CODES) })
  .strict();

/** The run is over. Always the coordinator's final frame (TAG_FINAL). */
export const runCompleteSchema = z
  .object({ type: z.literal('run.complete'), runId, rounds: round })
  .strict();

/**
 * A signed head of the coordinator's audit log (PROTOCOL.md section 10), sent at every round's
 * end: the site keeps it, so it can later prove what history it was shown.
 */
export const auditTreeHeadSchema = z
  .object({ type: z.literal('audit.tree_head'), head: signedTreeHeadSchema })
  .strict();

// site -> coordinator

/** The site holds the verified transfer set and can train; it says which backend it runs. */
export const siteReadySchema = z
  .object({
    type: z.literal('site.ready'),
    transferHash: hash,
    backend: z.string().min(1).max(32),
  })
  .strict();

/** The site's answer to a round: its update (weight delta) as a blob, and its example count. */
export const roundUpdateSchema = z
  .object({
    type: z.literal('round.update'),
    runId,
    round,
    baseVersion: version,
    numExamples: z.number().int().min(1).max(1e9),
    delta: blobManifestSchema,
    /** Scalar metrics on the site's own validation split, after local training. */
    metrics: z
      .object({
        validationAccuracy: wireFloat(z.number().min(0).max(1)),
        validationLoss: wireFloat(z.number().min(0).max(1e6)),
      })
      .strict()
      .optional(),
  })
  .strict();

/** The site's signed round keys (SecAgg+). */
export const secaggKeysSchema = z
  .object({ type: z.literal('secagg.keys'), runId, round, keys: advertisedKeysSchema })
  .strict();

/** The site's shares, sealed to each of its neighbours, for the coordinator to relay. */
export const secaggSharesSchema = z
  .object({
    type: z.literal('secagg.shares'),
    runId,
    round,
    shares: z.array(encryptedShareSchema).max(MAX_SHARES),
  })
  .strict();

/** The site's signature on the survivor set it was shown (once per attempt). */
export const secaggSignatureSchema = z
  .object({
    type: z.literal('secagg.signature'),
    runId,
    round,
    signature: survivorSignatureSchema,
  })
  .strict();

/** The shares the coordinator asked for (never both kinds for one peer). */
export const secaggUnmaskResponseSchema = z
  .object({
    type: z.literal('secagg.unmask_response'),
    runId,
    round,
    response: unmaskResponseSchema,
  })
  .strict();

/** The site ends its session. Always the site's final frame (TAG_FINAL). */
export const siteLeaveSchema = z
  .object({ type: z.literal('site.leave'), reason: z.enum(['run.complete', ...ERROR_CODES]) })
  .strict();

export const coordinatorMessageSchema = z.discriminatedUnion('type', [
  runWelcomeSchema,
  roundStartSchema,
  blobRequestSchema,
  blobChunkSchema,
  updateAcceptedSchema,
  updateRejectedSchema,
  runCompleteSchema,
  auditTreeHeadSchema,
  secaggRosterSchema,
  secaggRelaySchema,
  secaggSurvivorsSchema,
  secaggUnmaskSchema,
]);
export const siteMessageSchema = z.discriminatedUnion('type', [
  blobRequestSchema,
  blobChunkSchema,
  siteReadySchema,
  roundUpdateSchema,
  siteLeaveSchema,
  secaggKeysSchema,
  secaggSharesSchema,
  secaggSignatureSchema,
  secaggUnmaskResponseSchema,
]);

export type CoordinatorMessage = z.infer<typeof coordinatorMessageSchema>;
export type SiteMessage = z.infer<typeof siteMessageSchema>;
export type RunWelcome = z.infer<typeof runWelcomeSchema>;
export type RoundStart = z.infer<typeof roundStartSchema>;
export type RoundUpdate = z.infer<typeof roundUpdateSchema>;
export type BlobChunk = z.infer<typeof blobChunkSchema>;
export type BlobRequest = z.infer<typeof blobRequestSchema>;
export type SecureRound = z.infer<typeof secureRoundSchema>;

export const SITE_MESSAGE_TYPES: readonly string[] = siteMessageSchema.options.map(
  (o) => o.shape.type.value,
);
export const COORDINATOR_MESSAGE_TYPES: readonly string[] = coordinatorMessageSchema.options.map(
  (o) => o.shape.type.value,
);

const KIB = 1024;
/** A manifest lists up to MAX_BLOB_CHUNKS hashes of 32 bytes (plus MessagePack framing). */
const MANIFEST_BYTES = 4096 * 34 + KIB;

/** The largest encoded message of each type, checked before the schema is applied. */
export const MESSAGE_LIMITS: Readonly<
  Record<CoordinatorMessage['type'] | SiteMessage['type'], number>
> = {
  // The transfer set's manifest and, for text, the tokenizer's.
  'run.welcome': 2 * MANIFEST_BYTES + 64 * KIB,
  // A secure round lists its participants and their identity keys.
  'round.start': MANIFEST_BYTES + 128 * KIB,
  'round.update': MANIFEST_BYTES + KIB,
  'blob.request': 128,
  'blob.chunk': MAX_CHUNK_BYTES + 256,
  'update.accepted': 256,
  'update.rejected': 256,
  'run.complete': 256,
  'audit.tree_head': 512,
  'site.ready': 256,
  'site.leave': 256,
  'secagg.roster': 256 * KIB,
  'secagg.relay': 128 * KIB,
  'secagg.survivors': 96 * KIB,
  'secagg.unmask': 320 * KIB,
  'secagg.keys': KIB,
  'secagg.shares': 128 * KIB,
  'secagg.signature': 256,
  'secagg.unmask_response': 64 * KIB,
};

/** The messages that must, and alone may, carry the final tag. */
export const FINAL_MESSAGE_TYPES: readonly string[] = ['run.complete', 'site.leave'];
