import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import {
  CoordinatorHandshake,
  FrameReceiver,
  FrameSender,
  HandshakeState,
  loadSodium,
  SiteHandshake,
  fail,
  ok,
  type IdentityKeyPair,
  type Result,
  type Sodium,
} from '../../protocol/index.js';

let sodium: Sodium;
let coordinator: IdentityKeyPair;
let site: IdentityKeyPair;

before(async () => {
  sodium = await loadSodium();
  coordinator = sodium.crypto_sign_keypair();
  site = sodium.crypto_sign_keypair();
});

const enrolled = (key: Uint8Array): Result<string> =>
  sodium.memcmp(key, site.publicKey)
    ? ok('site-1')
    : fail('handshake.unknown_site', 'not enrolled');

function flip(message: Uint8Array, index: number): Uint8Array {
  const copy = Uint8Array.from(message);
  copy[index]! ^= 0x01;
  return copy;
}

/** Runs initiation and response between a site and a coordinator; both steps must succeed. */
function respond(
  parties: { site?: IdentityKeyPair; coordinator?: IdentityKeyPair; pinned?: Uint8Array } = {},
) {
  const initiator = new SiteHandshake(
    sodium,
    parties.site ?? site,
    parties.pinned ?? coordinator.publicKey,
  );
  const responder = new CoordinatorHandshake(sodium, parties.coordinator ?? coordinator, enrolled);
  const response = responder.consumeInitiation(initiator.createInitiation());
  assert.ok(response.ok);
  return { initiator, responder, response: response.value };
}

/** As respond, then the site's check of the response, which must succeed. */
function finish(parties: { site?: IdentityKeyPair } = {}) {
  const { initiator, responder, response } = respond(parties);
  const finished = initiator.consumeResponse(response);
  assert.ok(finished.ok);
  return { initiator, responder, finished: finished.value };
}

describe('handshake', () => {
  it('with genuine keys both ends derive matching session keys and the same transcript', () => {
    const { initiator, responder, finished } = finish();
    const accepted = responder.consumeFinish(finished.finish);
    assert.ok(accepted.ok);
    assert.equal(accepted.value.siteName, 'site-1');
    assert.deepEqual(accepted.value.keys.receiveKey, finished.keys.sendKey);
    assert.deepEqual(accepted.value.keys.sendKey, finished.keys.receiveKey);
    assert.notDeepEqual(finished.keys.sendKey, finished.keys.receiveKey);
    assert.deepEqual(accepted.value.keys.transcriptHash, finished.keys.transcriptHash);
    assert.equal(initiator.currentState, HandshakeState.Established);
    assert.equal(responder.currentState, HandshakeState.Established);
  });

  it('two sessions with the same identities get different keys (fresh ephemerals)', () => {
    assert.notDeepEqual(finish().finished.keys.sendKey, finish().finished.keys.sendKey);
  });

  it('refuses a site key that is not on the allow-list', () => {
    const { responder, finished } = finish({ site: sodium.crypto_sign_keypair() });
    const accepted = responder.consumeFinish(finished.finish);
    assert.equal(!accepted.ok && accepted.error.code, 'handshake.unknown_site');
    assert.equal(responder.currentState, HandshakeState.Failed);
  });

  it('a site refuses a coordinator whose key is not the pinned one', () => {
    const { initiator, response } = respond({ coordinator: sodium.crypto_sign_keypair() });
    const finished = initiator.consumeResponse(response);
    assert.equal(!finished.ok && finished.error.code, 'handshake.bad_server_identity');
    assert.equal(initiator.currentState, HandshakeState.Failed);
  });

  it('a tampered response is refused by the site', () => {
    const { initiator, response } = respond();
    // Byte 40 lies in the encrypted identity block, after the 32-byte ephemeral key.
    const finished = initiator.consumeResponse(flip(response, 40));
    assert.equal(!finished.ok && finished.error.code, 'handshake.decrypt_failed');
  });

  it('a response whose ephemeral key was swapped is refused (it is bound into the transcript)', () => {
    const { initiator, response } = respond();
    const swapped = Uint8Array.from(response);
    swapped.set(sodium.crypto_kx_keypair().publicKey, 0);
    const finished = initiator.consumeResponse(swapped);
    assert.equal(!finished.ok && finished.error.code, 'handshake.decrypt_failed');
  });

  it('a tampered finish is refused by the coordinator', () => {
    const { responder, finished } = finish();
    const accepted = responder.consumeFinish(flip(finished.finish, 10));
    assert.equal(!accepted.ok && accepted.error.code, 'handshake.decrypt_failed');
  });

  it('a finish replayed into another session is refused', () => {
    const captured = finish().finished.finish;
    // An attacker replays a captured finish against a fresh coordinator session.
    const { responder } = respond();
    const accepted = responder.consumeFinish(captured);
    assert.equal(!accepted.ok && accepted.error.code, 'handshake.decrypt_failed');
  });

  it('refuses another protocol version and messages of the wrong length', () => {
    const initiation = new SiteHandshake(sodium, site, coordinator.publicKey).createInitiation();
    const wrongVersion = Uint8Array.from(initiation);
    wrongVersion[1] = 2;
    const fresh = () => new CoordinatorHandshake(sodium, coordinator, enrolled);
    const refused = fresh().consumeInitiation(wrongVersion);
    assert.equal(!refused.ok && refused.error.code, 'handshake.version_mismatch');
    const short = fresh().consumeInitiation(initiation.subarray(0, 33));
    assert.equal(!short.ok && short.error.code, 'handshake.malformed');
    const text = fresh().consumeInitiation('hello');
    assert.equal(!text.ok && text.error.code, 'handshake.malformed');
  });

  it('refuses a low-order ephemeral key', () => {
    const initiation = new SiteHandshake(sodium, site, coordinator.publicKey).createInitiation();
    const zeroKey = Uint8Array.from(initiation);
    zeroKey.fill(0, 2);
    const refused = new CoordinatorHandshake(sodium, coordinator, enrolled).consumeInitiation(
      zeroKey,
    );
    assert.equal(!refused.ok && refused.error.code, 'handshake.bad_ephemeral');
  });

  it('refuses a step out of order', () => {
    const responder = new CoordinatorHandshake(sodium, coordinator, enrolled);
    const early = responder.consumeFinish(new Uint8Array(144));
    assert.equal(!early.ok && early.error.code, 'handshake.unexpected_step');
  });
});

