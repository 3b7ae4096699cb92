import { fail, type Result } from '../../../protocol/index.js';
import type { Clock } from '../clock.js';
import type { FoldedUpdate, FoldMessage, FoldResult, RoundFold, StageEnd } from './round-fold.js';

/**
 * Drives one attempt's fold through its stages: each stage waits for the sites it names, or for
 * `stageMs` on the clock, whichever comes first, and then asks the fold what follows. A site
 * that leaves is no longer waited for. `result` settles once, when the fold has its result; an
 * attempt ended from outside (`end`) never settles. `closed` settles either way.
 */
export class AttemptStages {
  readonly result: Promise<FoldResult>;
  /** Settles when the attempt is over, by its result or by `end`: its pending pulls stop. */
  readonly closed: Promise<void>;
  private settle!: (result: FoldResult) => void;
  private close!: () => void;
  private awaiting: Set<string>;
  private stage: string;
  private cancelTimer: () => void = () => undefined;
  private ended = false;
  /** Between stages, while the fold gathers what edge nodes summed. */
  private gathering = false;

  constructor(
    private readonly fold: RoundFold,
    private readonly options: {
      readonly clock: Clock;
      readonly stageMs: number;
      /** Whom the first stage waits for: the participants (less those that already answered). */
      readonly awaiting: Iterable<string>;
    },
  ) {
    this.result = new Promise((resolve) => (this.settle = resolve));
    this.closed = new Promise((resolve) => (this.close = resolve));
    this.stage = fold.stage;
    this.awaiting = new Set(options.awaiting);
    this.arm();
    if (this.awaiting.size === 0) this.advanceSoon();
  }

  /** A participant's update, pulled and verified: folded if the stage waits for it. */
  update(site: string, update: FoldedUpdate): Result<true> {
    return this.answer(site, 'update', () => this.fold.update(site, update));
  }

  /** A participant's step of the fold's protocol (SecAgg+). */
  step(site: string, message: FoldMessage): Result<true> {
    return this.answer(site, message.type, () => this.fold.step(site, message));
  }

  /** A site left: the stage stops waiting for it. */
  left(site: string): void {
    if (this.awaiting.delete(site) && this.awaiting.size === 0) this.advanceSoon();
  }

  /** Whether the current stage still waits for this site. */
  awaits(site: string): boolean {
    return !this.ended && this.awaiting.has(site);
  }

  /** The attempt has its result, was ended, or gathers: an update arriving now is dropped. */
  get over(): boolean {
    return this.ended || this.gathering;
  }

  /** Stops for good: no timer fires and `result` never settles. */
  end(): void {
    this.ended = true;
    this.close();
    this.cancelTimer();
    this.fold.end();
  }

  private answer(site: string, what: string, apply: () => Result<true>): Result<true> {
    if (!this.awaits(site)) {
      return fail('protocol.unexpected_message', `${what} from ${site} in the ${this.stage} stage`);
    }
    const applied = apply();
    if (!applied.ok) return applied;
    this.awaiting.delete(site);
    if (this.awaiting.size === 0) this.advanceSoon();
    return applied;
  }

  private arm(): void {
    const stage = this.stage;
    this.cancelTimer = this.options.clock.after(this.options.stageMs, () => this.advance(stage));
  }

  /**
   * Moves on once the caller's handler has finished: advancing can end the attempt and open the
   * next, which must not happen in the middle of handling this attempt's message.
   */
  private advanceSoon(): void {
    const stage = this.stage;
    queueMicrotask(() => this.advance(stage));
  }

  /** Ends `stage` (by its time or its last answer, whichever asks first) and enters the next. */
  private advance(stage: string): void {
    if (this.ended || this.stage !== stage) return;
    this.cancelTimer();
    const next = this.fold.endStage();
    if (next instanceof Promise) {
      // Nothing is taken while the stage's inputs are gathered from the edges.
      this.gathering = true;
      this.awaiting = new Set();
      void next.then((gathered) => {
        this.gathering = false;
        // Ended from outside meanwhile: nothing follows.
        if (!this.ended) this.enter(gathered);
      });
      return;
    }
    this.enter(next);
  }

  private enter(next: StageEnd): void {
    if ('result' in next) {
      this.ended = true;
      this.close();
      this.settle(next.result);
      return;
    }
    this.stage = next.stage;
    this.awaiting = new Set(next.awaiting);
    this.arm();
    // Nobody to wait for (everyone left): move on at once.
    if (this.awaiting.size === 0) this.advanceSoon();
  }
}
