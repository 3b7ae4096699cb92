import { z } from 'zod';
import { enrolledSiteSchema, publicKeyFileSchema, runStateSchema } from '../../protocol/index.js';
import { liveRunStatusSchema } from '../runs/run-deps.js';
import { runSpecSchema } from '../runs/run-spec.js';

/** Every API error: a code (a protocol code, or auth.* / http.*), a message, where it was. */
export const apiErrorSchema = z.object({
  code: z.string(),
  message: z.string(),
  path: z.array(z.union([z.string(), z.number()])).optional(),
});

export const runStatusSchema = z.object({
  id: z.string(),
  state: runStateSchema,
  spec: runSpecSchema,
  createdAt: z.string(),
  updatedAt: z.string(),
  roundsClosed: z.number().int(),
  modelVersion: z.number().int(),
  live: liveRunStatusSchema.optional(),
});

export const siteStatusSchema = z.object({
  name: z.string(),
  state: z.enum(['enrolled', 'revoked']),
  /** First 8 bytes of the BLAKE2b hash of the public key, hex. */
  fingerprint: z.string(),
  connected: z.boolean(),
  runId: z.string().optional(),
  lastConnectedAt: z.string().optional(),
});

/** A site's NAME.pub file as written by `fedistill keys site`, or just its name and key. */
export const enrolSiteSchema = z.union([publicKeyFileSchema, enrolledSiteSchema]);
export const runSpecBodySchema = runSpecSchema;

export type SiteStatus = z.infer<typeof siteStatusSchema>;
