import { z } from 'zod';
import { fail, ok, type Result } from './errors.js';

/**
 * Every state a run can be in, defined once: the coordinator drives it, the store keeps it, and
 * the API, the operator feed and the dashboard show it. Nothing beside it says where a run is.
 */
export const RUN_STATES = [
  /** Created by an operator; its coordinator has not started it yet. */
  'created',
  /** Too few ready sites to open the next round. */
  'waiting-for-sites',
  /** A round is open: global model sent, updates being folded. */
  'round-open',
  /** The round's updates are in: the new model is being pruned, stored and evaluated. */
  'closing',
  /** An operator paused it: no round opens until resumed; a round already open still closes. */
  'paused',
  /** The last round closed (or the budget allows no more): export and report. */
  'completing',
  'complete',
  /** Ended by an operator before its last round. */
  'cancelled',
  /** Complete with fewer rounds than planned: another would exceed the privacy budget. */
  'stopped-by-budget',
] as const;

export const runStateSchema = z.enum(RUN_STATES);
export type RunState = z.infer<typeof runStateSchema>;

/** Each state's successors; a terminal state has none. */
const RUN_TRANSITIONS = {
  created: ['waiting-for-sites', 'cancelled'],
  'waiting-for-sites': ['round-open', 'paused', 'completing', 'cancelled'],
  // An attempt that fails its quorum goes back to waiting: nothing to close.
  'round-open': ['closing', 'waiting-for-sites', 'paused', 'cancelled'],
  // The closed round's next one opens once enough sites are ready, or the run completes.
  closing: ['waiting-for-sites', 'paused', 'completing', 'cancelled'],
  // Resumed with its round still open, or with none; a round that closes while paused stays so.
  paused: ['waiting-for-sites', 'round-open', 'completing', 'cancelled'],
  completing: ['complete', 'stopped-by-budget'],
  complete: [],
  cancelled: [],
  'stopped-by-budget': [],
} as const satisfies Record<RunState, readonly RunState[]>;

/** States a run never leaves: its coordinator holds it no more, a restart does not resume it. */
export function isTerminalRunState(state: RunState): boolean {
  return RUN_TRANSITIONS[state].length === 0;
}

/** The next state, or run.illegal_transition (WireGuard's discipline: check the state first). */
export function transition(from: RunState, to: RunState): Result<RunState> {
  return (RUN_TRANSITIONS[from] as readonly RunState[]).includes(to)
    ? ok(to)
    : fail('run.illegal_transition', `a run cannot go from ${from} to ${to}`);
}
