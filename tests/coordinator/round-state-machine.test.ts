import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import type { CoordinatorConfig } from '../../coordinator/config/coordinator-config.js';
import type {
  CoordinatorEvents,
  RoundFailure,
} from '../../coordinator/events/coordinator-events.js';
import type { RoundSummary, RunReport } from '../../coordinator/runs/run-report.js';
import type { RunSpec } from '../../coordinator/runs/run-spec.js';
import { loadSodium, SOCKET_EVENTS, type RoundStart, type Sodium } from '../../protocol/index.js';
import { HandSite } from '../../harness/hand-site.js';
import { startRunFixture, type RunFixture } from '../support/run-fixture.js';

/**
 * The coordinator's round state machine, driven through a real coordinator on loopback by sites
 * that speak the real protocol but answer only when each test says (harness/hand-site.ts):
 * dropouts, stragglers, failed quorum and its retry, seeded selection, and updates the state
 * machine refuses. Hostile-input and federated-run tests cover the rest (duplicates, updates
 * with no round open or for a round not yet open, outsiders' updates).
 *
 * The first round opens as soon as minSites sites are ready, so where a test needs more sites in
 * a later round, they say ready while round 1 is open and round 1 is answered after them.
 */

/** Generous: a step that waits this long has failed, even on a loaded two-core machine. */
const STEP_TIMEOUT_MS = 60_000;
/** The longest deadline the config allows: a round that ends in such a run did not wait for it. */
const NO_DEADLINE_MS = 86_400_000;
/** Where the deadline is the thing under test: long beside a hand site's answer, short to wait. */
const ROUND_DEADLINE_MS = 4_000;
/** How much earlier than its deadline a round may seem to end: round.start follows the timer. */
const DEADLINE_SLACK_MS = 100;

const step = { timeout: STEP_TIMEOUT_MS };

function runConfig(run: Partial<RunSpec>): (config: CoordinatorConfig) => CoordinatorConfig {
  return (config) => ({ ...config, run: { ...config.run!, ...run } });
}

/** One opened attempt of a round and the sites it was sent to, sorted by name. */
interface Attempt {
  readonly round: number;
  readonly attempt: number;
  readonly sites: string[];
}

/**
 * Records the coordinator's round events as they happen. A round's round.start messages go out
 * in one synchronous burst when it opens, and 'round' or 'roundFailed' ends it, so each burst is
 * one attempt.
 */
class RoundLog {
  readonly attempts: Attempt[] = [];
  readonly closed: RoundSummary[] = [];
  readonly failed: RoundFailure[] = [];
  /** When each attempt's first round.start went out, and when the attempt ended. */
  private readonly times = new Map<Attempt, { opened: number; ended?: number }>();
  private opening: Attempt | undefined;
  private next = { round: 1, attempt: 1 };

  constructor(private readonly events: CoordinatorEvents) {
    events.on('protocol', (e) => {
      if (e.direction !== 'out' || e.kind !== 'round.start') return;
      if (!this.opening) {
        this.opening = { ...this.next, sites: [] };
        this.attempts.push(this.opening);
        this.times.set(this.opening, { opened: performance.now() });
      }
      this.opening.sites.push(e.peer);
      this.opening.sites.sort();
    });
    events.on('round', (summary) => {
      this.closed.push(summary);
      this.end({ round: summary.round + 1, attempt: 1 });
    });
    events.on('roundFailed', (failure) => {
      this.failed.push(failure);
      this.end({ round: failure.round, attempt: failure.attempt + 1 });
    });
  }

  private end(next: { round: number; attempt: number }): void {
    const last = this.attempts[this.attempts.length - 1];
    if (last) this.times.get(last)!.ended = performance.now();
    this.opening = undefined;
    this.next = next;
  }

  /** Resolves when round `round` closes with a new model. Call before what should close it. */
  roundClosed(round: number): Promise<RoundSummary> {
    return new Promise((resolve) => {
      const check = (summary: RoundSummary): void => {
        if (summary.round !== round) return;
        this.events.off('round', check);
        resolve(summary);
      };
      this.events.on('round', check);
    });
  }

  /** Resolves with the next failed attempt. Call before what should fail it. */
  nextFailure(): Promise<RoundFailure> {
    return new Promise((resolve) => this.events.once('roundFailed', resolve));
  }

  private find(round: number, attempt: number): Attempt {
    const found = this.attempts.find((a) => a.round === round && a.attempt === attempt);
    assert.ok(found, `round ${round} attempt ${attempt} never opened`);
    return found;
  }

