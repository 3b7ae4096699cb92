import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadSodium, toHex, type Sodium } from '../../protocol/index.js';
import { survivorSetVector } from '../support/secagg-vector.js';
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

const fromHex = (hex: string) => Uint8Array.from(Buffer.from(hex, 'hex'));

describe('SecAgg+ signed survivor set vector', () => {
  const file = fileURLToPath(
    new URL('../../../protocol/vectors/secagg-survivors-v1.json', import.meta.url),
  );

  it('the recorded digest, signed bytes and signatures are what the code derives', async () => {
    const sodium = await loadSodium();
    const recorded = JSON.parse(await readFile(file, 'utf8')) as unknown;
    assert.deepEqual(survivorSetVector(sodium), recorded);
  });

  it('each recorded signature verifies under its identity key, and not on other bytes', async () => {
    const sodium = await loadSodium();
    const vector = survivorSetVector(sodium);
    const signed = fromHex(vector.signedBytes);
    for (const { site, signature } of vector.signatures) {
      const key = fromHex(
        vector.inputs.participants.find((p) => p.site === site)!.identityPublicKey,
      );
      assert.ok(sodium.crypto_sign_verify_detached(fromHex(signature), signed, key));
      const other = Uint8Array.from(signed);
      other[other.length - 1]! ^= 1;
      assert.ok(!sodium.crypto_sign_verify_detached(fromHex(signature), other, key));
    }
  });
});
