import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AuditEvent } from '../../coordinator/events/coordinator-events.js';
import { loadCoordinatorConfig } from '../../coordinator/config/coordinator-config.js';
import { startNode, type EdgeHandle } from '../../coordinator/coordinator.js';
import { runSpecSchema, type RunSpecInput } from '../../coordinator/runs/run-spec.js';
import { startPostgres } from '../../harness/embedded-postgres.js';
import { HandSite } from '../../harness/hand-site.js';
import { startRunFixture, type RunFixture } from '../../harness/run-fixture.js';
import { loadSodium, toHex, type Sodium } from '../../protocol/index.js';

/** A leader and an edge node on one PostgreSQL, the leader's audit log as it is written. */
interface TwoNodes {
  readonly fixture: RunFixture;
  readonly edge: EdgeHandle;
  readonly audits: AuditEvent[];
  /** Where sites connect to reach the edge. */
  readonly host: {
    readonly workspace: RunFixture['workspace'];
    readonly coordinator: { url: string };
  };
  close(): Promise<void>;
}

async function startTwoNodes(
  sites: number,
  rounds: number,
  run: Partial<RunSpecInput> = {},
): Promise<TwoNodes> {
  const server = await startPostgres();
  const url = await server.createDatabase();
  // A lease long enough that a loaded machine's pauses do not hand it to the edge mid-test.
  const store = { kind: 'postgres' as const, url, poolSize: 10, leaseMs: 10_000 };
  const fixture = await startRunFixture({
    sites,
    rounds,
    adjust: (config) => ({
      ...config,
      store,
      run: runSpecSchema.parse({ ...config.run!, ...run }),
    }),
  });
  const audits: AuditEvent[] = [];
  fixture.coordinator.events.on('audit', (event) => audits.push(event));
  const config = await loadCoordinatorConfig(fixture.workspace.coordinatorConfigFile);
  const started = await startNode({ ...config, store }, { logLevels: false });
  assert.ok('leading' in started, 'the second node serves as an edge while the first leads');
  return {
    fixture,
    edge: started,
    audits,
    host: { workspace: fixture.workspace, coordinator: { url: started.url } },
    close: async () => {
      await started.close();
      await fixture.dispose();
      await server.stop();
    },
  };
}

/**
 * Threat: a site that lies about its update (chunks that do not match the manifest it
 * announced) through an edge node, which pulls updates for the leader. The edge must not be a
 * way around the leader's checks: the update is refused with the same code as on the leader,
 * the leader logs it, and honest updates that came through the same edge are accepted.
 */
describe('a site on an edge node', () => {
  let nodes: TwoNodes;
  let sodium: Sodium;

  before(async () => {
    sodium = await loadSodium();
    nodes = await startTwoNodes(3, 2);
  });

  after(() => nodes?.close());

  it('a corrupt update chunk is refused with blob.hash_mismatch and logged by the leader; honest updates through the same edge are accepted', async () => {
    const { host, audits } = nodes;
    const [liar, ...honest] = await Promise.all(
      ['site-1', 'site-2', 'site-3'].map((name) =>
        HandSite.join(host, sodium, name, { withholds: name === 'site-1' }),
      ),
    );
    for (const site of [liar!, ...honest]) site.sendReady();
    const [start, ...starts] = await Promise.all([liar!, ...honest].map((s) => s.nextStart()));
    // The liar announces an honest update, then answers the pull with other bytes.
    const manifest = liar!.answer(start!);
    await liar!.askedFor(toHex(manifest.hash));
    liar!.peer.send({
      type: 'blob.chunk',
      hash: manifest.hash,
      index: 0,
      data: new Uint8Array(Math.min(manifest.bytes, manifest.chunkBytes)).fill(7),
    });
    honest.forEach((site, i) => site.answer(starts[i]!));
    assert.equal(await liar!.verdict(), 'refused: blob.hash_mismatch');
    for (const site of honest) assert.equal(await site.verdict(), 'accepted');
    assert.ok(
      audits.some(
        (e) =>
          e.event === 'update.refused' &&
          e['site'] === 'site-1' &&
          e['code'] === 'blob.hash_mismatch',
      ),
      'the leader logged the refusal',
    );
    assert.deepEqual(
      audits
        .filter((e) => e.event === 'update.received')
        .map((e) => e['site'])
        .sort(),
      ['site-2', 'site-3'],
    );
  });
});

/**
 * Hierarchical aggregation: round 2 has bounds (the medians of round 1), so its terms are fixed
 * when it opens. The edge folds its sites' updates into one partial sum and stages their bytes,
 * and the leader adds the sum at the close without refolding anything.
 */
describe('sites on an edge node, their updates summed there', () => {
  let nodes: TwoNodes;

  before(async () => {
    nodes = await startTwoNodes(3, 2);
  });

  after(() => nodes?.close());

  it('round 1 is folded at the leader (its bounds await its own medians); round 2 at the edge, whose partial sum the leader adds', async () => {
    const sodium = await loadSodium();
    const sites = await Promise.all(
      ['site-1', 'site-2', 'site-3'].map((name) => HandSite.join(nodes.host, sodium, name)),
    );
    for (const site of sites) site.sendReady();
    for (const round of [1, 2]) {
      const starts = await Promise.all(sites.map((site) => site.nextStart()));
      assert.deepEqual(
        starts.map((s) => s.round),
        [round, round, round],
      );
      sites.forEach((site, i) => site.answer(starts[i]!));
      for (const site of sites) assert.equal(await site.verdict(), 'accepted');
    }
    await nodes.fixture.coordinator.finished;
    assert.deepEqual(
      nodes.audits
        .filter((e) => e.event === 'round.gathered')
        .map(({ round, edges, partial_updates, refolded }) => ({
          round,
          edges,
          partial_updates,
          refolded,
        })),
      [{ round: 2, edges: 1, partial_updates: 3, refolded: 0 }],
    );
  });
});

/**
 * SecAgg+ through an edge: the edge adds its sites' masked inputs mod 2^32, and the leader adds
 * that sum to its own before the survivor set is drawn. Recovery needs only the survivors' sum,
 * so the unmasked model is the one a single node would get; a wrong sum would not dequantize
 * into a model that learns.
 */
describe('secure aggregation through an edge node', () => {
  let nodes: TwoNodes;

  before(async () => {
    nodes = await startTwoNodes(4, 2, { privacy: { secureAggregation: { enabled: true } } });
  });

  after(() => nodes?.close());

  it("the edge sums its sites' masked inputs, and the run completes and learns", async () => {
    const { report } = await nodes.fixture.runAllSites((config) => ({
      ...config,
      coordinator: { ...config.coordinator, url: nodes.edge.url },
    }));
    assert.equal(report.secure_aggregation, true);
    assert.equal(report.per_round.length, 2);
    assert.ok(report.student_accuracy > report.majority_class_rate, `${report.student_accuracy}`);
    assert.equal(nodes.audits.filter((e) => e.event === 'secagg.failed').length, 0);
    assert.deepEqual(
      nodes.audits
        .filter((e) => e.event === 'round.gathered')
        .map(({ round, edges, partial_updates, refolded }) => [
          round,
          edges,
          partial_updates,
          refolded,
        ]),
      [
        [1, 1, 4, 0],
        [2, 1, 4, 0],
      ],
    );
  });
});
