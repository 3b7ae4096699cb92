import { fail, ok, type Result } from '../../../protocol/index.js';

/** What an attempt is, fixed when it opens (or resumes after a restart). */
export interface AttemptInfo {
  readonly round: number;
  /** 0-based, as the store counts attempts. */
  readonly attempt: number;
  readonly temperature: number;
  readonly alpha: number;
  /** How many were selected; participants loses the sites that leave before answering. */
  readonly selected: number;
  /** The clock and the coordinator's byte counters when the attempt opened (or resumed). */
  readonly openedAt: number;
  readonly bytesInAtOpen: number;
  readonly bytesOutAtOpen: number;
}

/**
 * Who is where in one open attempt: selected, still taking part, sending (its update being
 * pulled), answered, dropped. Pure bookkeeping: it says what an event means and never acts.
 */
export class RoundLedger {
  readonly participants: Set<string>;
  readonly receiving = new Set<string>();
  readonly answered: Set<string>;
  readonly dropped = new Set<string>();

  constructor(
    readonly info: AttemptInfo,
    participants: Iterable<string>,
    answered: Iterable<string> = [],
  ) {
    this.participants = new Set(participants);
    this.answered = new Set(answered);
  }

  get round(): number {
    return this.info.round;
  }

  /** A participant the attempt still waits for, whose update is not on its way. */
  awaits(site: string): boolean {
    return this.participants.has(site) && !this.answered.has(site) && !this.receiving.has(site);
  }

  /** A site announced its update: it may send one if it takes part and has not sent one. */
  admit(site: string): Result<true> {
    if (!this.participants.has(site)) {
      return fail('update.not_participant', `${site} is not a participant of round ${this.round}`);
    }
    if (this.answered.has(site) || this.receiving.has(site)) {
      return fail('update.duplicate', `${site} already sent its update for round ${this.round}`);
    }
    this.receiving.add(site);
    return ok(true);
  }

  /** The site's update is in (or failed to arrive): whether it still counts for the attempt. */
  received(site: string): boolean {
    this.receiving.delete(site);
    return this.participants.has(site);
  }

  accepted(site: string): void {
    this.answered.add(site);
  }

  /** A site left; true when it was a participant that had not answered: it dropped. */
  left(site: string): boolean {
    if (!this.participants.delete(site) || this.answered.has(site)) return false;
    this.dropped.add(site);
    return true;
  }

  /** Participants still connected that had not answered (a site whose blob is in flight counts). */
  get stragglers(): number {
    return [...this.participants].filter((s) => !this.answered.has(s)).length;
  }

  /** Participants that neither answered nor started sending: their answer, if any, comes late. */
  silent(): string[] {
    return [...this.participants].filter((s) => !this.answered.has(s) && !this.receiving.has(s));
  }
}

/**
 * Per site, the failed attempts of the open round it was sent and did not answer. A site
 * answers each round.start in turn, so its next updates for this round are those late answers.
 */
export class LateAnswers {
  private readonly owed = new Map<string, number>();

  /** An attempt failed without these sites' answers. */
  owe(sites: Iterable<string>): void {
    for (const site of sites) this.owed.set(site, (this.owed.get(site) ?? 0) + 1);
  }

  /** Counts off one of the site's late answers, if it owes any. */
  take(site: string): boolean {
    const late = this.owed.get(site) ?? 0;
    if (late > 0) this.owed.set(site, late - 1);
    return late > 0;
  }

  forget(site: string): void {
    this.owed.delete(site);
  }

  /** A round closed: nobody owes anything for it. */
  clear(): void {
    this.owed.clear();
  }
}
