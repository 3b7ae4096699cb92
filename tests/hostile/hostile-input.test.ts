import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { runSite, type SiteRunSummary } from '../../client/site-client.js';
import type { RunReport } from '../../coordinator/runs/run-report.js';
import {
  BlobOutbox,
  decodeKey,
  encodeMessage,
  encodeTensorBlob,
  FedistillError,
  identityFileSchema,
  identityKeyPair,
  loadSodium,
  MAX_FRAME_BYTES,
  SOCKET_EVENTS,
  unwrap,
  weightLayout,
  type IdentityKeyPair,
  type NamedTensor,
  type RoundStart,
  type RunWelcome,
  type Sodium,
} from '../../protocol/index.js';
import { RawPeer } from '../../harness/raw-peer.js';
import { startRunFixture, type RunFixture } from '../support/run-fixture.js';

/**
 * Hostile input against a real coordinator. Four sites are enrolled; site-1 and site-2 are
 * honest clients that run the whole time; site-3 and site-4 are driven by hand. The quorum is
 * three sites, so each attack made from inside a round (as site-3) leaves that attempt one
 * update short of quorum: it fails, nothing is applied, and the same round is tried again.
 * Every case must be refused with its code,
 * recorded in the coordinator's protocol events, with nothing of it applied.
 */
const ROUNDS = 10;

