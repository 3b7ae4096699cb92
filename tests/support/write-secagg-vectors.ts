import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { loadSodium } from '../../protocol/index.js';
import { survivorSetVector } from './secagg-vector.js';

/**
 * Writes protocol/vectors/secagg-survivors-v1.json. Run once per protocol version:
 *   npm run build && node dist/tests/support/write-secagg-vectors.js
 * Everything in it is deterministic (Ed25519 signatures included).
 */
const vector = survivorSetVector(await loadSodium());
const target = fileURLToPath(
  new URL('../../../protocol/vectors/secagg-survivors-v1.json', import.meta.url),
);
await writeFile(target, JSON.stringify(vector, null, 2) + '\n');
console.log(`wrote ${target}`);
