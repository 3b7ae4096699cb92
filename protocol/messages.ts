import { z } from 'zod';
import { mlpSpecSchema } from './student-spec.js';
import { normalizerSchema } from './tabular-data.js';
import { wireTensorListSchema } from './tensor-codec.js';
import { transferManifestSchema } from './transfer-set.js';
import { binarySchema, hashSchema as hash } from './binary.js';
import { MAX_CHUNKS_PER_REQUEST } from './constants.js';

/**
 * Every application message, one schema each, discriminated on `type`. The same schemas parse
 * on both sides; a message that fails its schema ends the session (schema.invalid).
 */

const runId = z.string().min(1).max(64);
const round = z.number().int().min(1).max(100_000);

// coordinator -> site

/** Sent once after the handshake: what the run is and where its transfer set is. */
export const runWelcomeSchema = z
  .object({
    type: z.literal('run.welcome'),
    runId,
    site: z.string().min(1).max(64),
    rounds: round,
    student: mlpSpecSchema,
    normalizer: normalizerSchema,
    transfer: transferManifestSchema,
  })
  .strict();

/** One chunk of the transfer set, sent in answer to a transfer.request. */
export const transferChunkSchema = z
  .object({
    type: z.literal('transfer.chunk'),
    hash,
    index: z.number().int().min(0),
    data: binarySchema,
  })
  .strict();

/** Opens a round for this site: the global student and the round's schedule values. */
export const roundStartSchema = z
  .object({
    type: z.literal('round.start'),
    runId,
    round,
    modelVersion: z.number().int().min(0),
    temperature: z.number().min(1).max(100),
    alpha: z.number().min(0).max(1),
    localEpochs: z.number().int().min(1).max(1000),
    batchSize: z.number().int().min(1).max(65_536),
    learningRate: z.number().positive().max(10),
    weights: wireTensorListSchema,
  })
  .strict();

/** The run is over; the site may close its session. */
export const runCompleteSchema = z
  .object({ type: z.literal('run.complete'), runId, rounds: round })
  .strict();

// site -> coordinator

/** Asks for `count` chunks of the transfer set from `from` (the site's flow control). */
export const transferRequestSchema = z
  .object({
    type: z.literal('transfer.request'),
    hash,
    from: z.number().int().min(0),
    count: z.number().int().min(1).max(MAX_CHUNKS_PER_REQUEST),
  })
  .strict();

/** The site holds the verified transfer set and can train; it says which backend it runs. */
export const siteReadySchema = z
  .object({
    type: z.literal('site.ready'),
    transferHash: hash,
    backend: z.string().min(1).max(32),
  })
  .strict();

/** The site's answer to a round: only the weight delta and its example count leave the site. */
export const roundUpdateSchema = z
  .object({
    type: z.literal('round.update'),
    runId,
    round,
    baseVersion: z.number().int().min(0),
    numExamples: z.number().int().min(1).max(1e9),
    delta: wireTensorListSchema,
  })
  .strict();

export const coordinatorMessageSchema = z.discriminatedUnion('type', [
  runWelcomeSchema,
  transferChunkSchema,
  roundStartSchema,
  runCompleteSchema,
]);
export const siteMessageSchema = z.discriminatedUnion('type', [
  transferRequestSchema,
  siteReadySchema,
  roundUpdateSchema,
]);

export type CoordinatorMessage = z.infer<typeof coordinatorMessageSchema>;
export type SiteMessage = z.infer<typeof siteMessageSchema>;
export type RunWelcome = z.infer<typeof runWelcomeSchema>;
export type RoundStart = z.infer<typeof roundStartSchema>;
export type RoundUpdate = z.infer<typeof roundUpdateSchema>;

export const SITE_MESSAGE_TYPES = siteMessageSchema.options.map((o) => o.shape.type.value);
export const COORDINATOR_MESSAGE_TYPES = coordinatorMessageSchema.options.map(
  (o) => o.shape.type.value,
);
