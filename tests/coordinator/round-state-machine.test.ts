import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CoordinatorConfig } from '../../coordinator/config/coordinator-config.js';
import type { RoundFailure } from '../../coordinator/events/coordinator-events.js';
import type { RoundSummary } from '../../coordinator/runs/run-report.js';
import { loadSodium, type RoundStart, type Sodium } from '../../protocol/index.js';
import { HandSite } from '../../harness/hand-site.js';
import { startRunFixture, type RunFixture } from '../support/run-fixture.js';

/**
 * What of the round's rules needs real sockets: a participant whose connection drops without a
 * farewell (the gateway's session close) is a dropout of the open attempt, and the site comes
 * back through a new handshake into the retry. Driven through a real coordinator on loopback by
 * sites that speak the real protocol but answer only when told (harness/hand-site.ts).
 *
 * Every other rule of a round (deadline, stragglers, quorum failure and retry, seeded selection,
 * late, duplicate, stale and outsiders' updates, pause, resume, cancel, budget stop) is a table
 * test on a fake clock in round-rules.test.ts; refusals over the wire are in hostile-input.
 */

/** Generous: a step that waits this long has failed, even on a loaded two-core machine. */
const STEP_TIMEOUT_MS = 60_000;
/** The longest deadline the config allows: a round that ends in such a run did not wait for it. */
const NO_DEADLINE_MS = 86_400_000;

const step = { timeout: STEP_TIMEOUT_MS };

function runConfig(
  run: Partial<NonNullable<CoordinatorConfig['run']>>,
): (config: CoordinatorConfig) => CoordinatorConfig {
  return (config) => ({ ...config, run: { ...config.run!, ...run } });
}

/** The round.start each of `sites` has received next, checked to be for `round`. */
async function startsOf(sites: HandSite[], round: number): Promise<RoundStart[]> {
  const starts = await Promise.all(sites.map((s) => s.nextStart()));
  for (const [i, start] of starts.entries()) {
    assert.equal(start.round, round, `${sites[i]!.name} was sent round ${start.round}`);
  }
  return starts;
}

describe('dropouts: participants whose connection drops after round.start', () => {
  let sodium: Sodium;
  let fixture: RunFixture;
  const site: Record<string, HandSite> = {};
  let firstModel: Uint8Array;

  before(async () => {
    sodium = await loadSodium();
    fixture = await startRunFixture({
      sites: 2,
      rounds: 2,
      adjust: runConfig({ minSites: 2, participationFraction: 1, roundDeadlineMs: NO_DEADLINE_MS }),
    });
  }, step);

  after(async () => {
    await fixture?.dispose();
  });

  const join = async (name: string): Promise<HandSite> =>
    (site[name] = await HandSite.join(fixture, sodium, name));

  it(
    'a dropped connection leaves too few to make quorum: the attempt fails as soon as the session closes, and the site that answered stays',
    step,
    async () => {
      await join('site-1');
      await join('site-2');
      await site['site-1']!.ready();
      await site['site-2']!.ready();
      const [, start] = await startsOf([site['site-1']!, site['site-2']!], 1);
      firstModel = start!.model.hash;
      site['site-2']!.answer(start!);
      assert.equal(await site['site-2']!.verdict(), 'accepted');
      const failed = new Promise<RoundFailure>((resolve) =>
        fixture.coordinator.events.once('roundFailed', resolve),
      );
      await site['site-1']!.drop();
      assert.deepEqual(await failed, { round: 1, attempt: 1, updates: 1, quorum: 2 });
      assert.ok(site['site-2']!.connected, 'the site that answered stays in the run');
    },
  );

  it(
    'back through a new handshake, the dropout is in the retry of the same round, from the same model, and the round closes',
    step,
    async () => {
      await join('site-1');
      await site['site-1']!.ready();
      const sites = [site['site-1']!, site['site-2']!];
      const starts = await startsOf(sites, 1);
      for (const start of starts) assert.deepEqual(start.model.hash, firstModel);
      const closed = new Promise<RoundSummary>((resolve) =>
        fixture.coordinator.events.once('round', resolve),
      );
      for (const [i, s] of sites.entries()) s.answer(starts[i]!);
      assert.deepEqual(await Promise.all(sites.map((s) => s.verdict())), ['accepted', 'accepted']);
      assert.deepEqual([(await closed).round, (await closed).attempt], [1, 2]);
    },
  );
});
