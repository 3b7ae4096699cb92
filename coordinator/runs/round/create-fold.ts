import type { CoordinatorMessage, NamedTensor, Sodium } from '../../../protocol/index.js';
import type { PrivacyPlan } from '../../privacy/privacy-plan.js';
import type { RunSpec } from '../run-spec.js';
import { SecureFold } from '../secure/secure-fold.js';
import { secureRoundSettings } from '../secure/secure-settings.js';
import type { FoldEdges } from './edge-partials.js';
import { PlainFold } from './plain-fold.js';
import type { RoundFold } from './round-fold.js';

/** The fold of one attempt: secure when the run aggregates securely, plain otherwise. */
export function createFold(args: {
  readonly spec: RunSpec;
  readonly privacy: PrivacyPlan;
  readonly sodium: Sodium;
  readonly runId: string;
  readonly round: number;
  /** 0-based. */
  readonly attempt: number;
  readonly participants: readonly string[];
  readonly global: readonly NamedTensor[];
  readonly dimension: number;
  readonly publicKeys: () => ReadonlyMap<string, string>;
  readonly send: (site: string, message: CoordinatorMessage) => void;
  /** Edge nodes that may fold a plain attempt's updates; none on a single node. */
  readonly edges?: FoldEdges | undefined;
}): RoundFold {
  const { spec, privacy } = args;
  const config = spec.privacy.secureAggregation;
  if (!config?.enabled) {
    return new PlainFold(privacy.strategy, args.global, spec.minSites, args.edges);
  }
  return new SecureFold({
    sodium: args.sodium,
    runId: args.runId,
    round: args.round,
    settings: secureRoundSettings({
      config,
      privacy,
      seed: spec.seed,
      attempt: args.attempt,
      participants: args.participants,
      publicKeys: args.publicKeys(),
      dimension: args.dimension,
    }),
    global: args.global,
    dimension: args.dimension,
    quorum: spec.minSites,
    send: args.send,
    edges: args.edges,
  });
}
