import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadSodium, toHex, type Sodium } from '../../protocol/index.js';
import { openVectorFrame, runVectorHandshake, VECTOR_SEEDS } from '../support/vector-inputs.js';

const VECTOR = fileURLToPath(
  new URL('../../../protocol/vectors/handshake-v1.json', import.meta.url),
);

describe('protocol v1 test vectors', () => {
  let sodium: Sodium;
  let vector: Record<string, unknown> & {
    seeds: typeof VECTOR_SEEDS;
    firstFrame: { streamHeader: string; plaintext: string; frame: string };
  };

  before(async () => {
    sodium = await loadSodium();
    vector = JSON.parse(await readFile(VECTOR, 'utf8')) as typeof vector;
  });

  it('uses the seeds the vector names', () => {
    assert.deepEqual(vector.seeds, VECTOR_SEEDS);
  });

  it('fixed keys and ephemerals give the recorded messages, transcript hash and session keys', () => {
    const computed = runVectorHandshake(sodium);
    for (const [field, value] of Object.entries(computed)) {
      assert.equal(value, vector[field], field);
    }
  });

  it('the recorded first frame opens under the session key to the recorded message', () => {
    const message = openVectorFrame(
      sodium,
      vector.siteToCoordinatorKey as string,
      vector.firstFrame.streamHeader,
      vector.firstFrame.frame,
    );
    assert.equal(toHex(message), vector.firstFrame.plaintext);
  });

  it('the first frame does not open under the other direction key', () => {
    assert.throws(() =>
      openVectorFrame(
        sodium,
        vector.coordinatorToSiteKey as string,
        vector.firstFrame.streamHeader,
        vector.firstFrame.frame,
      ),
    );
  });
});
