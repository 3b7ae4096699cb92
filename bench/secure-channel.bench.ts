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
import { recordResults, round } from './results.js';

/**
 * The secure channel's costs on this machine, with libsodium's own secretstream as the
 * reference in the same run: full handshakes per second, and encrypt-plus-decrypt throughput
 * of our frames against raw push+pull at the same sizes. Figures only, never pass/fail.
 */
const sodium = await loadSodium();
const coordinator = sodium.crypto_sign_keypair();
const site = sodium.crypto_sign_keypair();
const BYTES_PER_SIZE = 256 * 1024 * 1024;

function timeHandshakes(count: number): number {
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const initiator = new SiteHandshake(sodium, site, coordinator.publicKey);
    const responder = new CoordinatorHandshake(sodium, coordinator, () => ok('site'));
    const response = unwrap(responder.consumeInitiation(initiator.createInitiation()));
    unwrap(responder.consumeFinish(unwrap(initiator.consumeResponse(response)).finish));
  }
  return count / ((performance.now() - start) / 1000);
}

function channelMBps(size: number): number {
  const key = sodium.crypto_secretstream_xchacha20poly1305_keygen();
  const sender = new FrameSender(sodium, key);
  const receiver = unwrap(FrameReceiver.create(sodium, key, sender.header));
  const payload = sodium.randombytes_buf(size);
  const frames = BYTES_PER_SIZE / size;
  const start = performance.now();
  for (let i = 0; i < frames; i++) unwrap(receiver.open(sender.seal(payload)));
  return (frames * size) / ((performance.now() - start) / 1000) / 1e6;
}

function rawSecretstreamMBps(size: number): number {
  const key = sodium.crypto_secretstream_xchacha20poly1305_keygen();
  const { state, header } = sodium.crypto_secretstream_xchacha20poly1305_init_push(key);
  const pull = sodium.crypto_secretstream_xchacha20poly1305_init_pull(header, key);
  const payload = sodium.randombytes_buf(size);
  const tag = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
  const frames = BYTES_PER_SIZE / size;
  const start = performance.now();
  for (let i = 0; i < frames; i++) {
    const ciphertext = sodium.crypto_secretstream_xchacha20poly1305_push(state, payload, null, tag);
    if (sodium.crypto_secretstream_xchacha20poly1305_pull(pull, ciphertext, null) === false) {
      throw new Error('the reference stream failed to decrypt');
    }
  }
  return (frames * size) / ((performance.now() - start) / 1000) / 1e6;
}

const handshakes = timeHandshakes(500);
const figures: Record<string, number> = { handshakes_per_s: round(handshakes) };
console.log(
  `handshakes (both ends, 3 messages, 4 signatures checked or made): ${handshakes.toFixed(0)} per second`,
);
console.log('frame size | fedistill channel MB/s | raw secretstream MB/s | ratio');
for (const size of [64 * 1024, 1024 * 1024]) {
  // Warm both paths once so the first measurement does not pay for wasm tier-up.
  channelMBps(size);
  rawSecretstreamMBps(size);
  const ours = channelMBps(size);
  const raw = rawSecretstreamMBps(size);
  const kib = size / 1024;
  figures[`channel_${kib}kib_mb_per_s`] = round(ours);
  figures[`raw_secretstream_${kib}kib_mb_per_s`] = round(raw);
  figures[`channel_vs_raw_${kib}kib`] = round(ours / raw, 2);
  console.log(
    `${String(size / 1024).padStart(6)} KiB | ${ours.toFixed(0).padStart(22)} | ${raw.toFixed(0).padStart(21)} | ${(ours / raw).toFixed(2)}`,
  );
}
await recordResults('secure-channel', figures);
