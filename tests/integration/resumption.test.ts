import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import {
  BlobAssembler,
  decodeKey,
  decodeTeacherKnowledge,
  identityFileSchema,
  identityKeyPair,
  loadSodium,
  unwrap,
  type IdentityKeyPair,
  type Sodium,
} from '../../protocol/index.js';
import { RawPeer } from '../../harness/raw-peer.js';
import { startRunFixture, type RunFixture } from '../support/run-fixture.js';

describe('resuming a blob after a dropped connection', () => {
  let sodium: Sodium;
  let fixture: RunFixture;
  let key: IdentityKeyPair;

  before(async () => {
    sodium = await loadSodium();
    // 1 KiB chunks: the 14.6 KB transfer set is 15 chunks.
    fixture = await startRunFixture({ sites: 1, rounds: 1, blobChunkBytes: 1024 });
    const file = fixture.workspace.keys.siteIdentities['site-1']!;
    key = identityKeyPair(identityFileSchema.parse(JSON.parse(await readFile(file, 'utf8'))));
  });

  after(async () => {
    await fixture?.dispose();
  });

  async function connect(): Promise<RawPeer> {
    const peer = await RawPeer.connect(fixture.coordinator.url, sodium);
    const session = await peer.handshake(
      key,
      decodeKey(fixture.workspace.keys.coordinatorPublicKey),
    );
    assert.ok(typeof session !== 'string', String(session));
    return peer;
  }

  it('a new session asks only for the chunks the site lacks, and the whole verifies', async () => {
    const first = await connect();
    const welcome = await first.nextOf('run.welcome');
    const assembler = new BlobAssembler(sodium, welcome.teacher.blob);
    const window = assembler.nextRequest()!;
    assert.deepEqual(window, { from: 0, count: 8 });
    first.send({ type: 'blob.request', hash: assembler.manifest.hash, ...window });
    for (let i = 0; i < 8; i++) assert.ok(assembler.accept(await first.nextOf('blob.chunk')).ok);
    first.send({
      type: 'blob.request',
      hash: assembler.manifest.hash,
      ...assembler.nextRequest()!,
    });
    first.close(); // the connection drops with chunks 8..14 asked for and not received
    await first.disconnected;

    const second = await connect();
    const again = await second.nextOf('run.welcome');
    assert.deepEqual(again.teacher.blob.hash, welcome.teacher.blob.hash);
    assembler.forgetRequests();
    const resume = assembler.nextRequest()!;
    assert.deepEqual(resume, { from: 8, count: 7 });
    second.send({ type: 'blob.request', hash: assembler.manifest.hash, ...resume });
    for (let i = 0; i < 7; i++) assert.ok(assembler.accept(await second.nextOf('blob.chunk')).ok);
    const whole = unwrap(assembler.result());
    const set = unwrap(decodeTeacherKnowledge(whole, again.teacher));
    assert.ok(set.mode === 'transfer-set' && again.teacher.mode === 'transfer-set');
    assert.equal(set.rows, again.teacher.rows);
    second.close();
  });
});
