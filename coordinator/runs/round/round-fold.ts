import type {
  FedistillIssue,
  NamedTensor,
  Result,
  SecureRound,
  SiteMessage,
} from '../../../protocol/index.js';
import type { AuditEvent } from '../../events/coordinator-events.js';

/** A site's message that belongs to the fold rather than to the round (SecAgg+'s steps). */
export type FoldMessage = Extract<
  SiteMessage,
  { type: 'secagg.keys' | 'secagg.shares' | 'secagg.signature' | 'secagg.unmask_response' }
>;

/**
 * A site's update as the fold receives it: the pulled blob, verified against its hash, or word
 * that an edge node pulled it, folded it into its partial sum and staged its bytes in the store.
 */
export type FoldedUpdate = {
  readonly numExamples: number;
  /** Content hash (hex) of the update blob. */
  readonly blobHash: string;
} & ({ readonly bytes: Uint8Array } | { readonly atEdge: EdgeFolded });

/** Where an edge folded an update: its node, and the attempt (0-based) whose terms it used. */
export interface EdgeFolded {
  readonly edge: string;
  readonly attempt: number;
}

/** How an attempt's aggregation ended: the next global model, or why there is none. */
export type FoldResult =
  | {
      readonly ok: true;
      readonly model: NamedTensor[];
      /** What the audit log records of the attempt's updates: those the bounds cut. */
      readonly audit?: readonly AuditEvent[];
    }
  | {
      readonly ok: false;
      /** Why, for the log; `audit` is what the audit log records of it, if anything. */
      readonly reason: string;
      readonly issue?: FedistillIssue;
      readonly audit?: AuditEvent;
      /**
       * The attempt failed after its sum could have been learned (a secure attempt whose unmask
       * request went out): a dishonest coordinator might have it, so its privacy is spent.
       */
      readonly revealed?: boolean;
    };

/** What the end of a stage leads to: another stage, waiting on these sites, or the result. */
export type StageEnd =
  { readonly stage: string; readonly awaiting: Iterable<string> } | { readonly result: FoldResult };

/**
 * One attempt's aggregation, plain or secure (SecAgg+), driven the same way by the conductor
 * (STYLE.md 3, begin -> fold -> close, grown to stages). The attempt waits in stages; each
 * stage waits for a set of sites or for its time (round/attempt-stages.ts), and `endStage`
 * says what follows. A plain fold has one stage (the updates) and closes with the strategy's
 * model; a secure fold collects keys, shares, masked updates and unmask shares, and closes with
 * the survivors' mean. Either refuses a site's input with a coded error and is unchanged by it.
 */
export interface RoundFold {
  /** What round.start carries for this fold: the SecAgg+ settings of a secure attempt. */
  readonly roundStart: { readonly secureAggregation?: SecureRound };
  /**
   * Whether an accepted update is worth keeping in the store: a plain attempt resumes after a
   * restart by folding the kept updates again; a masked update alone is useless.
   */
  readonly resumable: boolean;
  /** The first stage's name. */
  readonly stage: string;
  update(site: string, update: FoldedUpdate): Result<true>;
  step(site: string, message: FoldMessage): Result<true>;
  /**
   * Ends the current stage. A promise when the stage's inputs must first be gathered from edge
   * nodes: the attempt takes nothing meanwhile.
   */
  endStage(): StageEnd | Promise<StageEnd>;
  /** The attempt ended some other way (cancelled, the run stopped): nothing more happens. */
  end(): void;
}
