import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { loadSodium } from '../../protocol/index.js';
import { VECTOR_KINDS } from './vector-kinds.js';

/**
 * Writes every file of protocol/vectors/ from its fixed inputs. Run once per protocol version:
 *   npm run build && node dist/tests/support/write-vectors.js
 * Deterministic, except the two values libsodium draws at random by design (the handshake
 * vector's secretstream header, the share box nonce): a recorded handshake frame that still
 * opens is kept.
 */
const sodium = await loadSodium();
for (const kind of Object.values(VECTOR_KINDS)) {
  const target = fileURLToPath(new URL(`../../../protocol/vectors/${kind.file}`, import.meta.url));
  const previous = await readFile(target, 'utf8').then(
    (text) => JSON.parse(text) as Record<string, unknown>,
    () => undefined,
  );
  await writeFile(target, JSON.stringify(kind.build(sodium, previous), null, 2) + '\n');
  console.log(`wrote ${target}`);
}
