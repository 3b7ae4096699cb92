import type {
  AllowList,
  IdentityKeyPair,
  LabelledTable,
  Normalizer,
  Sodium,
} from '../protocol/index.js';
import type { CoordinatorConfig } from './config/coordinator-config.js';

/** Everything read and checked before Nest starts; injected under COORDINATOR_SETUP. */
export interface CoordinatorSetup {
  readonly config: CoordinatorConfig;
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
