import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runSite } from '../../client/site-client.js';
import type { AuditEvent } from '../../coordinator/events/coordinator-events.js';
import type { RunReport } from '../../coordinator/runs/run-report.js';
import { HandSite } from '../../harness/hand-site.js';
import { loadSodium, toHex, type Sodium } from '../../protocol/index.js';
import { startRunFixture, type RunFixture } from '../support/run-fixture.js';

/**
 * An enrolled site that announces its update every round and never serves a chunk, beside
 * three honest sites, against a real coordinator on loopback. Without a pull timeout its pulls
 * held the upload slots for good, and from the fifth round on no honest update could be
 * pulled: the run never ended. The test's own timeout makes that a failure, not a hang.
 */
const ROUNDS = 5;
const WITHHOLDER = 'site-4';
/** How long the coordinator waits for a chunk of an update before it calls it withheld. */
const UPDATE_IDLE_MS = 1000;
/** Long enough for an honest site on a loaded machine; short enough that a stall shows. */
const ROUND_DEADLINE_MS = 20_000;
/** Well past what the run takes with pulls that end; well short of forever. */
const RUN_TIMEOUT_MS = 180_000;

const QUICK_GIVE_UP = { initialDelayMs: 100, maxDelayMs: 200, maxAttempts: 2 };

/** One session of the withholding site: the rounds it announced an update for, and its end. */
interface WithholdingSession {
  readonly rounds: number[];
  readonly announced: string[];
  /** The update blobs the coordinator asked it for (hashes, hex). */
  readonly asked: readonly string[];
  ending: string;
}

/**
 * Joins as the withholding site, says ready, and announces an update for every round.start
 * without serving it; when the coordinator ends the session, joins again at once, until the
 * run is over (finished, or given up by the test).
 */
async function withholdEveryRound(
  fixture: RunFixture,
  sodium: Sodium,
  over: Promise<unknown>,
): Promise<WithholdingSession[]> {
  const sessions: WithholdingSession[] = [];
  const runOver = over.then(() => 'finished' as const);
  for (;;) {
    const site = await Promise.race([
      HandSite.join(fixture, sodium, WITHHOLDER, { withholds: true }),
      runOver,
    ]);
    if (site === 'finished') return sessions;
    const session: WithholdingSession = {
      rounds: [],
      announced: [],
      asked: site.asked,
      ending: '',
    };
    sessions.push(session);
    const ended = Promise.race([
      site.peer.refusal.then((code) => `refused: ${code}`),
      site.peer.disconnected.then(() => 'disconnected'),
    ]);
    await site.ready();
    for (;;) {
      const next = await Promise.race([site.nextStart().catch(() => ended), ended, runOver]);
      if (typeof next === 'string') {
        session.ending = next;
        break;
      }
      session.rounds.push(next.round);
      session.announced.push(toHex(site.answer(next).hash));
    }
    if (session.ending === 'finished') {
      await site.drop();
      return sessions;
    }
    await site.peer.disconnected;
  }
}

describe('a site that withholds its updates', () => {
  let fixture: RunFixture;
  let report: RunReport;
  let sessions: WithholdingSession[];
  const audits: AuditEvent[] = [];
  /** Ends the withholding site's sessions when the test gives up on the run. */
  let giveUp: () => void = () => undefined;
  const givenUp = new Promise<void>((resolve) => (giveUp = resolve));

  before(
    async () => {
      const sodium = await loadSodium();
      fixture = await startRunFixture({
        sites: 4,
        rounds: ROUNDS,
        adjust: (config) => ({
          ...config,
          run: {
            ...config.run!,
            minSites: 3,
            participationFraction: 1,
            roundDeadlineMs: ROUND_DEADLINE_MS,
            updateIdleMs: UPDATE_IDLE_MS,
          },
        }),
      });
      fixture.coordinator.events.on('audit', (event) => audits.push(event));
      const finished = fixture.coordinator.finished;
      // Ready first, so that it is selected for the first round.
      const withholding = withholdEveryRound(fixture, sodium, Promise.race([finished, givenUp]));
      const honest = Promise.all(
        ['site-1', 'site-2', 'site-3'].map(async (s) =>
          // A run that stalls is closed under them: they give up soon instead of retrying.
          runSite({ ...(await fixture.siteConfig(s)), reconnect: QUICK_GIVE_UP }),
        ),
      );
      [report, , sessions] = await Promise.all([finished, honest, withholding]);
    },
    { timeout: RUN_TIMEOUT_MS },
  );

  after(async () => {
    giveUp();
    await fixture?.dispose();
  });

  it('the run completes every round, each with the three honest updates', () => {
    assert.equal(report.per_round.length, ROUNDS);
    assert.deepEqual(
      report.per_round.map((r) => [r.round, r.participants]),
      Array.from({ length: ROUNDS }, (_, i) => [i + 1, 3]),
    );
  });

  it('each session in which it withheld ended with update.withheld, after one announced update', () => {
    const withheld = sessions.filter((s) => s.rounds.length > 0);
    assert.ok(withheld.length >= 2, `it withheld in ${withheld.length} rounds`);
    for (const session of withheld) {
      assert.equal(session.rounds.length, 1, 'refused before the next round.start');
      assert.equal(session.ending, 'refused: update.withheld');
    }
  });

  it('it was refused for each attempt it withheld in, with an update.withheld audit entry', () => {
    const withheldRounds = sessions.flatMap((s) => s.rounds);
    const entries = audits.filter((e) => e.event === 'update.withheld');
    assert.deepEqual(
      entries.map((e) => [e.site, e.round, e.code]),
      withheldRounds.map((round) => [WITHHOLDER, round, 'update.withheld']),
    );
    assert.ok(entries.every((e) => e.attempt === 1));
  });

  it('it never held more than one upload slot: each session was asked only for the one update it announced', () => {
    for (const session of sessions) {
      assert.ok(session.asked.length <= 1, `asked for ${session.asked.length} updates at once`);
      for (const hash of session.asked) assert.ok(session.announced.includes(hash));
    }
  });
});