  /** The sites sent round `round`, attempt `attempt`, sorted by name. */
  selected(round: number, attempt = 1): string[] {
    return this.find(round, attempt).sites;
  }

  /** Milliseconds from the attempt's round.start to its end ('round' comes after evaluation). */
  lasted(round: number, attempt = 1): number {
    const { opened, ended } = this.times.get(this.find(round, attempt))!;
    assert.ok(ended !== undefined, `round ${round} attempt ${attempt} has not ended`);
    return ended - opened;
  }
}

/** The round.start each of `sites` has received next, checked to be for `round`. */
async function startsOf(sites: HandSite[], round: number): Promise<RoundStart[]> {
  const starts = await Promise.all(sites.map((s) => s.nextStart()));
  for (const [i, start] of starts.entries()) {
    assert.equal(start.round, round, `${sites[i]!.name} was sent round ${start.round}`);
  }
  return starts;
}

/** Each site answers its round.start; resolves with what the coordinator told each. */
async function answer(sites: HandSite[], starts: RoundStart[]): Promise<string[]> {
  for (const [i, site] of sites.entries()) site.answer(starts[i]!);
  return Promise.all(sites.map((s) => s.verdict()));
}

const accepted = (n: number): string[] => Array.from({ length: n }, () => 'accepted');

describe('dropouts: participants whose connection drops after round.start', () => {
  // No deadline in reach: every round that ends here ended because no participant was left to
  // wait for.
  let sodium: Sodium;
  let fixture: RunFixture;
  let log: RoundLog;
  const site: Record<string, HandSite> = {};
  let firstModel: Uint8Array;

  before(async () => {
    sodium = await loadSodium();
    fixture = await startRunFixture({
      sites: 4,
      rounds: 3,
      adjust: runConfig({ minSites: 2, participationFraction: 1, roundDeadlineMs: NO_DEADLINE_MS }),
    });
    log = new RoundLog(fixture.coordinator.events);
  }, step);

  after(async () => {
    await fixture?.dispose();
  });

  const join = async (name: string): Promise<HandSite> =>
    (site[name] = await HandSite.join(fixture, sodium, name));
  const sites = (...names: string[]): HandSite[] => names.map((n) => site[n]!);

  it(
    'a dropout that leaves fewer updates than minSites fails the round as soon as nobody is left to wait for: roundFailed with attempt, updates and quorum',
    step,
    async () => {
      await join('site-1');
      await join('site-2');
      await site['site-1']!.ready();
      await site['site-2']!.ready();
      const [, start] = await startsOf(sites('site-1', 'site-2'), 1);
      assert.equal(start!.modelVersion, 0);
      firstModel = start!.model.hash;
      assert.deepEqual(await answer(sites('site-2'), [start!]), ['accepted']);
      const failed = log.nextFailure();
      await site['site-1']!.drop();
      assert.deepEqual(await failed, { round: 1, attempt: 1, updates: 1, quorum: 2 });
      assert.deepEqual(log.closed, [], 'no round closed');
      assert.ok(site['site-2']!.connected, 'the site that answered stays in the run');
    },
  );

  it(
    'the same round is retried as a new attempt once enough sites are back, from the same model: the failed attempt applied nothing',
    step,
    async () => {
      await join('site-1');
      await site['site-1']!.ready();
      const starts = await startsOf(sites('site-1', 'site-2'), 1);
      for (const start of starts) {
        assert.equal(start.modelVersion, 0);
        assert.deepEqual(start.model.hash, firstModel);
      }
      assert.deepEqual(log.attempts, [
        { round: 1, attempt: 1, sites: ['site-1', 'site-2'] },
        { round: 1, attempt: 2, sites: ['site-1', 'site-2'] },
      ]);
      // Ready while the retry is open: not in it, but in every later round.
      await join('site-3');
      await join('site-4');
      await site['site-3']!.ready();
      await site['site-4']!.ready();
      const closed = log.roundClosed(1);
      assert.deepEqual(await answer(sites('site-1', 'site-2'), starts), accepted(2));
      assert.equal((await closed).participants, 2);
    },
  );

  it(
    'a dropout while the others still make quorum: the round closes as soon as they have answered, counting only them; back in a new session, the dropout is no participant of that round (update.not_participant)',
    step,
    async () => {
      const all = sites('site-1', 'site-2', 'site-3', 'site-4');
      const starts = await startsOf(all, 2);
      assert.deepEqual(log.selected(2), ['site-1', 'site-2', 'site-3', 'site-4']);
      assert.ok(starts.every((s) => s.modelVersion === 1));
      const closed = log.roundClosed(2);
      await site['site-3']!.drop();
      const back = await join('site-3');
      await back.ready();
      // Its answer to the round.start of its old session, as a reconnected site might send it.
      back.answer(starts[2]!);
      assert.equal(await back.verdict(), 'refused: update.not_participant');
      const others = [0, 1, 3];
      assert.deepEqual(
        await answer(
          others.map((i) => all[i]!),
          others.map((i) => starts[i]!),
        ),
        accepted(3),
      );
      assert.equal((await closed).participants, 3);
    },
  );

  it(
    'a participant that drops after every other participant answered ends the round at once; the run completes',
    step,
    async () => {
      const remaining = sites('site-1', 'site-2', 'site-4');
      const starts = await startsOf(remaining, 3);
      assert.deepEqual(log.selected(3), ['site-1', 'site-2', 'site-4']);
      assert.deepEqual(await answer(remaining.slice(0, 2), starts.slice(0, 2)), accepted(2));
      await remaining[2]!.drop();
      const report = await fixture.coordinator.finished;
      assert.deepEqual(
        report.per_round.map((r) => [r.round, r.participants]),
        [
          [1, 2],
          [2, 3],
          [3, 2],
        ],
      );
      assert.deepEqual(log.failed, [{ round: 1, attempt: 1, updates: 1, quorum: 2 }]);
    },
  );
});

