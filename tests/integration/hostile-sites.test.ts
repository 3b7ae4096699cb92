import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { runSite, type SiteRunSummary } from '../../client/site-client.js';
import {
  decodeKey,
  FedistillError,
  identityFileSchema,
  identityKeyPair,
  loadSodium,
  SOCKET_EVENTS,
  type IdentityKeyPair,
  type Sodium,
} from '../../protocol/index.js';
import { RawPeer } from '../support/raw-peer.js';
import { startRunFixture, type RunFixture } from '../support/run-fixture.js';

/**
 * Three sites are enrolled and the run needs two. site-1 joins honestly and waits while an
 * attacker tries every failure; then site-2 joins and the run must still complete for both.
 */
describe('hostile input at the coordinator', () => {
  let sodium: Sodium;
  let fixture: RunFixture;
  let coordinatorKey: Uint8Array;
  let site3: IdentityKeyPair;
  let honestSite1: Promise<SiteRunSummary>;

  before(async () => {
    sodium = await loadSodium();
    fixture = await startRunFixture({
      sites: 3,
      rounds: 1,
      adjust: (config) => ({ ...config, run: { ...config.run, minSites: 2 } }),
    });
    coordinatorKey = decodeKey(fixture.workspace.keys.coordinatorPublicKey);
    const file = JSON.parse(
      await readFile(fixture.workspace.keys.siteIdentities['site-3']!, 'utf8'),
    ) as unknown;
    site3 = identityKeyPair(identityFileSchema.parse(file));
    honestSite1 = runSite(await fixture.siteConfig('site-1'));
    // Wait until site-1 holds the transfer set, so it is being served while the attacks run.
    await new Promise<void>((resolve) => {
      const check = (e: { peer: string; kind: string }) => {
        if (e.peer === 'site-1' && e.kind === 'site.ready') {
          fixture.coordinator.events.off('protocol', check);
          resolve();
        }
      };
      fixture.coordinator.events.on('protocol', check);
    });
  });

  after(async () => {
    await fixture?.dispose();
  });

  /** A session established with site-3's genuine key, past the welcome. */
  async function genuineSession() {
    const peer = await RawPeer.connect(fixture.coordinator.url);
    const session = await peer.handshake(sodium, site3, coordinatorKey);
    assert.ok(typeof session !== 'string', `handshake refused: ${String(session)}`);
    const welcome = await peer.nextMessage(session);
    assert.ok(welcome.type === 'run.welcome');
    /** A sealed request for the first chunk: a valid frame to replay or alter. */
    const request = () =>
      session.seal({
        type: 'blob.request',
        hash: welcome.transferSet.blob.hash,
        from: 0,
        count: 1,
      });
    return { peer, session, request };
  }

  const refusedWith = (code: string) =>
    fixture.protocolEvents.some(
      (e) => e.direction === 'out' && e.kind === SOCKET_EVENTS.refuse && e.code === code,
    );

  it('an unknown site key is refused with handshake.unknown_site', async () => {
    const peer = await RawPeer.connect(fixture.coordinator.url);
    const outcome = await peer.handshake(sodium, sodium.crypto_sign_keypair(), coordinatorKey);
    assert.equal(outcome, 'handshake.unknown_site');
    assert.equal(await peer.disconnected, 'io server disconnect');
    assert.ok(refusedWith('handshake.unknown_site'));
  });

  it('a site that pins another coordinator key refuses the coordinator', async () => {
    const config = await fixture.siteConfig('site-3');
    const wrongPin = {
      ...config,
      coordinator: {
        ...config.coordinator,
        publicKey: Buffer.from(sodium.crypto_sign_keypair().publicKey).toString('base64'),
      },
    };
    await assert.rejects(
      runSite(wrongPin),
      (error: unknown) =>
        error instanceof FedistillError && error.code === 'handshake.bad_server_identity',
    );
  });

  it('a tampered handshake message is refused with handshake.decrypt_failed', async () => {
    const peer = await RawPeer.connect(fixture.coordinator.url);
    const outcome = await peer.handshake(sodium, site3, coordinatorKey, (finish) => {
      const altered = Uint8Array.from(finish);
      altered[20]! ^= 0x80;
      return altered;
    });
    assert.equal(outcome, 'handshake.decrypt_failed');
    assert.equal(await peer.disconnected, 'io server disconnect');
  });

  it('a malformed handshake message is refused with handshake.malformed', async () => {
    const peer = await RawPeer.connect(fixture.coordinator.url);
    peer.socket.emit(SOCKET_EVENTS.initiation, new Uint8Array(5));
    assert.equal(await peer.refusal, 'handshake.malformed');
  });

  it('a replayed frame ends that session with frame.replay', async () => {
    const { peer, session, request } = await genuineSession();
    const frame = request();
    peer.socket.emit(SOCKET_EVENTS.frame, frame);
    const chunk = await peer.nextMessage(session);
    assert.equal(chunk.type, 'blob.chunk');
    peer.socket.emit(SOCKET_EVENTS.frame, frame);
    assert.equal(await peer.refusal, 'frame.replay');
    assert.equal(await peer.disconnected, 'io server disconnect');
  });

  it('a modified frame ends that session with frame.auth_failed', async () => {
    const { peer, request } = await genuineSession();
    const frame = request();
    frame[frame.length - 5]! ^= 0x01;
    peer.socket.emit(SOCKET_EVENTS.frame, frame);
    assert.equal(await peer.refusal, 'frame.auth_failed');
  });

  it('a frame that decrypts but breaks the schema ends that session with schema.invalid', async () => {
    const { peer, session } = await genuineSession();
    // A correctly encrypted frame whose content has the wrong field types.
    const bogus = session.seal({ type: 'site.ready', transferHash: 'x', backend: 1 } as never);
    peer.socket.emit(SOCKET_EVENTS.frame, bogus);
    assert.equal(await peer.refusal, 'schema.invalid');
  });

  it('the honest sites are still served: the run completes for site-1 and site-2', async () => {
    const [site1, site2, report] = await Promise.all([
      honestSite1,
      fixture.siteConfig('site-2').then((config) => runSite(config)),
      fixture.coordinator.finished,
    ]);
    assert.equal(site1.roundsTrained, 1);
    assert.equal(site2.roundsTrained, 1);
    assert.deepEqual(report.site_names, ['site-1', 'site-2']);
    assert.equal(report.per_round[0]!.participants, 2);
  });
});
