import { performance } from 'node:perf_hooks';
import {
  CoordinatorHandshake,
  FrameReceiver,
  FrameSender,
  loadSodium,
  ok,
  SiteHandshake,
  unwrap,
} from '../protocol/index.js';

/**
 * Prints the secure channel's costs on this machine: full handshakes per second, and frame
 * throughput (seal + open) at the sizes the protocol sends. Figures only, never pass/fail.
 */
const sodium = await loadSodium();
const coordinator = sodium.crypto_sign_keypair();
const site = sodium.crypto_sign_keypair();

const handshakes = 500;
let start = performance.now();
for (let i = 0; i < handshakes; i++) {
  const initiator = new SiteHandshake(sodium, site, coordinator.publicKey);
  const responder = new CoordinatorHandshake(sodium, coordinator, () => ok('site'));
  const response = unwrap(responder.consumeInitiation(initiator.createInitiation()));
  const finished = unwrap(initiator.consumeResponse(response));
  unwrap(responder.consumeFinish(finished.finish));
}
const perSecond = handshakes / ((performance.now() - start) / 1000);
console.log(`handshake (both ends, 3 messages): ${perSecond.toFixed(0)} per second`);

for (const size of [1024, 64 * 1024, 1024 * 1024, 4 * 1024 * 1024]) {
  const key = sodium.crypto_secretstream_xchacha20poly1305_keygen();
  const sender = new FrameSender(sodium, key);
  const receiver = unwrap(FrameReceiver.create(sodium, key, sender.header));
  const payload = sodium.randombytes_buf(size);
  const frames = Math.max(8, Math.round((64 * 1024 * 1024) / size));
  start = performance.now();
  for (let i = 0; i < frames; i++) unwrap(receiver.open(sender.seal(payload)));
  const seconds = (performance.now() - start) / 1000;
  const mbPerSecond = (frames * size) / seconds / 1e6;
  console.log(
    `frame ${String(size).padStart(8)} B: seal+open ${mbPerSecond.toFixed(0)} MB/s (${frames} frames)`,
  );
}
