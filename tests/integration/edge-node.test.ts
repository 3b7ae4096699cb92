import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AuditEvent } from '../../coordinator/events/coordinator-events.js';
import { loadCoordinatorConfig } from '../../coordinator/config/coordinator-config.js';
import { startNode, type EdgeHandle } from '../../coordinator/coordinator.js';
import { startPostgres, type TestPostgres } from '../../harness/embedded-postgres.js';
import { HandSite } from '../../harness/hand-site.js';
import { startRunFixture, type RunFixture } from '../../harness/run-fixture.js';
import { loadSodium, toHex, type Sodium } from '../../protocol/index.js';

/**
 * Threat: a site that lies about its update (chunks that do not match the manifest it
 * announced) through an edge node, which pulls updates for the leader. The edge must not be a
 * way around the leader's checks: the update is refused with the same code as on the leader,
 * the leader logs it, and honest updates that came through the same edge are accepted.
 */
describe('a site on an edge node', () => {
  let server: TestPostgres;
  let fixture: RunFixture;
  let edge: EdgeHandle;
  let sodium: Sodium;
  const audits: AuditEvent[] = [];

  before(async () => {
    sodium = await loadSodium();
    server = await startPostgres();
    const url = await server.createDatabase();
    const store = { kind: 'postgres' as const, url, poolSize: 10, leaseMs: 3_000 };
    fixture = await startRunFixture({
      sites: 3,
      rounds: 2,
      adjust: (config) => ({ ...config, store }),
    });
    fixture.coordinator.events.on('audit', (event) => audits.push(event));
    const config = await loadCoordinatorConfig(fixture.workspace.coordinatorConfigFile);
    const started = await startNode({ ...config, store }, { logLevels: false });
    assert.ok('leading' in started, 'the second node serves as an edge while the first leads');
    edge = started;
  });

  after(async () => {
    await edge?.close();
    await fixture?.dispose();
    await server?.stop();
  });

  it('a corrupt update chunk is refused with blob.hash_mismatch and logged by the leader; honest updates through the same edge are accepted', async () => {
    const host = { workspace: fixture.workspace, coordinator: { url: edge.url } };
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
