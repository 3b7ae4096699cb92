import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { BlobAssembler, BlobOutbox, loadSodium, type Sodium } from '../../protocol/index.js';

let sodium: Sodium;
before(async () => {
  sodium = await loadSodium();
});

describe('blob transfer', () => {
  const bytes = Uint8Array.from({ length: 20_000 }, (_, i) => (i * 31) % 251);

  function serve(
    outbox: BlobOutbox,
    assembler: BlobAssembler,
    window: { from: number; count: number },
  ) {
    const planned = outbox.plan(assembler.manifest.hash, window.from, window.count);
    assert.ok(planned.ok);
    for (const index of planned.value) {
      const accepted = assembler.accept({
        hash: assembler.manifest.hash,
        index,
        data: outbox.chunk(assembler.manifest.hash, index)!,
      });
      assert.ok(accepted.ok);
    }
  }

  it('moves a blob in windows and verifies the whole', () => {
    const outbox = new BlobOutbox(sodium);
    const manifest = outbox.offer(bytes, 1024);
    assert.equal(manifest.chunkHashes.length, 20);
    const assembler = new BlobAssembler(sodium, manifest);
    const windows = [];
    for (
      let w = assembler.nextRequest();
      w;
      w = assembler.idle ? assembler.nextRequest() : undefined
    ) {
      windows.push(w);
      serve(outbox, assembler, w);
    }
    assert.deepEqual(windows, [
      { from: 0, count: 8 },
      { from: 8, count: 8 },
      { from: 16, count: 4 },
    ]);
    const whole = assembler.result();
    assert.ok(whole.ok);
    assert.deepEqual(whole.value, bytes);
  });

  it('resumes from the first missing chunk after a dropped session', () => {
    const outbox = new BlobOutbox(sodium);
    const assembler = new BlobAssembler(sodium, outbox.offer(bytes, 1024));
    serve(outbox, assembler, assembler.nextRequest()!); // chunks 0..7 arrive
    assembler.nextRequest(); // 8..15 asked for, then the connection drops
    assembler.forgetRequests();
    assert.deepEqual(assembler.nextRequest(), { from: 8, count: 8 });
  });

  it('refuses a chunk that was not asked for, or that does not match its hash', () => {
    const outbox = new BlobOutbox(sodium);
    const manifest = outbox.offer(bytes, 1024);
    const assembler = new BlobAssembler(sodium, manifest);
    const early = assembler.accept({
      hash: manifest.hash,
      index: 0,
      data: outbox.chunk(manifest.hash, 0)!,
    });
    assert.equal(!early.ok && early.error.code, 'blob.unrequested');
    assembler.nextRequest();
    const corrupt = Uint8Array.from(outbox.chunk(manifest.hash, 1)!);
    corrupt[3]! ^= 1;
    const bad = assembler.accept({ hash: manifest.hash, index: 1, data: corrupt });
    assert.equal(!bad.ok && bad.error.code, 'blob.hash_mismatch');
    const other = assembler.accept({ hash: new Uint8Array(32), index: 1, data: corrupt });
    assert.equal(!other.ok && other.error.code, 'blob.unknown');
  });

  it('refuses a request outside the blob or for a blob not offered', () => {
    const outbox = new BlobOutbox(sodium);
    const manifest = outbox.offer(bytes, 1024);
    const outside = outbox.plan(manifest.hash, 18, 4);
    assert.equal(!outside.ok && outside.error.code, 'blob.bad_range');
    outbox.withdraw(manifest.hash);
    const gone = outbox.plan(manifest.hash, 0, 1);
    assert.equal(!gone.ok && gone.error.code, 'blob.unknown');
  });
});
