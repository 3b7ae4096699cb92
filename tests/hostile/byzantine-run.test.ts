import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AuditEvent } from '../../coordinator/events/coordinator-events.js';
import type { RunReport } from '../../coordinator/runs/run-report.js';
import { BYZANTINE_ATTACKS } from '../../harness/byzantine-attacks.js';
import { HandSite } from '../../harness/hand-site.js';
import {
  encodeTensorBlob,
  loadSodium,
  unwrap,
  type NamedTensor,
  type RoundStart,
} from '../../protocol/index.js';
import { startRunFixture, type RunFixture } from '../support/run-fixture.js';

/**
 * One Byzantine site of five under default FedAvg, on the fixture's bundled data (breast
 * cancer, seed 7): four real sites train honestly, site-5 is driven by hand and attacks each
 * round in turn (harness/byzantine-attacks.ts): a huge delta with the largest allowed count, a
 * sign-flipped scaled step, a finite huge norm, a count over the cap. The run must complete every round, the attacks must be on the audit log, and
 * the held-out accuracy must end within 2 points of a clean run of the same seed in which
 * site-5 is a real, honest site.
 */
const ROUNDS = 5;
/** The run's cap on a claimed example count; an honest site here holds about 90 rows. */
const MAX_EXAMPLES = 10_000;

async function runClean(): Promise<RunReport> {
  const fixture = await startRunFixture({
    sites: 5,
    rounds: ROUNDS,
    adjust: (config) => ({ ...config, run: { ...config.run!, maxExamplesPerSite: MAX_EXAMPLES } }),
  });
  try {
    return (await fixture.runAllSites()).report;
  } finally {
    await fixture.dispose();
  }
}

describe('a Byzantine site among five, under default FedAvg', () => {
  let fixture: RunFixture;
  let clean: RunReport;
  let attacked: RunReport;
  const audit: AuditEvent[] = [];
  const verdicts: string[] = [];

  before(async () => {
    clean = await runClean();
    const sodium = await loadSodium();
    fixture = await startRunFixture({
      sites: 5,
      rounds: ROUNDS,
      // Four updates make a round: the attacker's refused one (round 4) leaves it four.
      adjust: (config) => ({
        ...config,
        run: { ...config.run!, minSites: 4, maxExamplesPerSite: MAX_EXAMPLES },
      }),
    });
    fixture.coordinator.events.on('audit', (event) => audit.push(event));
    // Ready before the honest four, so that it is selected from round 1 on.
    const attacker = await HandSite.join(fixture, sodium, 'site-5');
    await attacker.ready();
    const honest = ['site-1', 'site-2', 'site-3', 'site-4'];
    const run = fixture.runAllSites((config) => config, undefined, honest);

    const models: NamedTensor[][] = [];
    const next = async (): Promise<RoundStart> => {
      const start = await attacker.nextStart();
      models.push(await attacker.model(start));
      return start;
    };
    for (const attack of ['huge', 'sign-flip', 'huge-norm', 'over-cap'] as const) {
      const r = models.length;
      const start = await next();
      const { delta, numExamples } = BYZANTINE_ATTACKS[attack]({
        model: models[r]!,
        previous: models[r - 1],
        maxExamples: MAX_EXAMPLES,
      });
      attacker.offer(start, unwrap(encodeTensorBlob(delta, 'float32')), numExamples);
      verdicts.push(await attacker.verdict());
    }
    attacked = (await run).report;
  });

  after(async () => {
    await fixture?.dispose();
  });

  it('the run completes every round', () => {
    assert.deepEqual(
      attacked.per_round.map((r) => r.round),
      Array.from({ length: ROUNDS }, (_, i) => i + 1),
    );
  });

  it('the three weighed attacks are accepted but bounded, and the count over the cap is refused', () => {
    assert.deepEqual(verdicts, [
      'accepted',
      'accepted',
      'accepted',
      'refused: update.count_over_cap',
    ]);
    const bounded = audit.filter((e) => e.event === 'update.bounded' && e.site === 'site-5');
    assert.deepEqual(
      bounded.map((e) => e.round),
      [1, 2, 3],
    );
    // Round 1's weight: at most twice the median claim of about 90 examples, not 10,000.
    assert.ok(Number(bounded[0]!.weight) < 400, `weight ${bounded[0]!.weight}`);
    assert.ok(
      audit.some(
        (e) =>
          e.event === 'update.refused' &&
          e.site === 'site-5' &&
          e.code === 'update.count_over_cap' &&
          e.round === 4,
      ),
    );
  });

  it('the held-out accuracy ends within 2 points of the clean run of the same seed', () => {
    const gap = Math.abs(attacked.student_accuracy - clean.student_accuracy);
    assert.ok(
      gap <= 0.02,
      `attacked ${attacked.student_accuracy} vs clean ${clean.student_accuracy}`,
    );
  });
});
