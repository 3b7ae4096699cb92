/**
 * What the coordinator tells the dashboard, and how: the shapes on the operator socket.io
 * namespace and of the dashboard's REST calls. Types only, shared by the coordinator (which
 * builds them) and the browser code (which draws them); nothing here is private data: no
 * example counts, labels, logits, weights or addresses.
 */

/** The socket.io namespace of the live feed; its handshake carries `auth: { token }`. */
export const OPERATOR_NAMESPACE = '/operator';

/** Event names on that namespace. */
export const FEED_EVENTS = {
  /** Server to browser, once after the handshake: who the token belongs to. */
  hello: 'hello',
  /** Server to browser: every run, newest first; sent on connect and when any run changes. */
  runs: 'runs',
  /** Browser to server: watch this run (`subscribe(runId, ack)`); the ack is a FeedAck. */
  subscribe: 'subscribe',
  /** Server to browser: the whole view of the watched run, once per subscribe. */
  snapshot: 'run.snapshot',
  /** Server to browser: what changed in the watched run since the last snapshot or delta. */
  delta: 'run.delta',
} as const;

export type Role = 'operator' | 'auditor';

/** POST /api/sessions `{ token }` answers this; the session token is the bearer from then on. */
export interface DashboardSession {
  /** A short-lived token for this browser; use it as `Authorization: Bearer` and socket auth. */
  readonly token: string;
  readonly role: Role;
  /** The name of the token that logged in. */
  readonly name: string;
  readonly expiresAt: string;
}

export interface FeedHello {
  readonly role: Role;
  readonly name: string;
}

export type FeedAck = { readonly ok: true } | { readonly ok: false; readonly message: string };

export type RunLifecycle =
  | 'created'
  | 'waiting-for-sites'
  | 'round-open'
  | 'closing'
  | 'paused'
  | 'completing'
  | 'complete'
  | 'cancelled'
  | 'stopped-by-budget';

/** A run in the list. */
export interface RunListItem {
  readonly id: string;
  readonly state: RunLifecycle;
  readonly dataset: string;
  readonly rounds: number;
  readonly roundsClosed: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** The student accuracy after the last closed round. */
  readonly accuracy?: number;
}

/** Where the watched run stands now. */
export interface RunHeader extends RunListItem {
  /** The run's live phase when it is the active run; its stored state otherwise. */
  readonly phase: 'waiting-for-sites' | 'round-open' | 'paused' | RunLifecycle;
  /** The round open (or next to open). */
  readonly round: number;
  readonly attempt: number;
  readonly modelVersion: number;
  readonly aggregation: string;
  readonly minSites: number;
  readonly sitesConnected: number;
  readonly sitesEnrolled: number;
}

/** One closed round: one point on every chart. */
export interface RoundPoint {
  readonly round: number;
  /** Held-out accuracy of the global student after the round. */
  readonly accuracy: number;
  /** Held-out cross-entropy (nats) of the global student after the round. */
  readonly loss: number;
  readonly temperature: number;
  readonly alpha: number;
  /** Share of the student's kernel weights that are exactly zero. */
  readonly sparsity: number;
  /** Protocol bytes from sites to the coordinator while the round was open. */
  readonly bytesUp: number;
  /** Protocol bytes from the coordinator to sites while the round was open. */
  readonly bytesDown: number;
  /** From the round's (last) opening to its close. */
  readonly durationSeconds: number;
  /** Privacy spent so far (epsilon), once the run accounts for it. */
  readonly epsilon?: number;
}

/** One attempt of one round on the timeline; a round that failed its quorum has several. */
export interface TimelineEntry {
  readonly round: number;
  /** 1-based. */
  readonly attempt: number;
  readonly state: 'open' | 'closed' | 'failed' | 'abandoned';
  /** Sites selected for the attempt. */
  readonly selected: number;
  /** Selected sites whose update was folded in. */
  readonly answered: number;
  /** Selected sites still connected that had not answered when the attempt ended. */
  readonly stragglers: number;
  /** Selected sites that left before answering. */
  readonly dropped: number;
  readonly openedAt: string;
  readonly closedAt?: string;
}

/** One enrolled site; a row of the site table. */
export interface SiteRow {
  readonly site: string;
  readonly enrolment: 'enrolled' | 'revoked';
  readonly connected: boolean;
  /**
   * offline; joining (connected, fetching the transfer set); ready (waiting for a round);
   * training (selected for the open round, no update yet); answered (its update is in).
   */
  readonly state: 'offline' | 'joining' | 'ready' | 'training' | 'answered';
  /** The tfjs backend the site reported. */
  readonly backend?: string;
  /** The last closed round of this run that folded its update. */
  readonly lastRound?: number;
  /** Protocol bytes from and to the site since the coordinator started. */
  readonly bytesUp: number;
  readonly bytesDown: number;
}

export interface RunSnapshot {
  readonly run: RunHeader;
  readonly points: readonly RoundPoint[];
  readonly timeline: readonly TimelineEntry[];
  readonly sites: readonly SiteRow[];
}

/** Changes since the last message: points to append, entries and rows to upsert by key. */
export interface RunDelta {
  readonly run: RunHeader;
  /** New points, in round order; append. */
  readonly points: readonly RoundPoint[];
  /** Replace the entry of the same (round, attempt), or add it. */
  readonly timeline: readonly TimelineEntry[];
  /** Replace the row of the same site, or add it. */
  readonly sites: readonly SiteRow[];
}

/** GET /api/audit/entries: a page of the log, newest first, filtered. */
export interface AuditPage {
  readonly entries: readonly {
    readonly seq: number;
    readonly event: Readonly<Record<string, string | number | boolean | null>>;
  }[];
  /** Entries matching the filters. */
  readonly matching: number;
  /** Entries in the whole log. */
  readonly size: number;
}

/** Query of GET /api/audit/entries; every filter optional. */
export interface AuditQuery {
  /** Event name, or a prefix ending in `.` (`round.` matches round.started and round.failed). */
  readonly event?: string;
  readonly site?: string;
  readonly run?: string;
  readonly round?: number;
  /** Only entries with a smaller seq (the next page). */
  readonly before?: number;
  /** At most this many (1 to 500; 100 by default). */
  readonly limit?: number;
}

/** GET /api/audit/tree-heads: every signed head, and whether the stored log still matches them. */
export interface TreeHeadsView {
  /** The coordinator's Ed25519 public key (base64), to compare with coordinator.pub. */
  readonly coordinatorKey: string;
  /** First 8 bytes of BLAKE2b of that key, hex (as `fedistill keys` prints it). */
  readonly fingerprint: string;
  readonly heads: readonly {
    readonly size: number;
    readonly root: string;
    readonly time: string;
    /** The Ed25519 signature over the head checks under the coordinator's key. */
    readonly signatureValid: boolean;
  }[];
  /** The whole stored log checked against every head (`fedistill audit verify` on the server). */
  readonly log:
    { readonly verified: true } | { readonly verified: false; readonly message: string };
}
