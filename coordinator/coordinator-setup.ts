import type {
  AllowList,
  FeatureTable,
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
  /** The transfer set's inputs. */
  readonly publicSplit: FeatureTable;
  /** Its labels; null for an unlabelled transfer set (`data.publicLabels` false). */
  readonly publicLabels: Int32Array | null;
  readonly heldOut: LabelledTable;
  /** Fitted on the public split only; sent to every site. */
  readonly normalizer: Normalizer;
  /** Bytes of the public split file (of its token ids, for text), part of the teacher cache key. */
  readonly publicSplitBytes: Uint8Array;
  /** A run over text (`data.text`): the tokenizer.json the sites receive, and what it gives. */
  readonly text?: {
    readonly tokenizer: Uint8Array;
    readonly length: number;
    readonly vocabulary: number;
  };
  /** performance.now() when the coordinator began starting, for wall_seconds. */
  readonly startedAt: number;
}

export const COORDINATOR_SETUP = Symbol('COORDINATOR_SETUP');

/** The public split with its labels, or null when it has none. */
export function labelledPublicSplit(
  setup: Pick<CoordinatorSetup, 'publicSplit' | 'publicLabels'>,
): LabelledTable | null {
  return setup.publicLabels ? { ...setup.publicSplit, labels: setup.publicLabels } : null;
}
