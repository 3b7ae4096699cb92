import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withCoordinatorStore } from '../../cli/coordinator-store.js';
import type { CoordinatorConfig } from '../../coordinator/config/coordinator-config.js';
import { issueToken } from '../../coordinator/api/tokens.js';
import { runSpecSchema, type RunSpecInput } from '../../coordinator/runs/run-spec.js';
import type { RunFixture } from '../support/run-fixture.js';
import { readFile } from 'node:fs/promises';
import { SiteSecureRound } from '../../client/secure-round.js';
import { PrivacyLedger } from '../../client/privacy-ledger.js';
import { runSite } from '../../client/site-client.js';
import {
  identityFileSchema,
  identityKeyPair,
  loadSodium,
  parameterCount,
  RdpAccountant,
  unwrap,
  weightLayout,
} from '../../protocol/index.js';
import { HandSite } from '../../harness/hand-site.js';
import { sitesReady } from '../support/coordinator-signals.js';
import { startRunFixture } from '../support/run-fixture.js';

/** The fixture's run, securely aggregated. */
const secure =
  (extra: Partial<RunSpecInput> = {}) =>
  (config: CoordinatorConfig): CoordinatorConfig => ({
    ...config,
    run: runSpecSchema.parse({
      ...config.run!,
      privacy: { secureAggregation: { enabled: true } },
      ...extra,
    }),
  });

