import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadSodium, type Sodium } from '../../protocol/index.js';
import { VECTOR_KINDS } from '../support/vector-kinds.js';

/**
 * The conformance runner of PROTOCOL.md section 9: every file in protocol/vectors/ is checked
 * against the implementation by the checker its `kind` names; a file no checker knows fails.
 */
const DIR = fileURLToPath(new URL('../../../protocol/vectors/', import.meta.url));
const files = (await readdir(DIR)).filter((f) => !f.startsWith('.')).sort();

describe('protocol conformance: every vector file in protocol/vectors/', () => {
  let sodium: Sodium;
  before(async () => {
    sodium = await loadSodium();
  });

  it('holds a file for every kind the runner checks', () => {
    for (const kind of Object.values(VECTOR_KINDS)) assert.ok(files.includes(kind.file), kind.file);
  });

  for (const file of files) {
    it(file, async () => {
      const recorded = JSON.parse(await readFile(DIR + file, 'utf8')) as Record<string, unknown>;
      const kind = VECTOR_KINDS[String(recorded.kind)];
      assert.ok(kind, `${file}: no checker for kind ${String(recorded.kind)}`);
      assert.equal(kind.file, file, `${file} holds kind ${String(recorded.kind)}`);
      kind.check(sodium, recorded);
    });
  }
});
