import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  computeRdp,
  DEFAULT_ORDERS,
  epsilonFromRdp,
} from '../../protocol/privacy/rdp-accountant.js';
import type { RunSpecInput } from '../../coordinator/runs/run-spec.js';
import { toHex, type RoundStart } from '../../protocol/index.js';
import {
  ConductorHarness,
  disposeSharedParts,
  type TestSite,
  type Verdict,
} from '../support/conductor-harness.js';

/**
 * The rules of a round, as table tests on a fake clock: one RunConductor of real parts (SQLite
 * store, libsodium, tfjs, the demo's breast-cancer setup) and in-memory sessions
 * (tests/support/conductor-harness.ts). Time moves only when a test advances the clock, so a
 * deadline is exactly a deadline, and "nothing happened yet" is checked at a known moment
 * rather than by waiting. Nothing here sleeps or measures elapsed time.
 *
 * The first round opens as soon as minSites sites are ready, so where a test needs more sites
 * in a round, round 1 closes first (`closeRoundOne`) with the others ready meanwhile.
 */

/** Any deadline will do on a fake clock; a round's summary reports it back in seconds. */
const ROUND_DEADLINE_MS = 60_000;
/** Generous: a test that takes this long has hung waiting for the conductor. */
const TEST_TIMEOUT = { timeout: 20_000 };

after(disposeSharedParts);

async function withRun(
  run: Partial<RunSpecInput>,
  body: (harness: ConductorHarness) => Promise<void>,
): Promise<void> {
  const harness = await ConductorHarness.start({ roundDeadlineMs: ROUND_DEADLINE_MS, ...run });
  try {
    await body(harness);
  } finally {
    await harness.dispose();
  }
}

const names = (...indices: number[]): string[] => indices.map((i) => `site-${i}`);

/**
 * Round 1 opens with `first` (minSites of them); `later` say ready while it is open, and round 1
 * closes with `first`'s updates. Returns every site, `first` then `later`.
 */
async function closeRoundOne(
  run: ConductorHarness,
  first: string[],
  later: string[],
): Promise<TestSite[]> {
  const opened = run.ready(...first);
  assert.deepEqual(run.conductor.status().participants.sort(), [...first].sort());
  const waiting = run.ready(...later);
  const closed = run.roundClosed(1);
  for (const site of opened) assert.equal(await site.answered(), 'accepted');
  await closed;
  return [...opened, ...waiting];
}

/** Every one of `sites` answers round `round`, and the round closes with their updates. */
async function answerRound(run: ConductorHarness, sites: TestSite[], round: number): Promise<void> {
  const closed = run.roundClosed(round);
  for (const site of sites) {
    assert.equal(site.start.round, round);
    assert.equal(await site.answered(), 'accepted');
  }
  await closed;
}

/** The participants of the open attempt, by name. */
const participants = (run: ConductorHarness): string[] =>
  [...run.conductor.status().participants].sort();

const siteOf = (sites: TestSite[], name: string): TestSite => sites.find((s) => s.site === name)!;

describe('the deadline', () => {
  it(
    'an attempt with quorum closes at its deadline, not a moment before, with the updates in; the participant that did not answer counts as a straggler and stays',
    TEST_TIMEOUT,
    async () => {
      await withRun({ rounds: 3, minSites: 2, participationFraction: 1 }, async (run) => {
        const sites = await closeRoundOne(run, names(1, 2), names(3));
        assert.deepEqual(participants(run), names(1, 2, 3));
        for (const site of sites.slice(0, 2)) assert.equal(await site.answered(), 'accepted');
        run.clock.advance(ROUND_DEADLINE_MS - 1);
        assert.equal(await run.storedState(), 'round-open');
        assert.equal(run.closed.length, 1, 'round 2 is still open');
        const closed = run.roundClosed(2);
        run.clock.advance(1);
        const summary = await closed;
        assert.deepEqual(
          {
            attempt: summary.attempt,
            participants: summary.participants,
            stragglers: summary.stragglers,
            dropped: summary.dropped,
            seconds: summary.duration_seconds,
          },
          { attempt: 1, participants: 2, stragglers: 1, dropped: 0, seconds: 60 },
        );
        assert.deepEqual(run.failed, []);
        const straggler = sites[2]!;
        assert.equal(straggler.closed, false, 'a straggler is no protocol violation');
        assert.equal(straggler.start.round, 3, 'and it is asked again in the next round');
      });
    },
  );

  it(
    "a straggler's update for the round that closed without it is rejected with update.stale_round, and its session stays",
    TEST_TIMEOUT,
    async () => {
      await withRun({ rounds: 3, minSites: 2, participationFraction: 1 }, async (run) => {
        const sites = await closeRoundOne(run, names(1, 2), names(3));
        const straggler = sites[2]!;
        const lateStart = straggler.start;
        for (const site of sites.slice(0, 2)) await site.answered();
        const closed = run.roundClosed(2);
        run.clock.advance(ROUND_DEADLINE_MS);
        await closed;
        assert.equal(await straggler.answered(lateStart), 'update.stale_round');
        assert.equal(straggler.closed, false);
        assert.deepEqual(participants(run), names(1, 2, 3), 'round 3 counts it in');
        assert.ok(
          run.audits.some((e) => e.event === 'update.rejected' && e.site === 'site-3'),
          'the rejection goes to the audit log',
        );
      });
    },
  );
});