describe('stragglers: a participant that has not answered by the deadline', () => {
  let sodium: Sodium;
  let fixture: RunFixture;
  let log: RoundLog;
  let sites: HandSite[];
  let straggler: HandSite;
  let lateStart: RoundStart;

  before(async () => {
    sodium = await loadSodium();
    fixture = await startRunFixture({
      sites: 3,
      rounds: 3,
      adjust: runConfig({
        minSites: 2,
        participationFraction: 1,
        roundDeadlineMs: ROUND_DEADLINE_MS,
      }),
    });
    log = new RoundLog(fixture.coordinator.events);
    sites = await Promise.all(
      ['site-1', 'site-2', 'site-3'].map((n) => HandSite.join(fixture, sodium, n)),
    );
    straggler = sites[2]!;
    // Round 1 opens with site-1 and site-2; site-3 is ready before they answer it.
    await sites[0]!.ready();
    await sites[1]!.ready();
    const starts = await startsOf(sites.slice(0, 2), 1);
    await straggler.ready();
    const closed = log.roundClosed(1);
    assert.deepEqual(await answer(sites.slice(0, 2), starts), accepted(2));
    await closed;
  }, step);

  after(async () => {
    await fixture?.dispose();
  });

  it(
    "the round closes at its deadline with the others' updates when they make quorum",
    step,
    async () => {
      const closed = log.roundClosed(2);
      const starts = await startsOf(sites, 2);
      lateStart = starts[2]!;
      assert.deepEqual(await answer(sites.slice(0, 2), starts.slice(0, 2)), accepted(2));
      assert.equal((await closed).participants, 2);
      assert.ok(log.lasted(2) >= ROUND_DEADLINE_MS - DEADLINE_SLACK_MS, `${log.lasted(2)} ms`);
      assert.ok(straggler.connected);
      assert.deepEqual(log.failed, []);
    },
  );

  it(
    "the straggler's late update is rejected with update.stale_round, and its session stays open",
    step,
    async () => {
      straggler.answer(lateStart);
      assert.equal(await straggler.verdict(), 'update.stale_round');
      assert.ok(straggler.connected, 'a late update is no protocol violation');
    },
  );

  it(
    'the straggler takes part in the next round, whose model is built from the two closed rounds only',
    step,
    async () => {
      const starts = await startsOf(sites, 3);
      assert.ok(starts.every((s) => s.modelVersion === 2));
      assert.deepEqual(await answer(sites, starts), accepted(3));
      const report = await fixture.coordinator.finished;
      assert.deepEqual(
        report.per_round.map((r) => r.participants),
        [2, 2, 3],
      );
    },
  );
});

/**
 * Five sites, minSites 2, participation fraction 0.5: round 1 opens with the first two ready
 * sites (max(2, ceil(0.5 x 2)) = 2), later rounds take max(2, ceil(0.5 x 5)) = 3. The first
 * attempt of round 2 gets one update by its deadline and fails; its two stragglers answer it
 * late, while the retry is open, then answer the retry where they are in it.
 */
