import { fail, ok, type Result } from '../../protocol/index.js';

/** The run's lifecycle. Each step checks the current state first (WireGuard's discipline). */
export enum RunState {
  /** Not enough ready sites to open the next round. */
  WaitingForSites = 'waiting-for-sites',
  /** A round is open: global model sent, updates being folded. */
  RoundOpen = 'round-open',
  Complete = 'complete',
  /** Ended by an operator before its last round. */
  Cancelled = 'cancelled',
}

const ALLOWED: Readonly<Record<RunState, readonly RunState[]>> = {
  [RunState.WaitingForSites]: [RunState.RoundOpen, RunState.Cancelled],
  // A round that closes with no update goes back to waiting; otherwise the next round opens.
  [RunState.RoundOpen]: [
    RunState.RoundOpen,
    RunState.WaitingForSites,
    RunState.Complete,
    RunState.Cancelled,
  ],
  [RunState.Complete]: [],
  [RunState.Cancelled]: [],
};

export function transition(from: RunState, to: RunState): Result<RunState> {
  return ALLOWED[from].includes(to)
    ? ok(to)
    : fail('run.illegal_transition', `a run cannot go from ${from} to ${to}`);
}