/**
 * Five sites, minSites 2, participation fraction 0.5: round 2 selects max(2, ceil(0.5 x 5)) = 3.
 * Its first attempt gets one update by the deadline and fails; its stragglers answer it late
 * while the retry is open; the retry's participants answer the retry.
 */
interface FailedQuorum {
  readonly selected: string[][];
  readonly failed: { round: number; attempt: number; updates: number; quorum: number }[];
  readonly closedBeforeRetry: number[];
  /** Round 2's model (version, hash) as sent with the failed attempt, then with the retry. */
  readonly models: { version: number; hash: string }[];
  readonly stateAfterFailure: string;
  /** What each straggler of the failed attempt was told of its late update, and whether it stayed. */
  readonly late: Record<string, { verdict: Verdict; stayed: boolean }>;
  readonly retry: Verdict[];
  readonly roundTwo: { attempt: number; participants: number };
  readonly attempts: { round: number; attempt: number; outcome: string }[];
}

async function failedQuorum(seed: number): Promise<FailedQuorum> {
  let result: FailedQuorum | undefined;
  await withRun(
    { rounds: 3, seed, minSites: 2, participationFraction: 0.5 },
    async (run): Promise<void> => {
      const sites = await closeRoundOne(run, names(1, 2), names(3, 4, 5));
      const model = (start: RoundStart): { version: number; hash: string } => ({
        version: start.modelVersion,
        hash: toHex(start.model.hash),
      });
      const first = participants(run);
      const firstStarts = first.map((n) => siteOf(sites, n).start);
      assert.equal(await siteOf(sites, first[0]!).answered(), 'accepted');
      const failure = run.nextFailure();
      run.clock.advance(ROUND_DEADLINE_MS);
      await failure;
      const closedBeforeRetry = run.closed.map((s) => s.round);
      const retried = participants(run);
      const retryStarts = retried.map((n) => siteOf(sites, n).start);
      const stateAfterFailure = await run.storedState();
      // The stragglers' late answers come first, as from sites that answer each start in turn.
      const late: FailedQuorum['late'] = {};
      for (const [i, name] of first.slice(1).entries()) {
        const straggler = siteOf(sites, name);
        const verdict = await straggler.answered(firstStarts[i + 1]);
        late[name] = { verdict, stayed: !straggler.closed };
      }
      const closed = run.roundClosed(2);
      const retry: Verdict[] = [];
      for (const name of retried) retry.push(await siteOf(sites, name).answered());
      const summary = await closed;
      result = {
        selected: [first, retried],
        failed: [...run.failed],
        closedBeforeRetry,
        models: [model(firstStarts[0]!), model(retryStarts[0]!)],
        stateAfterFailure,
        late,
        retry,
        roundTwo: { attempt: summary.attempt, participants: summary.participants },
        attempts: (await run.store.runs.roundAttempts(run.runId))
          .filter((a) => a.round === 2)
          .map((a) => ({ round: a.round, attempt: a.attempt, outcome: a.state })),
      };
    },
  );
  return result!;
}

