import { z } from 'zod';
import type { AuditPage, DashboardSession, TreeHeadsView } from '../../dashboard/feed.js';
import { enrolledSiteSchema, publicKeyFileSchema, runStateSchema } from '../../protocol/index.js';
import { runSpecSchema } from '../runs/run-spec.js';

/** Every API error: a code (a protocol code, or auth.* / http.*), a message, where it was. */
export const apiErrorSchema = z.object({
  code: z.string(),
  message: z.string(),
  path: z.array(z.union([z.string(), z.number()])).optional(),
});

const liveRunSchema = z.object({
  state: runStateSchema,
  round: z.number().int(),
  attempt: z.number().int(),
  modelVersion: z.number().int(),
  sites: z.array(
    z.object({ site: z.string(), ready: z.boolean(), backend: z.string().optional() }),
  ),
  participants: z.array(z.string()),
  answered: z.array(z.string()),
});

export const runStatusSchema = z.object({
  id: z.string(),
  state: runStateSchema,
  spec: runSpecSchema,
  createdAt: z.string(),
  updatedAt: z.string(),
  roundsClosed: z.number().int(),
  modelVersion: z.number().int(),
  live: liveRunSchema.optional(),
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

/** POST /api/sessions: the token to trade for a dashboard session. */
export const sessionRequestSchema = z.object({ token: z.string().min(1).max(200) }).strict();

export const dashboardSessionSchema = z.object({
  token: z.string(),
  role: z.enum(['operator', 'auditor']),
  name: z.string(),
  expiresAt: z.string(),
});

/** GET /api/audit/entries: filters from the query string, all optional. */
export const auditQuerySchema = z
  .object({
    event: z
      .string()
      .regex(/^[a-z_.]+$/, 'an event name or a prefix ending in a dot')
      .optional(),
    site: z.string().min(1).optional(),
    run: z.string().min(1).optional(),
    round: z.coerce.number().int().min(0).optional(),
    before: z.coerce.number().int().min(0).optional(),
    limit: z.coerce.number().int().min(1).max(500).default(100),
  })
  .strict();

export const auditPageSchema = z.object({
  entries: z.array(
    z.object({
      seq: z.number().int(),
      event: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])),
    }),
  ),
  matching: z.number().int(),
  size: z.number().int(),
});

export const treeHeadsViewSchema = z.object({
  coordinatorKey: z.string(),
  fingerprint: z.string(),
  heads: z.array(
    z.object({
      size: z.number().int(),
      root: z.string(),
      time: z.string(),
      signatureValid: z.boolean(),
    }),
  ),
  log: z.union([
    z.object({ verified: z.literal(true) }),
    z.object({ verified: z.literal(false), message: z.string() }),
  ]),
});

// The dashboard's types (dashboard/feed.ts) and these schemas describe the same JSON: a
// difference fails to compile here.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Holds<T extends true> = T;
export type FeedSchemasInSync = [
  Holds<Same<z.infer<typeof dashboardSessionSchema>, DashboardSession>>,
  Holds<Same<z.infer<typeof treeHeadsViewSchema>['heads'][number], TreeHeadsView['heads'][number]>>,
  Holds<Same<z.infer<typeof treeHeadsViewSchema>['log'], TreeHeadsView['log']>>,
  Holds<Same<z.infer<typeof auditPageSchema>['entries'][number]['seq'], number>>,
  Holds<Same<z.infer<typeof auditPageSchema>['matching'], AuditPage['matching']>>,
];
