import type { AuditStore } from './audit-store.js';
import type { LeaseStore } from './lease-store.js';
import type { ModelStore } from './model-store.js';
import type { RunStore } from './run-store.js';
import type { SiteStore } from './site-store.js';
import type { TokenStore } from './token-store.js';
import type { UpdateStore } from './update-store.js';

// The store's contract in one import for its callers; each part is documented in its own file.
export type { AuditEntry, AuditFilter, AuditStore } from './audit-store.js';
export type { Lease, LeaseStore } from './lease-store.js';
export type { ModelStore, StoredModel } from './model-store.js';
export type {
  AttemptKey,
  AttemptOutcome,
  OpenRoundRecord,
  ProcessTraffic,
  RoundAttemptRecord,
  RunStore,
  RunTraffic,
  StoredRun,
} from './run-store.js';
export type { SiteRecord, SiteStore } from './site-store.js';
export type { TokenRecord, TokenStore } from './token-store.js';
export type { StoredUpdate, UpdateStore } from './update-store.js';

/**
 * The coordinator's durable state, one part per concern so that a backend can implement and
 * test the parts one by one. Blobs (models, optimizer state, masks) are content-addressed.
 * Every method settles once its change is durable; a backend may commit changes that arrive
 * together in one transaction (group commit), but settles none of them before it commits.
 * Changes commit in the order they were asked for, so a caller may go on without waiting for
 * one (a run's state) and still know that a later change never lands before it; and a read
 * sees every change this store was asked for before the read.
 */
export interface CoordinatorStore {
  readonly runs: RunStore;
  readonly updates: UpdateStore;
  readonly models: ModelStore;
  readonly sites: SiteStore;
  readonly tokens: TokenStore;
  readonly audit: AuditStore;
  readonly leases: LeaseStore;
  /**
   * From now on, every change to runs, rounds, updates and the audit log commits only while
   * the named lease is still at `epoch` (checked in the change's own transaction), and is
   * refused with `store.fenced` once it is not: a node that lost the lease, paused or not,
   * cannot write. Undefined lifts the fence (a single coordinator needs none).
   */
  fence(lease: { name: string; epoch: number } | undefined): void;
  /** Releases the backend; no part may be used after. */
  close(): Promise<void>;
}

export const COORDINATOR_STORE = Symbol('COORDINATOR_STORE');