interface QuorumRun {
  readonly attempts: Attempt[];
  readonly failed: RoundFailure[];
  readonly report: RunReport;
  /** How long the failed attempt lasted, in ms. */
  readonly failedAfterMs: number;
  /** Whether a 'round' event for round 2 came before the retry opened. */
  readonly closedBeforeRetry: boolean;
  /** Round 2's model version and hash as sent with the failed attempt, then with the retry. */
  readonly models: { version: number; hash: string }[];
  /** What each straggler of the failed attempt was told about its late update. */
  readonly late: Record<string, string>;
  /** What the retry's participants were told about their updates. */
  readonly retry: string[];
}

/** With this seed the retry of round 2 selects other sites than its first attempt. */
const QUORUM_SEED = 7;

async function failedQuorumRun(sodium: Sodium): Promise<QuorumRun> {
  const fixture = await startRunFixture({
    sites: 5,
    rounds: 3,
    seed: QUORUM_SEED,
    adjust: runConfig({
      minSites: 2,
      participationFraction: 0.5,
      roundDeadlineMs: ROUND_DEADLINE_MS,
    }),
  });
  try {
    const log = new RoundLog(fixture.coordinator.events);
    const names = ['site-1', 'site-2', 'site-3', 'site-4', 'site-5'];
    const sites = await Promise.all(names.map((n) => HandSite.join(fixture, sodium, n)));
    const selected = (round: number, attempt = 1): HandSite[] =>
      log.selected(round, attempt).map((n) => sites[names.indexOf(n)]!);

    await sites[0]!.ready();
    await sites[1]!.ready();
    const first = await startsOf(selected(1), 1);
    for (const s of sites.slice(2)) await s.ready();
    const roundOne = log.roundClosed(1);
    assert.deepEqual(await answer(selected(1), first), accepted(2));
    await roundOne;

    // Round 2, attempt 1: the first selected site answers, the other two straggle.
    const attempt1 = selected(2, 1);
    const failedAt = log.nextFailure();
    const starts1 = await startsOf(attempt1, 2);
    assert.deepEqual(await answer(attempt1.slice(0, 1), starts1.slice(0, 1)), accepted(1));
    await failedAt;
    const closedBeforeRetry = log.closed.some((s) => s.round === 2);

    // The retry: a fresh selection. The stragglers' late answers to attempt 1 come first, as
    // they would from a site that trains each round.start in turn.
    const attempt2 = selected(2, 2);
    const starts2 = await startsOf(attempt2, 2);
    const late: Record<string, string> = {};
    for (const [i, straggler] of attempt1.slice(1).entries()) {
      straggler.answer(starts1[i + 1]!);
      late[straggler.name] = await straggler.verdict();
    }
    const roundTwo = log.roundClosed(2);
    const retry = await answer(attempt2, starts2);
    await roundTwo;

    const starts3 = await startsOf(selected(3), 3);
    await answer(selected(3), starts3);
    const report = await fixture.coordinator.finished;
    const model = (s: RoundStart): { version: number; hash: string } => ({
      version: s.modelVersion,
      hash: Buffer.from(s.model.hash).toString('hex'),
    });
    return {
      attempts: log.attempts,
      failed: log.failed,
      report,
      failedAfterMs: log.lasted(2, 1),
      closedBeforeRetry,
      models: [model(starts1[0]!), model(starts2[0]!)],
      late,
      retry,
    };
  } finally {
    await fixture.dispose();
  }
}

