import { z } from 'zod';
import type { CoordinatorSetup } from '../coordinator-setup.js';
import type { HeldOutEvaluator } from '../evaluation/held-out-evaluator.js';
import type { CoordinatorEvents } from '../events/coordinator-events.js';
import type { CoordinatorStore } from '../store/store.js';
import type { TransferService } from '../transfer/transfer.service.js';
import type { Clock } from './clock.js';
import type { EdgePartials } from './round/edge-partials.js';

/** What a run needs of the coordinator: its setup, services, store and clock. */
export interface RunDeps {
  readonly setup: CoordinatorSetup;
  readonly evaluation: HeldOutEvaluator;
  readonly events: CoordinatorEvents;
  /** Serves the global model's blobs and the transfer set, and pulls the sites' update blobs. */
  readonly transfer: Pick<TransferService, 'offer' | 'withdraw' | 'serve' | 'accept' | 'pull'>;
  readonly store: CoordinatorStore;
  /** The site registry as last synced to the store, held in memory: rounds read it as they go. */
  readonly registry: SiteRegistry;
  /** The system clock unless a test moves time itself. */
  readonly clock?: Clock;
  /** The edge nodes folding for this leader, once it has any (coordinator nodes on PostgreSQL). */
  readonly edges?: () => EdgePartials | undefined;
}

/** The sites enrolled now, and every site's enrolled key by name (revoked ones included). */
export interface SiteRegistry {
  readonly enrolledCount: number;
  publicKeys(): ReadonlyMap<string, string>;
}

/** A run's identity and where its report goes besides the store. */
export interface RunIdentity {
  readonly id: string;
  readonly specHash: string;
  readonly reportFile?: string;
  /** Where the final student is exported (student/ and student-fp32/). */
  readonly exportDir: string;
}

/** An active run as the API shows it beside its stored state; the API's schema for it. */
export const liveRunStatusSchema = z.object({
  /** The round open, or next to open, and its attempt (1-based). */
  round: z.number().int(),
  attempt: z.number().int(),
  modelVersion: z.number().int(),
  sites: z.array(
    z.object({ site: z.string(), ready: z.boolean(), backend: z.string().optional() }),
  ),
  participants: z.array(z.string()),
  answered: z.array(z.string()),
});
export type LiveRunStatus = z.infer<typeof liveRunStatusSchema>;