describe('quorum failure at the deadline, and the retry', () => {
  /** With this seed the retry of round 2 selects other sites than its first attempt. */
  const SEED = 7;
  let first: FailedQuorum;
  let second: FailedQuorum;

  before(async () => {
    first = await failedQuorum(SEED);
    second = await failedQuorum(SEED);
  }, TEST_TIMEOUT);

  it('fewer than minSites updates at the deadline: the attempt fails there and nothing is applied', () => {
    assert.deepEqual(first.failed, [{ round: 2, attempt: 1, updates: 1, quorum: 2 }]);
    assert.deepEqual(first.closedBeforeRetry, [1], 'a failed attempt closes no round');
    assert.equal(first.stateAfterFailure, 'round-open', 'the retry opened at once');
  });

  it('the same round is retried from the same model', () => {
    assert.equal(first.models[0]!.version, 1);
    assert.deepEqual(first.models[1], first.models[0]);
    assert.deepEqual(first.roundTwo, { attempt: 2, participants: 3 });
  });

  it("the retry's selection is a fresh seeded one: the attempt is part of the seed, and the same seed selects the same sites again", () => {
    assert.equal(first.selected[0]!.length, 3);
    assert.equal(first.selected[1]!.length, 3);
    assert.notDeepEqual(first.selected[1], first.selected[0]);
    assert.deepEqual(second.selected, first.selected);
  });

  it("the failed attempt's stragglers, selected again or not, have their late updates rejected (update.stale_round) and stay; the retry's participants are accepted", () => {
    const stragglers = Object.keys(first.late);
    assert.equal(stragglers.length, 2);
    for (const name of stragglers) {
      assert.deepEqual(first.late[name], { verdict: 'update.stale_round', stayed: true }, name);
    }
    assert.deepEqual(first.retry, ['accepted', 'accepted', 'accepted']);
  });

  it('the store keeps both attempts: the failed one, then the one that closed the round', () => {
    assert.deepEqual(
      first.attempts.map((a) => [a.attempt, a.outcome]),
      [
        [0, 'failed'],
        [1, 'closed'],
      ],
    );
  });
});

describe('when an attempt ends without the clock', () => {
  it(
    'an attempt closes as soon as every participant has answered, with no clock advance',
    TEST_TIMEOUT,
    async () => {
      await withRun({ rounds: 2, minSites: 2 }, async (run) => {
        const opened = run.clock.now();
        const sites = run.ready(...names(1, 2));
        const closed = run.roundClosed(1);
        for (const site of sites) assert.equal(await site.answered(), 'accepted');
        const summary = await closed;
        assert.equal(run.clock.now(), opened);
        assert.equal(summary.duration_seconds, 0);
        assert.equal(summary.participants, 2);
      });
    },
  );

  it(
    'a dropout that leaves fewer than minSites able to answer fails the attempt at once; the one that answered stays, and the round is retried from the same model once the dropout is back',
    TEST_TIMEOUT,
    async () => {
      await withRun({ rounds: 2, minSites: 2 }, async (run) => {
        const [dropout, stays] = run.ready(...names(1, 2));
        const model = toHex(stays!.start.model.hash);
        assert.equal(await stays!.answered(), 'accepted');
        const failure = run.nextFailure();
        dropout!.drop();
        assert.deepEqual(await failure, { round: 1, attempt: 1, updates: 1, quorum: 2 });
        assert.equal(await run.storedState(), 'waiting-for-sites');
        assert.equal(stays!.closed, false);
        const [back] = run.ready('site-1');
        assert.deepEqual(participants(run), names(1, 2));
        assert.equal(back!.start.round, 1);
        assert.equal(toHex(back!.start.model.hash), model);
        assert.equal(back!.start.modelVersion, 0);
      });
    },
  );

  it(
    'a dropout while the others still make quorum: the round closes as soon as they have answered, counting the dropout as dropped',
    TEST_TIMEOUT,
    async () => {
      await withRun({ rounds: 3, minSites: 2, participationFraction: 1 }, async (run) => {
        const sites = await closeRoundOne(run, names(1, 2), names(3));
        const closed = run.roundClosed(2);
        sites[2]!.drop();
        for (const site of sites.slice(0, 2)) assert.equal(await site.answered(), 'accepted');
        const summary = await closed;
        assert.deepEqual([summary.participants, summary.stragglers, summary.dropped], [2, 0, 1]);
      });
    },
  );
});