describe('failed quorum at the deadline, and seeded selection', () => {
  let sodium: Sodium;
  let first: QuorumRun;
  let second: QuorumRun;

  before(
    async () => {
      sodium = await loadSodium();
      first = await failedQuorumRun(sodium);
      second = await failedQuorumRun(sodium);
    },
    { timeout: 2 * STEP_TIMEOUT_MS },
  );

  it('participation fraction f of n ready sites selects max(minSites, ceil(f x n)) sites', () => {
    assert.deepEqual(
      first.attempts.map((a) => [a.round, a.attempt, a.sites.length]),
      [
        [1, 1, 2],
        [2, 1, 3],
        [2, 2, 3],
        [3, 1, 3],
      ],
    );
  });

  it('fewer than minSites updates by the deadline: the attempt fails there, nothing is applied, and the same round is retried', () => {
    assert.deepEqual(first.failed, [{ round: 2, attempt: 1, updates: 1, quorum: 2 }]);
    assert.ok(
      first.failedAfterMs >= ROUND_DEADLINE_MS - DEADLINE_SLACK_MS,
      `${first.failedAfterMs}`,
    );
    assert.equal(first.closedBeforeRetry, false, 'a failed attempt is no round');
    assert.equal(first.models[0]!.version, 1);
    assert.deepEqual(first.models[1], first.models[0], 'the retry sends the same model');
    assert.deepEqual(
      first.report.per_round.map((r) => [r.round, r.participants]),
      [
        [1, 2],
        [2, 3],
        [3, 3],
      ],
    );
  });

  it('the same seed selects the same sites for every round and attempt', () => {
    assert.deepEqual(second.attempts, first.attempts);
    assert.deepEqual(second.failed, first.failed);
  });

  it("the retry's selection is a fresh seeded one: the attempt is part of the seed", () => {
    assert.notDeepEqual(first.attempts[2]!.sites, first.attempts[1]!.sites);
  });

  it("the failed attempt's stragglers, selected again or not, have their late updates rejected (update.stale_round) and stay in the run; those selected again answer the retry", () => {
    // What this seed gives: one straggler is selected for the retry, the other is not.
    const retried = first.attempts[2]!.sites;
    const stragglers = Object.keys(first.late);
    assert.equal(stragglers.length, 2);
    assert.equal(stragglers.filter((s) => retried.includes(s)).length, 1);
    assert.deepEqual(first.late, {
      [stragglers[0]!]: 'update.stale_round',
      [stragglers[1]!]: 'update.stale_round',
    });
    assert.deepEqual(first.retry, accepted(3));
  });
});

describe('updates the round state machine refuses', () => {
  let sodium: Sodium;
  let fixture: RunFixture;
  let log: RoundLog;
  let sites: HandSite[];
  let roundTwo: RoundStart[];

  before(async () => {
    sodium = await loadSodium();
    fixture = await startRunFixture({
      sites: 4,
      rounds: 3,
      adjust: runConfig({ minSites: 1, participationFraction: 1, roundDeadlineMs: NO_DEADLINE_MS }),
    });
    log = new RoundLog(fixture.coordinator.events);
    sites = await Promise.all(
      ['site-1', 'site-2', 'site-3', 'site-4'].map((n) => HandSite.join(fixture, sodium, n)),
    );
  }, step);

  after(async () => {
    await fixture?.dispose();
  });

  /** The site's update was refused with `code`, ending its session, and the refusal is recorded. */
  async function refused(site: HandSite, code: string): Promise<void> {
    assert.equal(await site.verdict(), `refused: ${code}`);
    assert.ok(
      fixture.protocolEvents.some(
        (e) =>
          e.peer === site.name &&
          e.direction === 'out' &&
          e.kind === SOCKET_EVENTS.refuse &&
          e.code === code,
      ),
      `no refusal of ${site.name} with ${code} was recorded`,
    );
  }

  it('from a ready site that is not in the open round: update.not_participant', step, async () => {
    await sites[0]!.ready();
    const [start] = await startsOf([sites[0]!], 1);
    for (const s of sites.slice(1)) await s.ready();
    // Shaped exactly as the participant's: same run, round and base version.
    sites[1]!.answer(start!);
    await refused(sites[1]!, 'update.not_participant');
    const closed = log.roundClosed(1);
    assert.deepEqual(await answer([sites[0]!], [start!]), accepted(1));
    assert.equal((await closed).participants, 1);
  });

  it('trained from an older model than the open round: update.stale_round', step, async () => {
    roundTwo = await startsOf([sites[0]!, sites[2]!, sites[3]!], 2);
    assert.deepEqual(log.selected(2), ['site-1', 'site-3', 'site-4']);
    assert.equal(roundTwo[1]!.modelVersion, 1);
    sites[2]!.answer(roundTwo[1]!, { baseVersion: 0 });
    await refused(sites[2]!, 'update.stale_round');
  });

  it('for another run: update.stale_round', step, async () => {
    sites[3]!.answer(roundTwo[2]!, { runId: 'another-run' });
    await refused(sites[3]!, 'update.stale_round');
  });

  it(
    'nothing of a refused update is applied, and the run goes on with the sites left',
    step,
    async () => {
      const closed = log.roundClosed(2);
      assert.deepEqual(await answer([sites[0]!], [roundTwo[0]!]), accepted(1));
      assert.equal((await closed).participants, 1);
      const [start] = await startsOf([sites[0]!], 3);
      assert.equal(start!.modelVersion, 2);
      assert.deepEqual(log.selected(3), ['site-1']);
      await answer([sites[0]!], [start!]);
      const report = await fixture.coordinator.finished;
      assert.deepEqual(
        report.per_round.map((r) => r.participants),
        [1, 1, 1],
      );
    },
  );
});