describe('secure aggregation (SecAgg+) in a real run', () => {
  it('trains to the same accuracy band as plain FedAvg while the coordinator sees only masked updates', async () => {
    const fixture = await startRunFixture({ sites: 4, rounds: 3, adjust: secure() });
    const seen: Uint8Array[] = [];
    try {
      fixture.coordinator.events.on('siteMessage', ({ message }) => {
        if (message.type === 'round.update') assert.equal(message.numExamples, 1);
        if (message.type === 'blob.chunk') seen.push(message.data);
      });
      const log: string[] = [];
      const { report } = await fixture.runAllSites(undefined, (line) => log.push(line));
      assert.equal(report.secure_aggregation, true);
      assert.equal(report.per_round.length, 3, log.join('\n'));
      assert.ok(report.student_accuracy > report.majority_class_rate, `${report.student_accuracy}`);
      const entries = await withCoordinatorStore(fixture.workspace.coordinatorConfigFile, (store) =>
        store.audit.entries(),
      );
      assert.equal(entries.filter((e) => e.event.event === 'secagg.failed').length, 0);
      assert.ok(seen.length > 0);
    } finally {
      await fixture.dispose();
    }
  });

  /**
   * Runs the fixture with `dropping` as hand-driven sites that take part in round 1 honestly
   * and then disconnect: after sharing their keys, before their masked update (`relay`), or
   * after masking a zero update and signing the survivor set, before answering the unmask
   * request (`unmask`). The other sites are real. Every site is ready before round 1 opens (the
   * run is paused until then), so round 1 takes them all.
   */
  async function dropAfterSharing(
    fixture: RunFixture,
    dropping: readonly string[],
    dropAt: 'relay' | 'unmask' = 'relay',
  ) {
    const sodium = await loadSodium();
    const operator = await withCoordinatorStore(
      fixture.workspace.coordinatorConfigFile,
      async (store) =>
        (await issueToken(store.tokens, { name: 'ops', role: 'operator', kind: 'api' })).secret,
    );
    const api = (method: string, route: string) =>
      fetch(`${fixture.coordinator.url}${route}`, {
        method,
        headers: { authorization: `Bearer ${operator}` },
      });
    const runId = fixture.coordinator.runId!;
    assert.equal((await api('POST', `/api/runs/${runId}/pause`)).status, 200);
    const honest = fixture.workspace.siteNames.filter((site) => !dropping.includes(site));
    const ready = sitesReady(fixture.coordinator.events, fixture.workspace.siteNames);
    const configs = await Promise.all(honest.map(fixture.siteConfig));
    const running = Promise.all(configs.map((c) => runSite(c)));
    const hands = await Promise.all(dropping.map((name) => HandSite.join(fixture, sodium, name)));
    for (const hand of hands) await hand.ready();
    await ready;
    assert.equal((await api('POST', `/api/runs/${runId}/resume`)).status, 200);
    await Promise.all(
      hands.map(async (hand) => {
        const start = await hand.nextStart();
        const secure = new SiteSecureRound(sodium, {
          site: hand.name,
          identity: identityKeyPair(
            identityFileSchema.parse(
              JSON.parse(await readFile(fixture.workspace.keys.siteIdentities[hand.name]!, 'utf8')),
            ),
          ),
          runId,
          round: start.round,
          settings: start.secureAggregation!,
          dimension: parameterCount(hand.welcome.student),
        });
        hand.peer.send({ type: 'secagg.keys', runId, round: 1, keys: unwrap(secure.keys()) });
        const { roster } = await hand.nextOf('secagg.roster');
        hand.peer.send({
          type: 'secagg.shares',
          runId,
          round: 1,
          shares: unwrap(secure.share(roster)),
        });
        // Its shares are with its neighbours once the relay comes.
        const { shares } = await hand.nextOf('secagg.relay');
        if (dropAt === 'unmask') {
          unwrap(secure.receive(shares));
          const zero = weightLayout(hand.welcome.student).map((slot) => ({
            ...slot,
            values: new Float32Array(slot.shape.reduce((a, b) => a * b, 1)),
          }));
          hand.offer(start, unwrap(await secure.masked(zero)));
          const { set } = await hand.nextOf('secagg.survivors');
          const signature = unwrap(secure.signSurvivors(set));
          hand.peer.send({ type: 'secagg.signature', runId, round: 1, signature });
          await hand.nextOf('secagg.unmask');
        }
        await hand.drop();
      }),
    );
    await running;
    const report = await fixture.coordinator.finished;
    const entries = await withCoordinatorStore(fixture.workspace.coordinatorConfigFile, (store) =>
      store.audit.entries(),
    );
    return { report, events: entries.map((e) => e.event) };
  }

  it("recovers the survivors' sum when a site drops after sharing its keys (up to k - t of a neighbourhood)", async () => {
    // 5 sites: k = 4 neighbours each, t = 3, so one dropped neighbour is tolerated.
    const fixture = await startRunFixture({ sites: 5, rounds: 2, adjust: secure({ minSites: 3 }) });
    try {
      const { report, events } = await dropAfterSharing(fixture, ['site-5']);
      assert.equal(report.per_round[0]!.participants, 4, 'the survivors were summed');
      assert.equal(report.per_round[0]!.dropped, 1);
      assert.equal(report.per_round[0]!.attempt, 1, 'in the first attempt');
      assert.equal(events.filter((e) => e.event === 'secagg.failed').length, 0);
    } finally {
      await fixture.dispose();
    }
  });

  it('fails the round cleanly, revealing no sum, when more than k - t neighbours drop', async () => {
    const fixture = await startRunFixture({ sites: 5, rounds: 2, adjust: secure({ minSites: 3 }) });
    const updates = new Map<string, number>();
    fixture.coordinator.events.on('siteMessage', ({ site, message }) => {
      if (message.type === 'round.update') updates.set(site, (updates.get(site) ?? 0) + 1);
    });
    try {
      const { report, events } = await dropAfterSharing(fixture, ['site-4', 'site-5']);
      const failed = events.filter((e) => e.event === 'secagg.failed');
      assert.equal(failed.length, 1);
      assert.equal(failed[0]!.round, 1);
      assert.equal(failed[0]!.code, 'secagg.insufficient_shares');
      // The round was tried again with the three sites left, and the run completed.
      assert.equal(report.per_round[0]!.attempt, 2);
      assert.equal(report.per_round[0]!.participants, 3);
      assert.equal(report.per_round.length, 2);
      // Each masked update a site sent is in its own ledger, the failed attempt's included: the
      // coordinator may have learned that sum before it declared the failure.
      const ledgers = await Promise.all(
        ['site-1', 'site-2', 'site-3'].map(async (site) => {
          const { cacheDir } = await fixture.siteConfig(site);
          return { site, entries: unwrap(await PrivacyLedger.open(cacheDir)).entries };
        }),
      );
      for (const { site, entries } of ledgers) assert.equal(entries.length, updates.get(site));
      const failedAttempt = ledgers.flatMap(({ entries }) =>
        entries.filter((e) => e.round === 1 && e.attempt === 0),
      );
      assert.ok(failedAttempt.length > 0, 'the honest sites masked into the failed attempt');
    } finally {
      await fixture.dispose();
    }
  });

  it('charges the privacy ledger for an attempt that fails after its unmask request went out', async () => {
    // 5 sites, complete graph (k = 4, t = 3), quorum 4: all five sign, then two go silent.
    // Each honest survivor's self-mask seed keeps 2 answering holders of 3 needed: the attempt
    // fails at unmasking, after the coordinator asked for shares, so it is spent.
    const z = 1;
    const fixture = await startRunFixture({
      sites: 5,
      rounds: 2,
      adjust: secure({
        minSites: 3,
        privacy: {
          secureAggregation: { enabled: true },
          dp: { epsilon: 1000, delta: 1e-5, clipNorm: 1, noiseMultiplier: z },
        },
      }),
    });
    try {
      const { report, events } = await dropAfterSharing(fixture, ['site-4', 'site-5'], 'unmask');
      const failed = events.filter((e) => e.event === 'secagg.failed');
      assert.equal(failed.length, 1);
      assert.equal(failed[0]!.code, 'secagg.insufficient_shares');
      const spent = events.filter((e) => e.event === 'privacy.spent' && e.round === 1);
      assert.equal(spent.length, 2, 'the failed attempt and the one that closed round 1');
      // Two Gaussian steps at z = 1, q = 1 (the discrete mechanism's RDP is within 1e-9 of it).
      const twoSteps = new RdpAccountant();
      twoSteps.step(1, z, 2);
      const expected = twoSteps.spent(1e-5).epsilon;
      assert.ok(Math.abs(report.per_round[0]!.epsilon! / expected - 1) < 1e-6);
    } finally {
      await fixture.dispose();
    }
  });

  it('refuses a run spec that pairs secure aggregation with an order statistic', () => {
    const parsed = runSpecSchema.safeParse({
      minSites: 3,
      aggregation: { strategy: 'median' },
      privacy: { secureAggregation: { enabled: true } },
    });
    assert.equal(parsed.success, false);
    assert.match(parsed.error!.issues[0]!.message, /median needs every site's update/);
  });
});
