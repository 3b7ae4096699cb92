import type {
  AllowList,
  IdentityKeyPair,
  LabelledTable,
  Normalizer,
  Sodium,
} from '../protocol/index.js';
import type { CoordinatorConfig } from './config/coordinator-config.js';
import type { StoredRun } from './store/store.js';

/** Everything read and checked before Nest starts; injected under COORDINATOR_SETUP. */
export interface CoordinatorSetup {
  readonly config: CoordinatorConfig;
  readonly runId: string;
  /** Hash of the run's settings and data: a restart resumes only a run with the same. */
  readonly specHash: string;
  /** The run found in the store, to continue; absent when this run starts now. */
  readonly resumed?: StoredRun;
  readonly sodium: Sodium;
  readonly identity: IdentityKeyPair;
  readonly allowList: AllowList;
  readonly backend: string;
  readonly publicSplit: LabelledTable;
  readonly heldOut: LabelledTable;
  /** Fitted on the public split only; sent to every site. */
  readonly normalizer: Normalizer;
  /** Bytes of the public split file, part of the teacher cache key. */
  readonly publicSplitBytes: Uint8Array;
  /** performance.now() when the coordinator began starting, for wall_seconds. */
  readonly startedAt: number;
}

export const COORDINATOR_SETUP = Symbol('COORDINATOR_SETUP');