describe('updates the round refuses', () => {
  /**
   * Round 2 is open for site-1 … site-3 at model version 1; `update` is what the test site
   * sends; the others answer afterwards and the round closes without the refused update.
   */
  const refusals: {
    name: string;
    send: (site: TestSite) => Promise<Verdict>;
    verdict: Verdict;
    stays: boolean;
    /** The updates round 2 closes with. */
    counted: number;
  }[] = [
    {
      name: 'a duplicate of an accepted update ends the session with update.duplicate',
      send: async (site) => {
        assert.equal(await site.answered(), 'accepted');
        return site.answered();
      },
      verdict: 'refused: update.duplicate',
      stays: false,
      counted: 3,
    },
    {
      name: 'a second update while the first is still being pulled ends the session with update.duplicate',
      send: async (site) => {
        site.answer();
        site.answer();
        const first = await site.verdict();
        assert.equal(first, 'refused: update.duplicate');
        return first;
      },
      verdict: 'refused: update.duplicate',
      stays: false,
      counted: 2,
    },
    {
      name: 'an update trained from an older model version ends the session with update.stale_round',
      send: (site) => site.answered(site.start, { baseVersion: 0 }),
      verdict: 'refused: update.stale_round',
      stays: false,
      counted: 2,
    },
    {
      name: 'an update for another run ends the session with update.stale_round',
      send: (site) => site.answered(site.start, { runId: 'another-run' }),
      verdict: 'refused: update.stale_round',
      stays: false,
      counted: 2,
    },
    {
      name: 'an update for a round not yet open ends the session with update.stale_round',
      send: (site) => site.answered(site.start, { round: 3 }),
      verdict: 'refused: update.stale_round',
      stays: false,
      counted: 2,
    },
    {
      name: 'an update for a round already closed is rejected with update.stale_round and the session stays',
      send: (site) => site.answered(site.start, { round: 1 }),
      verdict: 'update.stale_round',
      stays: true,
      counted: 2,
    },
  ];

  for (const refusal of refusals) {
    it(refusal.name, TEST_TIMEOUT, async () => {
      await withRun({ rounds: 3, minSites: 2, participationFraction: 1 }, async (run) => {
        const sites = await closeRoundOne(run, names(1, 2), names(3));
        const [tested, ...others] = [sites[2]!, sites[0]!, sites[1]!];
        assert.equal(await refusal.send(tested), refusal.verdict);
        assert.equal(!tested.closed, refusal.stays);
        const closed = run.roundClosed(2);
        for (const site of others) assert.equal(await site.answered(), 'accepted');
        if (refusal.stays) run.clock.advance(ROUND_DEADLINE_MS);
        const summary = await closed;
        assert.equal(summary.participants, refusal.counted, 'a refused update is not counted');
      });
    });
  }

  it(
    'an update from a ready site that is not in the open round ends its session with update.not_participant',
    TEST_TIMEOUT,
    async () => {
      await withRun({ rounds: 2, minSites: 1, participationFraction: 1 }, async (run) => {
        const [participant] = run.ready('site-1');
        const [outsider] = run.ready('site-2');
        assert.deepEqual(participants(run), ['site-1']);
        // Shaped exactly as the participant's: same run, round and base version.
        assert.equal(
          await outsider!.answered(participant!.start),
          'refused: update.not_participant',
        );
        assert.equal(outsider!.closed, true);
        const closed = run.roundClosed(1);
        assert.equal(await participant!.answered(), 'accepted');
        assert.equal((await closed).participants, 1);
      });
    },
  );

  it(
    'a participant that dropped and is back in a new session is no participant of that attempt (update.not_participant)',
    TEST_TIMEOUT,
    async () => {
      await withRun({ rounds: 3, minSites: 2, participationFraction: 1 }, async (run) => {
        const sites = await closeRoundOne(run, names(1, 2), names(3));
        const oldStart = sites[2]!.start;
        sites[2]!.drop();
        const [back] = run.ready('site-3');
        assert.equal(back!.starts.length, 0, 'the open attempt does not take it back');
        assert.equal(await back!.answered(oldStart), 'refused: update.not_participant');
      });
    },
  );
});

