import { z } from 'zod';
import { runStateSchema } from './run-state.js';

/**
 * What the coordinator tells the dashboard: every shape on the operator feed (the socket.io
 * namespace in operator-feed-events.ts) and of the dashboard's REST calls, one schema each, with
 * its type inferred from it. The coordinator builds and checks these; the browser imports only
 * the types (it loads no zod). Nothing here is private data: no example counts, labels, logits,
 * weights or addresses.
 */

export * from './operator-feed-events.js';

/** Who holds an API token: operators may change runs and sites; auditors only read. */
export const OPERATOR_ROLES = ['operator', 'auditor'] as const;
export const operatorRoleSchema = z.enum(OPERATOR_ROLES);
export type OperatorRole = z.infer<typeof operatorRoleSchema>;

/** POST /api/sessions: the token (from a login link or the operator) to trade for a session. */
export const sessionRequestSchema = z.object({ token: z.string().min(1).max(200) }).strict();
export type SessionRequest = z.infer<typeof sessionRequestSchema>;

/** POST /api/sessions answers this; the session token is the bearer from then on. */
export const dashboardSessionSchema = z.object({
  /** A short-lived token for this browser; use it as `Authorization: Bearer` and socket auth. */
  token: z.string(),
  role: operatorRoleSchema,
  /** The name of the token that logged in. */
  name: z.string(),
  expiresAt: z.string(),
});
export type DashboardSession = z.infer<typeof dashboardSessionSchema>;

/** FEED_EVENTS.hello: who the feed's token belongs to. */
export const feedHelloSchema = z.object({ role: operatorRoleSchema, name: z.string() });
export type FeedHello = z.infer<typeof feedHelloSchema>;

/** FEED_EVENTS.subscribe's argument: the id of the run to watch. */
export const feedSubscribeSchema = z.string().min(1).max(200);

/** The ack of FEED_EVENTS.subscribe. */
export const feedAckSchema = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true) }),
  z.object({ ok: z.literal(false), message: z.string() }),
]);
export type FeedAck = z.infer<typeof feedAckSchema>;

/** A run in the list (FEED_EVENTS.runs). */
export const runListItemSchema = z.object({
  id: z.string(),
  /** Where the run is: its live state while its coordinator drives it, its stored state else. */
  state: runStateSchema,
  /** Its coordinator drives it now: neither created (not started) nor ended. */
  active: z.boolean(),
  dataset: z.string(),
  rounds: z.number().int(),
  roundsClosed: z.number().int(),
  createdAt: z.string(),
  updatedAt: z.string(),
  /** The student accuracy after the last closed round. */
  accuracy: z.number().optional(),
});
export type RunListItem = z.infer<typeof runListItemSchema>;

/** What an operator may do to the run in its state now; the server checks again on the call. */
export const runControlsSchema = z.object({
  pause: z.boolean(),
  resume: z.boolean(),
  cancel: z.boolean(),
});
export type RunControls = z.infer<typeof runControlsSchema>;

/** Where the watched run stands now. */
export const runHeaderSchema = runListItemSchema.extend({
  /** The round open (or next to open). */
  round: z.number().int(),
  attempt: z.number().int(),
  modelVersion: z.number().int(),
  aggregation: z.string(),
  minSites: z.number().int(),
  sitesConnected: z.number().int(),
  sitesEnrolled: z.number().int(),
  controls: runControlsSchema,
});
export type RunHeader = z.infer<typeof runHeaderSchema>;

/** One closed round: one point on every chart. */
export const roundPointSchema = z.object({
  round: z.number().int(),
  /** Held-out accuracy of the global student after the round. */
  accuracy: z.number(),
  /** Held-out cross-entropy (nats) of the global student after the round. */
  loss: z.number(),
  temperature: z.number(),
  alpha: z.number(),
  /** Share of the student's kernel weights that are exactly zero. */
  sparsity: z.number(),
  /** Protocol bytes from sites to the coordinator while the round was open. */
  bytesUp: z.number(),
  /** Protocol bytes from the coordinator to sites while the round was open. */
  bytesDown: z.number(),
  /** From the round's (last) opening to its close. */
  durationSeconds: z.number(),
  /** Privacy spent so far (epsilon), once the run accounts for it. */
  epsilon: z.number().optional(),
});
export type RoundPoint = z.infer<typeof roundPointSchema>;

