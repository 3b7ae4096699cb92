import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runSite } from '../../client/site-client.js';
import type { SiteMessageEvent } from '../../coordinator/events/coordinator-events.js';
import { decodeTensorBlob, toHex, unwrap, weightLayout } from '../../protocol/index.js';
import { startRunFixture, type RunFixture } from '../support/run-fixture.js';

/**
 * The privacy boundary: a site sends weight deltas, its example count and scalar validation
 * metrics, and nothing else. A real client runs a real session (with top-k updates, which
 * carry indices); every message it sent is checked, as the coordinator decoded it.
 */
describe('the privacy boundary of a real site session', () => {
  let fixture: RunFixture;
  const seen: SiteMessageEvent[] = [];

  before(async () => {
    fixture = await startRunFixture({
      sites: 1,
      rounds: 3,
      blobChunkBytes: 1024,
      adjust: (config) => ({
        ...config,
        run: { ...config.run!, updateEncoding: 'topk', topkFraction: 0.3 },
      }),
    });
    fixture.coordinator.events.on('siteMessage', (event) => seen.push(event));
    await Promise.all([runSite(await fixture.siteConfig('site-1')), fixture.coordinator.finished]);
  });

  after(async () => {
    await fixture?.dispose();
  });

  it('sends only allowed message types, and only chunks of the updates it announced', async () => {
    const report = await fixture.coordinator.finished;
    const fromSite = seen.filter((e) => e.site === 'site-1').map((e) => e.message);
    assert.ok(fromSite.length > 0);
    const announced = new Set<string>();
    const rounds: number[] = [];
    for (const message of fromSite) {
      switch (message.type) {
        case 'blob.request':
        case 'site.leave':
          break;
        case 'site.ready':
          assert.deepEqual(Object.keys(message).sort(), ['backend', 'transferHash', 'type']);
          assert.ok(['wasm', 'cpu'].includes(message.backend));
          break;
        case 'round.update':
          assert.deepEqual(Object.keys(message).sort(), [
            'baseVersion',
            'delta',
            'metrics',
            'numExamples',
            'round',
            'runId',
            'type',
          ]);
          assert.deepEqual(Object.keys(message.metrics!).sort(), [
            'validationAccuracy',
            'validationLoss',
          ]);
          assert.ok(Number.isInteger(message.numExamples));
          announced.add(toHex(message.delta.hash));
          rounds.push(message.round);
          break;
        case 'blob.chunk':
          assert.ok(
            announced.has(toHex(message.hash)),
            'a chunk of a blob the site never announced as its update',
          );
          break;
        case 'secagg.keys':
        case 'secagg.shares':
        case 'secagg.signature':
        case 'secagg.unmask_response':
          assert.fail(`${message.type} in a run without secure aggregation`);
          break;
        default: {
          const unreachable: never = message;
          assert.fail(`unexpected ${JSON.stringify(unreachable)}`);
        }
      }
    }
    assert.deepEqual(rounds, [1, 2, 3]);
    assert.equal(report.per_round.length, 3);
  });

  it('every update it sent decodes to exactly the student weight tensors, nothing more', () => {
    const chunks = new Map<string, Uint8Array[]>();
    for (const { message } of seen) {
      if (message.type !== 'blob.chunk') continue;
      const list = chunks.get(toHex(message.hash)) ?? [];
      list[message.index] = message.data;
      chunks.set(toHex(message.hash), list);
    }
    assert.equal(chunks.size, 3);
    const layout = weightLayout({ kind: 'mlp', inputs: 30, hidden: [8], classes: 2 });
    for (const parts of chunks.values()) {
      const whole = Buffer.concat(parts);
      const tensors = unwrap(decodeTensorBlob(new Uint8Array(whole)));
      assert.deepEqual(
        tensors.map((t) => `${t.name} ${t.shape.join('x')}`),
        layout.map((s) => `${s.name} ${s.shape.join('x')}`),
      );
    }
  });
});