describe('frame stream', () => {
  function pair(): { sender: FrameSender; receiver: FrameReceiver } {
    const key = sodium.crypto_secretstream_xchacha20poly1305_keygen();
    const sender = new FrameSender(sodium, key);
    const receiver = FrameReceiver.create(sodium, key, sender.header);
    assert.ok(receiver.ok);
    return { sender, receiver: receiver.value };
  }

  it('delivers frames in order and marks the final one', () => {
    const { sender, receiver } = pair();
    const a = receiver.open(sender.seal(new Uint8Array([1, 2, 3])));
    const b = receiver.open(sender.seal(new Uint8Array([4]), true));
    assert.ok(a.ok && b.ok);
    assert.deepEqual([...a.value.message], [1, 2, 3]);
    assert.equal(a.value.final, false);
    assert.equal(b.value.final, true);
    const after = receiver.open(new Uint8Array(40));
    assert.equal(!after.ok && after.error.code, 'frame.after_final');
  });

  it('refuses a replayed frame', () => {
    const { sender, receiver } = pair();
    const frame = sender.seal(new Uint8Array([7]));
    assert.ok(receiver.open(frame).ok);
    const replay = receiver.open(frame);
    assert.equal(!replay.ok && replay.error.code, 'frame.replay');
  });

  it('refuses a modified frame, and a frame whose sequence number was rewritten', () => {
    const { sender, receiver } = pair();
    const frame = sender.seal(new Uint8Array([7, 7, 7]));
    const modified = receiver.open(flip(frame, frame.length - 1));
    assert.equal(!modified.ok && modified.error.code, 'frame.auth_failed');

    const second = pair();
    const skipped = second.sender.seal(new Uint8Array([1]));
    const next = second.sender.seal(new Uint8Array([2]));
    const relabelled = Uint8Array.from(next);
    relabelled[0] = 0; // claims to be frame 0, but was sealed as frame 1
    void skipped;
    const forged = second.receiver.open(relabelled);
    assert.equal(!forged.ok && forged.error.code, 'frame.auth_failed');
  });

  it('refuses a frame from the future (a dropped frame)', () => {
    const { sender, receiver } = pair();
    sender.seal(new Uint8Array([1]));
    const gap = receiver.open(sender.seal(new Uint8Array([2])));
    assert.equal(!gap.ok && gap.error.code, 'frame.out_of_order');
  });

  it('refuses a header of the wrong length', () => {
    const key = sodium.crypto_secretstream_xchacha20poly1305_keygen();
    const created = FrameReceiver.create(sodium, key, new Uint8Array(23));
    assert.equal(!created.ok && created.error.code, 'frame.malformed');
  });

  it('rekeys after the configured amount of plaintext, and both ends stay in step', () => {
    const key = sodium.crypto_secretstream_xchacha20poly1305_keygen();
    const sender = new FrameSender(sodium, key, 100);
    const receiverResult = FrameReceiver.create(sodium, key, sender.header);
    assert.ok(receiverResult.ok);
    const receiver: FrameReceiver = receiverResult.value;
    const rekeyed: boolean[] = [];
    for (let i = 0; i < 6; i++) {
      const opened = receiver.open(sender.seal(new Uint8Array(40).fill(i)));
      assert.ok(opened.ok);
      assert.equal(opened.value.message[0], i);
      rekeyed.push(opened.value.rekeyed);
    }
    // 40, 80, 120 (rekey), 40, 80, 120 (rekey)
    assert.deepEqual(rekeyed, [false, false, true, false, false, true]);
  });
});
