import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { encodeMessage, FrameSender, loadSodium, toHex } from '../../protocol/index.js';
import { runVectorHandshake, VECTOR_SEEDS } from './vector-inputs.js';

/**
 * Writes protocol/vectors/handshake-v1.json. Run once per protocol version:
 *   npm run build && node dist/tests/support/write-vectors.js
 * The secretstream header is random by design (libsodium draws it), so the first frame is
 * recorded together with the header it was sealed under.
 */
const sodium = await loadSodium();
const handshake = runVectorHandshake(sodium);
const sender = new FrameSender(
  sodium,
  new Uint8Array(Buffer.from(handshake.siteToCoordinatorKey!, 'hex')),
);
const firstMessage = encodeMessage({
  type: 'site.ready',
  transferHash: new Uint8Array(32),
  backend: 'wasm',
});
const frame = sender.seal(firstMessage);
const vector = {
  description: 'fedistill protocol v1: SIGMA-I handshake on fixed seeds, and the first site frame',
  seeds: VECTOR_SEEDS,
  ...handshake,
  firstFrame: {
    direction: 'site to coordinator',
    streamHeader: toHex(sender.header),
    plaintext: toHex(firstMessage),
    frame: toHex(frame),
  },
};
const target = fileURLToPath(
  new URL('../../../protocol/vectors/handshake-v1.json', import.meta.url),
);
await writeFile(target, JSON.stringify(vector, null, 2) + '\n');
console.log(`wrote ${target}`);