/** One attempt of one round on the timeline; a round that failed its quorum has several. */
export const timelineEntrySchema = z.object({
  round: z.number().int(),
  /** 1-based. */
  attempt: z.number().int(),
  /** abandoned: open in the store, but its run was cancelled or stopped meanwhile. */
  state: z.enum(['open', 'closed', 'failed', 'abandoned']),
  /** Sites selected for the attempt. */
  selected: z.number().int(),
  /** Selected sites whose update was folded in. */
  answered: z.number().int(),
  /** Selected sites still connected that had not answered when the attempt ended. */
  stragglers: z.number().int(),
  /** Selected sites that left before answering. */
  dropped: z.number().int(),
  openedAt: z.string(),
  closedAt: z.string().optional(),
});
export type TimelineEntry = z.infer<typeof timelineEntrySchema>;

/** One enrolled site; a row of the site table. */
export const siteRowSchema = z.object({
  site: z.string(),
  enrolment: z.enum(['enrolled', 'revoked']),
  connected: z.boolean(),
  /**
   * offline; joining (connected, fetching the transfer set); ready (waiting for a round);
   * training (selected for the open round, no update yet); answered (its update is in).
   */
  state: z.enum(['offline', 'joining', 'ready', 'training', 'answered']),
  /** The tfjs backend the site reported. */
  backend: z.string().optional(),
  /** The last closed round of this run that folded its update. */
  lastRound: z.number().int().optional(),
  /** Protocol bytes from and to the site since the coordinator started. */
  bytesUp: z.number(),
  bytesDown: z.number(),
});
export type SiteRow = z.infer<typeof siteRowSchema>;

/** FEED_EVENTS.snapshot: the whole view of the watched run. */
export const runSnapshotSchema = z.object({
  run: runHeaderSchema,
  points: z.array(roundPointSchema),
  timeline: z.array(timelineEntrySchema),
  sites: z.array(siteRowSchema),
});
export type RunSnapshot = z.infer<typeof runSnapshotSchema>;

/**
 * FEED_EVENTS.delta: changes since the last message. Points are new (append, in round order);
 * timeline entries replace the one of the same (round, attempt) or are added; site rows replace
 * the row of the same site or are added.
 */
export const runDeltaSchema = runSnapshotSchema;
export type RunDelta = z.infer<typeof runDeltaSchema>;

/** GET /api/audit/entries: filters from the query string, all optional. */
export const auditQuerySchema = z
  .object({
    /** Event name, or a prefix ending in `.` (`round.` matches round.started and round.failed). */
    event: z
      .string()
      .regex(/^[a-z_.]+$/, 'an event name or a prefix ending in a dot')
      .optional(),
    site: z.string().min(1).optional(),
    run: z.string().min(1).optional(),
    round: z.coerce.number().int().min(0).optional(),
    /** Only entries with a smaller seq (the next page). */
    before: z.coerce.number().int().min(0).optional(),
    /** At most this many (1 to 500; 100 by default). */
    limit: z.coerce.number().int().min(1).max(500).default(100),
  })
  .strict();
/** The query as the browser builds it: every filter optional. */
export type AuditQuery = Partial<z.output<typeof auditQuerySchema>>;

/** GET /api/audit/entries: a page of the log, newest first, filtered. */
export const auditPageSchema = z.object({
  entries: z.array(
    z.object({
      seq: z.number().int(),
      event: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])),
    }),
  ),
  /** Entries matching the filters. */
  matching: z.number().int(),
  /** Entries in the whole log. */
  size: z.number().int(),
});
export type AuditPage = z.infer<typeof auditPageSchema>;

/** GET /api/audit/tree-heads: every signed head, and whether the stored log still matches them. */
export const treeHeadsViewSchema = z.object({
  /** The coordinator's Ed25519 public key (base64), to compare with coordinator.pub. */
  coordinatorKey: z.string(),
  /** First 8 bytes of BLAKE2b of that key, hex (as `fedistill keys` prints it). */
  fingerprint: z.string(),
  heads: z.array(
    z.object({
      size: z.number().int(),
      root: z.string(),
      time: z.string(),
      /** The Ed25519 signature over the head checks under the coordinator's key. */
      signatureValid: z.boolean(),
    }),
  ),
  /** The whole stored log checked against every head (`fedistill audit verify` on the server). */
  log: z.discriminatedUnion('verified', [
    z.object({ verified: z.literal(true) }),
    z.object({ verified: z.literal(false), message: z.string() }),
  ]),
});
export type TreeHeadsView = z.infer<typeof treeHeadsViewSchema>;