describe('withheld updates', () => {
  /** Shorter than the deadline, so a withholding site is cut off before the attempt ends. */
  const IDLE_MS = 10_000;
  const WITHHOLDING_RUN = {
    rounds: 3,
    minSites: 2,
    participationFraction: 1,
    updateIdleMs: IDLE_MS,
  } satisfies Partial<RunSpecInput>;

  /** Lets the promise callbacks already queued run: a stopped pull settles in them. */
  const settled = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

  /** Round 2 is open for site-1 … site-3; site-3 announces its update and sends no chunk. */
  async function withholdInRoundTwo(run: ConductorHarness): Promise<TestSite[]> {
    const sites = await closeRoundOne(run, names(1, 2), names(3));
    run.transfer.withholding.add('site-3');
    assert.equal(sites[2]!.answer().ok, true);
    return sites;
  }

  it(
    'a participant that sends no chunk of its update for updateIdleMs is refused with update.withheld, audited, its slot freed; the attempt closes with the others without waiting for the deadline',
    TEST_TIMEOUT,
    async () => {
      await withRun(WITHHOLDING_RUN, async (run) => {
        const opened = run.clock.now();
        const sites = await withholdInRoundTwo(run);
        const withholder = sites[2]!;
        for (const site of sites.slice(0, 2)) assert.equal(await site.answered(), 'accepted');
        run.clock.advance(IDLE_MS - 1);
        assert.equal(withholder.closed, false, 'not a moment before updateIdleMs');
        assert.equal(run.transfer.pulls('site-3').inFlight, 1);
        const closed = run.roundClosed(2);
        run.clock.advance(1);
        assert.equal(await withholder.verdict(), 'refused: update.withheld');
        assert.equal(run.transfer.pulls('site-3').inFlight, 0);
        const summary = await closed;
        assert.equal(run.clock.now() - opened, IDLE_MS);
        assert.deepEqual([summary.participants, summary.dropped], [2, 1]);
        const withheld = run.audits.filter((e) => e.event === 'update.withheld');
        assert.deepEqual(
          withheld.map(({ round, attempt, site, code }) => ({ round, attempt, site, code })),
          [{ round: 2, attempt: 1, site: 'site-3', code: 'update.withheld' }],
        );
      });
    },
  );

  it(
    'a site refused for withholding holds no slot again in that attempt: back in a new session, its update is refused with update.not_participant and nothing is pulled',
    TEST_TIMEOUT,
    async () => {
      await withRun(WITHHOLDING_RUN, async (run) => {
        const sites = await withholdInRoundTwo(run);
        const start = sites[2]!.start;
        run.clock.advance(IDLE_MS);
        assert.equal(await sites[2]!.verdict(), 'refused: update.withheld');
        const [back] = run.ready('site-3');
        assert.equal(await back!.answered(start), 'refused: update.not_participant');
        assert.deepEqual(run.transfer.pulls('site-3'), { started: 1, inFlight: 0, most: 1 });
      });
    },
  );

  it(
    'a pull whose chunks keep coming is not cut off by updateIdleMs; it is stopped when its round closes at the deadline, and the site stays as a straggler',
    TEST_TIMEOUT,
    async () => {
      await withRun(WITHHOLDING_RUN, async (run) => {
        const sites = await withholdInRoundTwo(run);
        for (const site of sites.slice(0, 2)) assert.equal(await site.answered(), 'accepted');
        const closed = run.roundClosed(2);
        for (let waited = 0; waited < ROUND_DEADLINE_MS; waited += IDLE_MS - 1) {
          run.transfer.trickle('site-3');
          run.clock.advance(Math.min(IDLE_MS - 1, ROUND_DEADLINE_MS - waited));
        }
        const summary = await closed;
        assert.deepEqual([summary.participants, summary.stragglers], [2, 1]);
        await settled();
        assert.equal(run.transfer.pulls('site-3').inFlight, 0, 'its slot is free');
        assert.equal(sites[2]!.closed, false);
        assert.equal(sites[2]!.start.round, 3);
        assert.equal(
          run.audits.some((e) => e.event === 'update.withheld'),
          false,
        );
      });
    },
  );

  it(
    "a pull still waiting when its attempt fails is stopped with it: the retry accepts the site's new update, and the site never has two pulls at once",
    TEST_TIMEOUT,
    async () => {
      // The attempt's deadline comes before updateIdleMs: only its end frees the slot.
      await withRun(
        { rounds: 2, minSites: 3, participationFraction: 1, updateIdleMs: 2 * ROUND_DEADLINE_MS },
        async (run) => {
          run.transfer.withholding.add('site-3');
          const sites = run.ready(...names(1, 2, 3));
          for (const site of sites.slice(0, 2)) assert.equal(await site.answered(), 'accepted');
          assert.equal(sites[2]!.answer().ok, true);
          const failure = run.nextFailure();
          run.clock.advance(ROUND_DEADLINE_MS);
          assert.deepEqual(await failure, { round: 1, attempt: 1, updates: 2, quorum: 3 });
          await settled();
          assert.equal(run.transfer.pulls('site-3').inFlight, 0);
          run.transfer.withholding.delete('site-3');
          const closed = run.roundClosed(1);
          for (const site of sites) {
            assert.equal(site.starts.length, 2, `${site.site} is asked again`);
            assert.equal(await site.answered(), 'accepted');
          }
          assert.equal((await closed).attempt, 2);
          assert.deepEqual(run.transfer.pulls('site-3'), { started: 2, inFlight: 0, most: 1 });
          assert.equal(sites[2]!.closed, false);
        },
      );
    },
  );
});

