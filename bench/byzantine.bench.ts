import type { AggregationConfig } from '../coordinator/aggregation/strategy-config.js';
import { BYZANTINE_ATTACKS, type ByzantineAttack } from '../harness/byzantine-attacks.js';
import { HandSite } from '../harness/hand-site.js';
import { encodeTensorBlob, loadSodium, unwrap, type NamedTensor } from '../protocol/index.js';
import { startRunFixture } from '../harness/run-fixture.js';
import { recordResults, round } from './results.js';

/**
 * Strategy x attack: the held-out accuracy of a 5-round run on the fixture's bundled data
 * (breast cancer, seed 7), four honest real sites and site-5 driven by hand, which sends the
 * same attack every round (harness/byzantine-attacks.ts); `none`: site-5 is a real honest site.
 * `fedavg-unbounded` is FedAvg with its norm bound out of reach (ratio 1000), as before the
 * bounds. Four updates make a round. Figures only, never pass/fail.
 */
const ROUNDS = 5;
const MAX_EXAMPLES = 10_000;
const STRATEGIES: Record<string, AggregationConfig> = {
  'fedavg-unbounded': { strategy: 'fedavg', maxNormRatio: 1000 },
  fedavg: { strategy: 'fedavg', maxNormRatio: 2 },
  median: { strategy: 'median' },
  'trimmed-mean': { strategy: 'trimmed-mean', beta: 0.25 },
};
const ATTACKS = ['none', 'huge', 'sign-flip', 'huge-norm'] as const;

async function accuracy(
  aggregation: AggregationConfig,
  attack: ByzantineAttack | 'none',
): Promise<number> {
  const fixture = await startRunFixture({
    sites: 5,
    rounds: ROUNDS,
    adjust: (config) => ({
      ...config,
      run: { ...config.run!, aggregation, minSites: 4, maxExamplesPerSite: MAX_EXAMPLES },
    }),
  });
  try {
    if (attack === 'none') return (await fixture.runAllSites()).report.student_accuracy;
    const attacker = await HandSite.join(fixture, await loadSodium(), 'site-5');
    await attacker.ready();
    const run = fixture.runAllSites(undefined, undefined, ['site-1', 'site-2', 'site-3', 'site-4']);
    let previous: NamedTensor[] | undefined;
    for (let r = 0; r < ROUNDS; r++) {
      // A refused attack (a sum that overflows) ends the attacker's session: the run goes on.
      if (!attacker.connected) break;
      const start = await attacker.nextStart().catch(() => undefined);
      if (!start) break;
      const model = await attacker.model(start);
      const poisoned = BYZANTINE_ATTACKS[attack]({ model, previous, maxExamples: MAX_EXAMPLES });
      attacker.offer(
        start,
        unwrap(encodeTensorBlob(poisoned.delta, 'float32')),
        poisoned.numExamples,
      );
      previous = model;
    }
    return (await run).report.student_accuracy;
  } finally {
    await fixture.dispose();
  }
}

/** A run that has not ended by then stalled: the attack stopped it (a NaN model, say). */
const STALLED_MS = 120_000;
const orStalled = (run: Promise<number>): Promise<number | 'stalled'> =>
  Promise.race([
    run,
    new Promise<'stalled'>((resolve) => setTimeout(() => resolve('stalled'), STALLED_MS).unref()),
  ]);

const figures: Record<string, number | string> = {};
console.log(`| strategy | ${ATTACKS.join(' | ')} |`);
console.log(`| --- | ${ATTACKS.map(() => '---').join(' | ')} |`);
for (const [name, config] of Object.entries(STRATEGIES)) {
  const row: (number | string)[] = [];
  for (const attack of ATTACKS) {
    const measured = await orStalled(accuracy(config, attack));
    const value = measured === 'stalled' ? measured : round(measured, 3);
    figures[`${name}/${attack}`] = value;
    row.push(value);
  }
  console.log(`| ${name} | ${row.join(' | ')} |`);
  // Row by row: a later strategy whose run brings a site down leaves the earlier rows recorded.
  await recordResults('byzantine', { rounds: ROUNDS, sites: 5, attackers: 1, ...figures });
}
