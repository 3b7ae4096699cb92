import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import type { Socket as NetSocket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  BlobAssembler,
  decodeKey,
  identityFileSchema,
  identityKeyPair,
  loadSodium,
  unwrap,
  type RoundStart,
  type Sodium,
} from '../../protocol/index.js';
import { RawPeer } from '../../harness/raw-peer.js';
import { startRunFixture, type RunFixture } from '../support/run-fixture.js';

/** The TCP socket under a socket.io-client connection (websocket transport, node `ws`). */
function tcpOf(peer: RawPeer): NetSocket {
  const engine = (
    peer.socket.io as unknown as { engine: { transport: { ws: { _socket: NetSocket } } } }
  ).engine;
  return engine.transport.ws._socket;
}

/**
 * A site that asks for a large model and then stops reading. The coordinator must not seal
 * and queue everything it was asked for: it hands a chunk to the socket only once the
 * previous one has left the process. The student here is 30-4096-4096-2 (16.9 M parameters,
 * a 67 MB blob in 4 MiB chunks), so unbounded buffering would be plain to see.
 */
describe('backpressure: a site that reads slowly', () => {
  let sodium: Sodium;
  let fixture: RunFixture;
  let peer: RawPeer;
  let start: RoundStart;

  before(async () => {
    sodium = await loadSodium();
    fixture = await startRunFixture({
      sites: 1,
      rounds: 1,
      adjust: (config) => ({
        ...config,
        run: { ...config.run!, studentHidden: [4096, 4096], blobChunkBytes: 4 * 1024 * 1024 },
      }),
    });
    const file = fixture.workspace.keys.siteIdentities['site-1']!;
    const key = identityKeyPair(identityFileSchema.parse(JSON.parse(await readFile(file, 'utf8'))));
    peer = await RawPeer.connect(fixture.coordinator.url, sodium);
    const session = await peer.handshake(
      key,
      decodeKey(fixture.workspace.keys.coordinatorPublicKey),
    );
    assert.ok(typeof session !== 'string');
    const welcome = await peer.nextOf('run.welcome');
    const blob = welcome.teacher.blob;
    peer.send({ type: 'blob.request', hash: blob.hash, from: 0, count: blob.chunkHashes.length });
    for (let i = 0; i < blob.chunkHashes.length; i++) await peer.nextOf('blob.chunk');
    peer.send({ type: 'site.ready', transferHash: blob.hash, backend: 'hand' });
    start = await peer.nextOf('round.start');
  });

  after(async () => {
    peer?.close();
    await fixture?.dispose();
  });

  it('the coordinator stops sending while the site does not read, then delivers everything', async (t) => {
    const model = start.model;
    assert.equal(model.chunkHashes.length, 17);
    const sentBefore = fixture.coordinator.events.bytesOut;
    tcpOf(peer).pause();
    // Ask for everything the flow-control limit allows: 17 chunks, 67 MB.
    peer.send({ type: 'blob.request', hash: model.hash, from: 0, count: 8 });
    peer.send({ type: 'blob.request', hash: model.hash, from: 8, count: 8 });
    peer.send({ type: 'blob.request', hash: model.hash, from: 16, count: 1 });
    let stalled = 0;
    let previous = -1;
    // Wait until the coordinator's count of bytes handed to the socket stops growing. It stops
    // when the loopback socket's kernel buffers are full, which no event in this process tells:
    // a quiet spell is the only sign, so this one wait stays.
    while (stalled < 10) {
      await new Promise((r) => setTimeout(r, 50));
      const now = fixture.coordinator.events.bytesOut;
      stalled = now === previous ? stalled + 1 : 0;
      previous = now;
    }
    const handedOver = fixture.coordinator.events.bytesOut - sentBefore;
    t.diagnostic(
      `sealed and handed to the socket while the site did not read: ${handedOver} of ${model.bytes} bytes`,
    );
    // The socket's kernel buffers take some megabytes; the rest must wait unsealed.
    assert.ok(
      handedOver < model.bytes / 2,
      `${handedOver} of ${model.bytes} bytes were sealed while the site did not read`,
    );

    tcpOf(peer).resume();
    const assembler = new BlobAssembler(sodium, model);
    // The windows were already asked for above; mark them so the chunks are accepted.
    while (assembler.nextRequest());
    for (let i = 0; i < model.chunkHashes.length; i++) {
      const chunk = await peer.nextOf('blob.chunk');
      const accepted = assembler.accept(chunk);
      assert.ok(accepted.ok, !accepted.ok ? accepted.error.message : '');
    }
    assert.ok(assembler.complete);
    unwrap(assembler.result());
  });

  it('a site that asks for more than the limit without reading is refused: flow.overrun', async () => {
    tcpOf(peer).pause();
    for (let i = 0; i < 5; i++)
      peer.send({ type: 'blob.request', hash: start.model.hash, from: 0, count: 8 });
    tcpOf(peer).resume();
    assert.equal(await peer.refusal, 'flow.overrun');
  });
});