describe('pause, resume and cancel', () => {
  it(
    'pause while a round is open: the round still closes, no new round opens however long it waits, and the run stays paused',
    TEST_TIMEOUT,
    async () => {
      await withRun({ rounds: 3, minSites: 2 }, async (run) => {
        const sites = run.ready(...names(1, 2));
        assert.deepEqual(await run.conductor.pause(), { ok: true, value: true });
        assert.equal(await run.storedState(), 'paused');
        const closed = run.roundClosed(1);
        for (const site of sites) assert.equal(await site.answered(), 'accepted');
        await closed;
        assert.equal(await run.storedState(), 'paused');
        run.clock.advance(10 * ROUND_DEADLINE_MS);
        assert.deepEqual(
          sites.map((s) => s.starts.length),
          [1, 1],
          'no round.start for round 2',
        );
        assert.equal(run.conductor.status().round, 2);
        assert.deepEqual(run.conductor.status().participants, []);
      });
    },
  );

  it('resume opens the next round with the ready sites', TEST_TIMEOUT, async () => {
    await withRun({ rounds: 3, minSites: 2 }, async (run) => {
      const sites = run.ready(...names(1, 2));
      await run.conductor.pause();
      const closed = run.roundClosed(1);
      for (const site of sites) await site.answered();
      await closed;
      assert.deepEqual(await run.conductor.resume(), { ok: true, value: true });
      assert.equal(await run.storedState(), 'round-open');
      assert.deepEqual(
        sites.map((s) => [s.start.round, s.start.modelVersion]),
        [
          [2, 1],
          [2, 1],
        ],
      );
    });
  });

  it(
    'resume while the paused round is still open goes back to round-open, and the round closes as usual',
    TEST_TIMEOUT,
    async () => {
      await withRun({ rounds: 3, minSites: 2 }, async (run) => {
        const sites = run.ready(...names(1, 2));
        await run.conductor.pause();
        await run.conductor.resume();
        assert.equal(await run.storedState(), 'round-open');
        const closed = run.roundClosed(1);
        for (const site of sites) await site.answered();
        await closed;
        assert.equal(sites[0]!.start.round, 2);
      });
    },
  );

  it(
    'pausing a paused run and resuming a running one are refused with run.illegal_transition',
    TEST_TIMEOUT,
    async () => {
      await withRun({ rounds: 2, minSites: 2 }, async (run) => {
        const code = (r: { ok: boolean; error?: { code: string } }): string | undefined =>
          r.ok ? undefined : r.error!.code;
        assert.equal(code(await run.conductor.resume()), 'run.illegal_transition');
        await run.conductor.pause();
        assert.equal(code(await run.conductor.pause()), 'run.illegal_transition');
        assert.equal(await run.storedState(), 'paused');
      });
    },
  );

  it(
    'cancel ends the run: finished rejects with run.cancelled, every session is refused with run.cancelled, the state is cancelled, and the deadline of the dropped round does nothing',
    TEST_TIMEOUT,
    async () => {
      await withRun({ rounds: 2, minSites: 2, participationFraction: 1 }, async (run) => {
        const sites = run.ready(...names(1, 2));
        const [waiting] = run.ready('site-3');
        assert.equal(await sites[0]!.answered(), 'accepted');
        assert.deepEqual(await run.conductor.cancel(), { ok: true, value: true });
        await assert.rejects(run.conductor.finished, { code: 'run.cancelled' });
        assert.deepEqual(
          [...sites, waiting!].map((s) => s.refusal),
          ['run.cancelled', 'run.cancelled', 'run.cancelled'],
        );
        assert.equal(await run.storedState(), 'cancelled');
        assert.equal(run.conductor.ended, true);
        run.clock.advance(10 * ROUND_DEADLINE_MS);
        assert.deepEqual([run.closed, run.failed], [[], []]);
        const late = run.site('site-4').join();
        assert.equal(late.ok ? undefined : late.error.code, 'session.closed');
        const again = await run.conductor.cancel();
        assert.equal(again.ok ? undefined : again.error.code, 'run.illegal_transition');
      });
    },
  );

  it(
    'an update whose blob is still being pulled when the run is cancelled is never acknowledged',
    TEST_TIMEOUT,
    async () => {
      await withRun({ rounds: 2, minSites: 2 }, async (run) => {
        const [site] = run.ready(...names(1, 2));
        site!.answer();
        await run.conductor.cancel();
        assert.equal(await site!.verdict(), 'refused: run.cancelled');
        assert.equal(site!.sent.filter((m) => m.type === 'update.accepted').length, 0);
        await assert.rejects(run.conductor.finished, { code: 'run.cancelled' });
      });
    },
  );
});

