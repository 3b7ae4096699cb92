import type { FedistillIssue } from '../../../protocol/index.js';
import type { PullWatch } from '../../transfer/transfer.service.js';
import type { Clock } from '../clock.js';

/** One update pull's watch, and what ended it. */
export interface WatchedPull {
  readonly watch: PullWatch;
  /** True once the site let `idleMs` pass without a chunk: it withheld its update. */
  readonly withheld: boolean;
  /** The pull is over: no timer is left behind. */
  dispose(): void;
}

/**
 * Keeps an update pull alive while chunks arrive: it stops when its attempt closes, or when
 * `idleMs` pass on the clock with no chunk (counted from when it holds a slot, so waiting
 * behind other sites' pulls is not the site's fault). Either way its upload slot is freed.
 */
export function watchPull(options: {
  readonly site: string;
  readonly clock: Clock;
  readonly idleMs: number;
  /** Settles when the pull's attempt is over. */
  readonly attemptClosed: Promise<void>;
}): WatchedPull {
  const { site, clock, idleMs } = options;
  let stop!: (issue: FedistillIssue) => void;
  const stopped = new Promise<FedistillIssue>((resolve) => (stop = resolve));
  let withheld = false;
  let disarm = (): void => undefined;
  void options.attemptClosed.then(() =>
    stop({
      code: 'update.stale_round',
      message: `the attempt closed before ${site}'s update arrived`,
    }),
  );
  return {
    watch: {
      stop: stopped,
      progress: () => {
        disarm();
        disarm = clock.after(idleMs, () => {
          withheld = true;
          stop({
            code: 'update.withheld',
            message: `no chunk of ${site}'s update for ${idleMs} ms`,
          });
        });
      },
    },
    get withheld() {
      return withheld;
    },
    dispose: () => disarm(),
  };
}