describe('hostile input at the coordinator', () => {
  let sodium: Sodium;
  let fixture: RunFixture;
  let coordinatorKey: Uint8Array;
  const keys: Record<string, IdentityKeyPair> = {};
  let honest: Promise<SiteRunSummary[]>;
  /** The round of each failed attempt, in order. */
  const failures: number[] = [];

  before(async () => {
    sodium = await loadSodium();
    fixture = await startRunFixture({
      sites: 4,
      rounds: ROUNDS,
      adjust: (config) => ({
        ...config,
        listen: { ...config.listen, handshakeTimeoutMs: 1000 },
        // Dozens of hostile handshakes from one address in a few seconds: the rate limit
        // (preauth-limits.test.ts) would refuse them before the checks under test here.
        limits: { ...config.limits, handshakes: { burst: 1000, perSecond: 1000 } },
        run: { ...config.run!, minSites: 3 },
      }),
    });
    coordinatorKey = decodeKey(fixture.workspace.keys.coordinatorPublicKey);
    fixture.coordinator.events.on('roundFailed', (failure) => failures.push(failure.round));
    for (const [name, file] of Object.entries(fixture.workspace.keys.siteIdentities)) {
      keys[name] = identityKeyPair(
        identityFileSchema.parse(JSON.parse(await readFile(file, 'utf8'))),
      );
    }
    honest = Promise.all(
      ['site-1', 'site-2'].map(async (s) => runSite(await fixture.siteConfig(s))),
    );
    await Promise.all(
      ['site-1', 'site-2'].map((s) => eventSeen((e) => e.peer === s && e.kind === 'site.ready')),
    );
  });

  after(async () => {
    await fixture?.dispose();
  });

  function eventSeen(match: (e: { peer: string; kind: string }) => boolean): Promise<void> {
    if (fixture.protocolEvents.some(match)) return Promise.resolve();
    return new Promise((resolve) => {
      const check = (e: { peer: string; kind: string }): void => {
        if (!match(e)) return;
        fixture.coordinator.events.off('protocol', check);
        resolve();
      };
      fixture.coordinator.events.on('protocol', check);
    });
  }

  /** The peer is refused with `code`, its connection closes, and the refusal is recorded. */
  async function refused(peer: RawPeer, code: string): Promise<void> {
    assert.equal(await peer.refusal, code);
    await peer.disconnected;
    assert.ok(
      fixture.protocolEvents.some(
        (e) => e.direction === 'out' && e.kind === SOCKET_EVENTS.refuse && e.code === code,
      ),
      `no refusal with ${code} was recorded`,
    );
  }

  async function connect(): Promise<RawPeer> {
    return RawPeer.connect(fixture.coordinator.url, sodium);
  }

  /** A session established with a genuine key, past the welcome. */
  async function session(
    site = 'site-4',
  ): Promise<{ peer: RawPeer; welcome: RunWelcome; sealRequest: () => Uint8Array }> {
    const peer = await connect();
    const established = await peer.handshake(keys[site]!, coordinatorKey);
    assert.ok(typeof established !== 'string', `handshake refused: ${String(established)}`);
    const welcome = await peer.nextOf('run.welcome');
    // A valid frame (a request for the transfer set's first chunk) to replay, reorder or alter.
    const sealRequest = (): Uint8Array =>
      peer.seal({ type: 'blob.request', hash: welcome.teacher.blob.hash, from: 0, count: 1 });
    return { peer, welcome, sealRequest };
  }

  describe('during the handshake', () => {
    it('an initiation of the wrong length: handshake.malformed', async () => {
      const peer = await connect();
      peer.socket.emit(SOCKET_EVENTS.initiation, new Uint8Array(5));
      await refused(peer, 'handshake.malformed');
    });

    it('an initiation that is text, not bytes: handshake.malformed', async () => {
      const peer = await connect();
      peer.socket.emit(SOCKET_EVENTS.initiation, 'hello');
      await refused(peer, 'handshake.malformed');
    });

    it('a downgrade to protocol version 0: handshake.version_mismatch', async () => {
      const peer = await connect();
      const initiation = new Uint8Array(34);
      initiation.set(sodium.crypto_kx_keypair().publicKey, 2);
      peer.socket.emit(SOCKET_EVENTS.initiation, initiation);
      await refused(peer, 'handshake.version_mismatch');
    });

    it('a low-order ephemeral key: handshake.bad_ephemeral', async () => {
      const peer = await connect();
      const initiation = new Uint8Array(34);
      initiation[1] = 1;
      peer.socket.emit(SOCKET_EVENTS.initiation, initiation);
      await refused(peer, 'handshake.bad_ephemeral');
    });

    it('a finish before any initiation: handshake.unexpected_step', async () => {
      const peer = await connect();
      peer.socket.emit(SOCKET_EVENTS.finish, new Uint8Array(144));
      await refused(peer, 'handshake.unexpected_step');
    });

    it('a frame before the handshake: handshake.unexpected_step', async () => {
      const peer = await connect();
      peer.socket.emit(SOCKET_EVENTS.frame, new Uint8Array(64));
      await refused(peer, 'handshake.unexpected_step');
    });

    it('a tampered finish: handshake.decrypt_failed', async () => {
      const peer = await connect();
      const outcome = await peer.handshake(keys['site-4']!, coordinatorKey, {
        finish: (finish) => {
          const altered = Uint8Array.from(finish);
          altered[20]! ^= 0x80;
          return altered;
        },
      });
      assert.equal(outcome, 'handshake.decrypt_failed');
      await refused(peer, 'handshake.decrypt_failed');
    });

    it('a key that is not enrolled: handshake.unknown_site', async () => {
      const peer = await connect();
      assert.equal(
        await peer.handshake(sodium.crypto_sign_keypair(), coordinatorKey),
        'handshake.unknown_site',
      );
      await refused(peer, 'handshake.unknown_site');
    });

    it("a site claiming another site's identity: handshake.bad_signature", async () => {
      const peer = await connect();
      const impostor = {
        publicKey: keys['site-1']!.publicKey,
        privateKey: sodium.crypto_sign_keypair().privateKey,
      };
      assert.equal(await peer.handshake(impostor, coordinatorKey), 'handshake.bad_signature');
      await refused(peer, 'handshake.bad_signature');
    });

    it('a second session for a site that is connected: session.duplicate', async () => {
      const peer = await connect();
      assert.equal(await peer.handshake(keys['site-1']!, coordinatorKey), 'session.duplicate');
      await refused(peer, 'session.duplicate');
    });

    it('a handshake that never finishes: handshake.timeout', async () => {
      const peer = await connect();
      await refused(peer, 'handshake.timeout');
    });

    it('a site that pins another coordinator key refuses the coordinator itself', async () => {
      const config = await fixture.siteConfig('site-4');
      const wrongPin = Buffer.from(sodium.crypto_sign_keypair().publicKey).toString('base64');
      await assert.rejects(
        runSite({ ...config, coordinator: { ...config.coordinator, publicKey: wrongPin } }),
        (error: unknown) =>
          error instanceof FedistillError && error.code === 'handshake.bad_server_identity',
      );
    });
  });

  describe('in an established session', () => {
    it('a stream header of the wrong length: frame.malformed', async () => {
      const peer = await connect();
      const outcome = await peer.handshake(keys['site-4']!, coordinatorKey, {
        header: new Uint8Array(23),
      });
      assert.equal(outcome, 'frame.malformed');
      await refused(peer, 'frame.malformed');
    });

    it('a replayed frame: frame.replay', async () => {
      const { peer, sealRequest } = await session();
      const frame = sealRequest();
      peer.emitFrame(frame);
      await peer.nextOf('blob.chunk');
      peer.emitFrame(frame);
      await refused(peer, 'frame.replay');
    });

    it('frames out of order: frame.out_of_order', async () => {
      const { peer, sealRequest } = await session();
      sealRequest(); // frame 0, never sent
      peer.emitFrame(sealRequest());
      await refused(peer, 'frame.out_of_order');
    });

    it('a modified frame: frame.auth_failed', async () => {
      const { peer, sealRequest } = await session();
      const frame = sealRequest();
      frame[frame.length - 3]! ^= 0x01;
      peer.emitFrame(frame);
      await refused(peer, 'frame.auth_failed');
    });

    it('a frame from another session: frame.auth_failed', async () => {
      const other = await session('site-3');
      const stolen = other.sealRequest();
      other.peer.close();
      const { peer } = await session();
      peer.emitFrame(stolen);
      await refused(peer, 'frame.auth_failed');
    });

    it('a frame over the size limit: frame.too_large', async () => {
      const { peer } = await session();
      peer.emitFrame(new Uint8Array(MAX_FRAME_BYTES + 1024));
      await refused(peer, 'frame.too_large');
    });

    it('a frame that is not MessagePack: schema.malformed', async () => {
      const { peer } = await session();
      peer.emitFrame(peer.sealRaw(new Uint8Array([0xc1]), false));
      await refused(peer, 'schema.malformed');
    });

    it('an unknown message type: schema.unknown_type', async () => {
      const { peer } = await session();
      peer.send({ type: 'round.start', runId: 'x' });
      await refused(peer, 'schema.unknown_type');
    });

    it('fields of the wrong type: schema.invalid', async () => {
      const { peer } = await session();
      peer.send({ type: 'site.ready', transferHash: 'not bytes', backend: 7 });
      await refused(peer, 'schema.invalid');
    });

    it('a missing field: schema.invalid', async () => {
      const { peer, welcome } = await session();
      peer.send({ type: 'blob.request', hash: welcome.teacher.blob.hash, from: 0 });
      await refused(peer, 'schema.invalid');
    });

    it('a message larger than its type allows: schema.too_large', async () => {
      const { peer, welcome } = await session();
      peer.send({
        type: 'site.ready',
        transferHash: welcome.teacher.blob.hash,
        backend: 'x'.repeat(400),
      });
      await refused(peer, 'schema.too_large');
    });

    it('the final tag on a message that does not end a session: frame.final_mismatch', async () => {
      const { peer, welcome } = await session();
      const message = {
        type: 'site.ready',
        transferHash: welcome.teacher.blob.hash,
        backend: 'wasm',
      };
      peer.emitFrame(peer.sealRaw(encodeMessage(message as never), true));
      await refused(peer, 'frame.final_mismatch');
    });

    it('site.leave without the final tag: frame.final_mismatch', async () => {
      const { peer } = await session();
      peer.emitFrame(
        peer.sealRaw(encodeMessage({ type: 'site.leave', reason: 'run.complete' }), false),
      );
      await refused(peer, 'frame.final_mismatch');
    });

    it('a request for a blob that is not offered: blob.unknown', async () => {
      const { peer } = await session();
      peer.send({ type: 'blob.request', hash: new Uint8Array(32), from: 0, count: 1 });
      await refused(peer, 'blob.unknown');
    });

    it('a request past the end of a blob: blob.bad_range', async () => {
      const { peer, welcome } = await session();
      peer.send({ type: 'blob.request', hash: welcome.teacher.blob.hash, from: 5, count: 1 });
      await refused(peer, 'blob.bad_range');
    });

    it('a chunk nobody asked for: blob.unrequested', async () => {
      const { peer } = await session();
      peer.send({
        type: 'blob.chunk',
        hash: new Uint8Array(32),
        index: 0,
        data: new Uint8Array(4),
      });
      await refused(peer, 'blob.unrequested');
    });

    it('ready with another transfer set: blob.hash_mismatch', async () => {
      const { peer } = await session();
      peer.send({ type: 'site.ready', transferHash: new Uint8Array(32), backend: 'wasm' });
      await refused(peer, 'blob.hash_mismatch');
    });

    it('an update when no round is open: update.stale_round', async () => {
      const { peer, welcome } = await session();
      peer.send(
        updateMessage(welcome, 1, 0, new BlobOutbox(sodium).offer(new Uint8Array(8), 1024)),
      );
      await refused(peer, 'update.stale_round');
    });

    it('a stream cut without the final frame is recorded as frame.truncated', async () => {
      const { peer } = await session();
      peer.close();
      await eventSeen(
        (e) =>
          e.kind === SOCKET_EVENTS.frame && (e as { code?: string }).code === 'frame.truncated',
      );
    });
  });

  function updateMessage(
    welcome: RunWelcome,
    round: number,
    baseVersion: number,
    delta: ReturnType<BlobOutbox['offer']>,
  ) {
    return {
      type: 'round.update' as const,
      runId: welcome.runId,
      round,
      baseVersion,
      numExamples: 1,
      delta,
    };
  }

  function zeroDelta(welcome: RunWelcome): NamedTensor[] {
    return weightLayout(welcome.student).map((slot) => ({
      name: slot.name,
      shape: slot.shape,
      values: new Float32Array(slot.shape.reduce((a, b) => a * b, 1)),
    }));
  }

  /** site-3 joins as a participant: fetches the transfer set, says ready, waits for a round. */
  async function participate(): Promise<{
    peer: RawPeer;
    welcome: RunWelcome;
    start: RoundStart;
    outbox: BlobOutbox;
  }> {
    const { peer, welcome } = await session('site-3');
    const blob = welcome.teacher.blob;
    peer.send({ type: 'blob.request', hash: blob.hash, from: 0, count: blob.chunkHashes.length });
    for (let i = 0; i < blob.chunkHashes.length; i++) await peer.nextOf('blob.chunk');
    peer.send({ type: 'site.ready', transferHash: blob.hash, backend: 'hand' });
    const start = await peer.nextOf('round.start');
    return { peer, welcome, start, outbox: new BlobOutbox(sodium) };
  }

  /** Answers the coordinator's pulls of this peer's update, optionally corrupting each chunk. */
  function serve(peer: RawPeer, outbox: BlobOutbox, corrupt = false): void {
    void (async () => {
      for (;;) {
        const request = await peer.nextOf('blob.request');
        const planned = unwrap(outbox.plan(request.hash, request.from, request.count));
        for (const index of planned) {
          const data = Uint8Array.from(outbox.chunk(request.hash, index)!);
          if (corrupt) data[0]! ^= 0xff;
          peer.send({ type: 'blob.chunk', hash: request.hash, index, data });
        }
      }
    })().catch(() => undefined);
  }

  describe('inside a round (each case uses one attempt of a round)', () => {
    type Participant = Awaited<ReturnType<typeof participate>>;

    /** Offers `bytes` as this participant's update and announces it; `round` defaults to now. */
    function announce(
      p: Participant,
      bytes: Uint8Array,
      round = p.start.round,
    ): ReturnType<BlobOutbox['offer']> {
      const manifest = p.outbox.offer(bytes, 64 * 1024);
      p.peer.send(updateMessage(p.welcome, round, p.start.modelVersion, manifest));
      return manifest;
    }

    const zeroBytes = (p: Participant): Uint8Array =>
      unwrap(encodeTensorBlob(zeroDelta(p.welcome), 'float32'));

    it('NaN in an update: update.non_finite; an update from outside the round: update.not_participant', async () => {
      const p = await participate();
      const outsider = await session('site-4');
      outsider.peer.send(
        updateMessage(
          p.welcome,
          p.start.round,
          p.start.modelVersion,
          p.outbox.offer(new Uint8Array(8), 1024),
        ),
      );
      await refused(outsider.peer, 'update.not_participant');
      // Written into the float32 bytes by hand: the codec itself refuses to encode NaN.
      const nanBytes = zeroBytes(p);
      new DataView(nanBytes.buffer).setFloat32(findFloat(nanBytes, 0), NaN, true);
      serve(p.peer, p.outbox);
      announce(p, nanBytes);
      await refused(p.peer, 'update.non_finite');
    });

    it('tensors of the wrong shape: update.shape_mismatch', async () => {
      const p = await participate();
      serve(p.peer, p.outbox);
      announce(p, unwrap(encodeTensorBlob(zeroDelta(p.welcome).slice(1), 'float32')));
      await refused(p.peer, 'update.shape_mismatch');
    });

    it('a duplicate update: update.duplicate, and neither is applied', async () => {
      const p = await participate();
      const manifest = announce(p, zeroBytes(p));
      p.peer.send(updateMessage(p.welcome, p.start.round, p.start.modelVersion, manifest));
      await refused(p.peer, 'update.duplicate');
    });

    it('an update for a round not yet open: update.stale_round', async () => {
      const p = await participate();
      announce(p, zeroBytes(p), p.start.round + 1);
      await refused(p.peer, 'update.stale_round');
    });

    it('an update blob far larger than the model: blob.too_large', async () => {
      const p = await participate();
      announce(p, new Uint8Array(200_000));
      await refused(p.peer, 'blob.too_large');
    });

    it('a corrupted update chunk: blob.hash_mismatch', async () => {
      const p = await participate();
      serve(p.peer, p.outbox, true);
      announce(p, zeroBytes(p));
      await refused(p.peer, 'blob.hash_mismatch');
    });

    it('an update blob that is not a tensor list: schema.malformed', async () => {
      const p = await participate();
      serve(p.peer, p.outbox);
      announce(p, new Uint8Array([0xc1]));
      await refused(p.peer, 'schema.malformed');
    });

    it('a straggler: an update for a round already closed is rejected (update.stale_round), not applied, and the session goes on', async () => {
      const p = await participate();
      serve(p.peer, p.outbox);
      announce(p, zeroBytes(p));
      await p.peer.nextOf('update.accepted');
      const next = await p.peer.nextOf('round.start');
      assert.equal(next.round, p.start.round + 1);
      announce(p, new Uint8Array(16), p.start.round);
      const rejected = await p.peer.nextOf('update.rejected');
      assert.deepEqual([rejected.round, rejected.code], [p.start.round, 'update.stale_round']);
      assert.ok(p.peer.socket.connected, 'a late update is not a protocol violation');
      p.peer.close();
    });
  });

  describe('afterwards', () => {
    let report: RunReport;
    let sites: SiteRunSummary[];

    before(async () => {
      const last = runSite(await fixture.siteConfig('site-3'));
      [sites, report] = await Promise.all([honest, fixture.coordinator.finished, last]);
    });

    it('the honest sites were served throughout: every round completed', () => {
      // Round 1 took 8 attempts (7 attacks, then site-3 honest) and round 2 took 2 (the
      // straggler left): 10 rounds and 8 failed attempts, all trained by the honest sites.
      assert.deepEqual(
        sites.map((s) => s.roundsTrained),
        [ROUNDS + 8, ROUNDS + 8],
      );
      assert.equal(report.per_round.length, ROUNDS);
    });

    it('nothing of a refused update was applied: every attacked attempt failed its quorum', () => {
      assert.deepEqual(failures, [1, 1, 1, 1, 1, 1, 1, 2]);
      assert.deepEqual(
        report.per_round.map((r) => r.participants),
        Array.from({ length: ROUNDS }, () => 3),
      );
      assert.ok(report.per_round.every((r) => Number.isFinite(r.student_accuracy)));
      assert.ok(report.student_accuracy > report.majority_class_rate, `${report.student_accuracy}`);
    });
  });
});

/** Byte offset of the first float32 value of tensor `index` in an encoded float32 tensor blob. */
function findFloat(blob: Uint8Array, index: number): number {
  // MessagePack bin 8/16/32 markers precede each tensor's data; the first bin is tensor 0's data.
  let seen = -1;
  for (let i = 0; i < blob.length; i++) {
    if (blob[i] === 0xc4 || blob[i] === 0xc5 || blob[i] === 0xc6) {
      seen++;
      if (seen === index) return i + (blob[i] === 0xc4 ? 2 : blob[i] === 0xc5 ? 3 : 5);
    }
  }
  throw new Error('no binary field found');
}