describe('the privacy budget', () => {
  // Two of five enrolled sites take part, by a seeded selection: accounted at q = 1 all the same
  // (privacy-plan.ts SAMPLING). With z = 2 the budget sits between the epsilon after two rounds
  // and after three.
  const rate = 1;
  const epsilonAfter = (rounds: number): number =>
    epsilonFromRdp(computeRdp(rate, 2, rounds, DEFAULT_ORDERS), DEFAULT_ORDERS, 1e-5).epsilon;
  const budget = (epsilonAfter(2) + epsilonAfter(3)) / 2;

  /** Runs the five-round DP run to its end; `check` sees it before it is disposed. */
  const budgetRun = (check: (run: ConductorHarness, sites: TestSite[]) => Promise<void>) =>
    withRun(
      {
        rounds: 5,
        minSites: 2,
        participationFraction: 0.4,
        privacy: { dp: { epsilon: budget, noiseMultiplier: 2, clipNorm: 1 } },
      },
      async (run) => {
        const sites = run.ready(...names(1, 2));
        for (let round = 1; round <= 2; round++) await answerRound(run, sites, round);
        await check(run, sites);
      },
    );

  it(
    'a DP run whose budget allows two of five rounds completes after two, in state stopped-by-budget, and says so in its report',
    TEST_TIMEOUT,
    async () => {
      await budgetRun(async (run, sites) => {
        const report = await run.conductor.finished;
        assert.equal(report.per_round.length, 2);
        assert.equal(report.privacy!.stopped_by_budget, true);
        assert.ok(Math.abs(report.privacy!.epsilon - epsilonAfter(2)) < 1e-9);
        assert.equal(await run.storedState(), 'stopped-by-budget');
        for (const site of sites) {
          assert.deepEqual(site.sent.at(-1), { type: 'run.complete', runId: run.runId, rounds: 2 });
          assert.equal(site.starts.length, 2, 'no round 3 was opened');
        }
      });
    },
  );

  it(
    'a run stopped by its budget goes from completing straight to stopped-by-budget in the store, never through complete',
    TEST_TIMEOUT,
    async () => {
      await budgetRun(async (run) => {
        await run.conductor.finished;
        assert.deepEqual(run.states.slice(-2), ['completing', 'stopped-by-budget']);
      });
    },
  );
});

describe("the run's state in the store", () => {
  it(
    'a two-round run with one failed attempt passes through each state in order, and the store holds each',
    TEST_TIMEOUT,
    async () => {
      await withRun({ rounds: 2, minSites: 2 }, async (run) => {
        const sites = run.ready(...names(1, 2));
        const firstStarts = sites.map((s) => s.start);
        const failure = run.nextFailure();
        run.clock.advance(ROUND_DEADLINE_MS);
        await failure;
        // Each site answers the failed attempt first: late, and rejected.
        for (const [i, site] of sites.entries()) {
          assert.equal(await site.answered(firstStarts[i]), 'update.stale_round');
        }
        for (let round = 1; round <= 2; round++) await answerRound(run, sites, round);
        const report = await run.conductor.finished;
        assert.deepEqual(run.states, [
          'created',
          'waiting-for-sites',
          'round-open',
          // The failed attempt: back to waiting, and the retry opens at once.
          'waiting-for-sites',
          'round-open',
          'closing',
          'waiting-for-sites',
          'round-open',
          'closing',
          'completing',
          'complete',
        ]);
        assert.deepEqual(await run.store.runs.report(run.runId), report);
        assert.equal((await run.store.runs.get(run.runId))!.lastClosedRound, 2);
      });
    },
  );
});
