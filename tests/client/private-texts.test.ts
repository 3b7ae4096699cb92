import assert from 'node:assert/strict';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import {
  dataSourceSchema,
  isTextSource,
  loadPrivateData,
  loadPrivateTexts,
} from '../../client/data-sources/private-data.js';
import { encodePrivateTexts, splitPrivateTexts } from '../../client/data-sources/private-texts.js';
import { checkSite } from '../../client/site-check.js';
import { siteConfigSchema } from '../../client/site-config.js';
import { generateSiteKey } from '../../cli/keys.js';
import { trainTokenizer } from '../../protocol/text/tokenizer.js';

describe("a site's texts", () => {
  it('are a text source when a CSV or JSONL names its text column, or a folder', () => {
    const parse = (raw: unknown) => dataSourceSchema.parse(raw);
    assert.equal(isTextSource(parse({ kind: 'csv', path: 'a.csv', text: 'body' })), true);
    assert.equal(isTextSource(parse({ kind: 'csv', path: 'a.csv' })), false);
    assert.equal(isTextSource(parse({ kind: 'folder', path: 'mail' })), true);
    const both = dataSourceSchema.safeParse({
      kind: 'jsonl',
      path: 'a.jsonl',
      text: 'body',
      features: ['x'],
    });
    assert.ok(!both.success);
    assert.deepEqual(both.error.issues[0]!.path, ['features']);
  });

  it('load with field-named errors, and a numeric run refuses them', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fedistill-site-texts-'));
    const file = path.join(dir, 'mail.jsonl');
    await writeFile(file, '{"body":"win a prize","label":1}\n{"body":"lunch?","label":"ham"}\n');
    const source = dataSourceSchema.parse({ kind: 'jsonl', path: file, text: 'body' });
    const texts = await loadPrivateTexts(source);
    assert.ok(!texts.ok);
    assert.equal(texts.error.message, `${file}: line 2, field label: "ham" is not a class number`);
    const numeric = await loadPrivateData(source);
    assert.ok(!numeric.ok);
    assert.match(numeric.error.message, /holds texts: only a run over text reads it/);
  });

  it('split as rows do, then become token-id rows with the run tokenizer', async () => {
    const texts = ['free money now', 'meeting at noon', 'free prize', 'noon lunch', 'money money'];
    const split = splitPrivateTexts({ texts, labels: Int32Array.from([1, 0, 1, 0, 1]) }, 0.4, 3);
    assert.equal(split.train.texts.length, 3);
    assert.equal(split.validation!.texts.length, 2);
    // Every text lands once, with its own label.
    const all = [...split.train.texts, ...split.validation!.texts].sort();
    assert.deepEqual(all, [...texts].sort());
    const labelOf = (t: string) => (t.includes('free') || t.includes('money') ? 1 : 0);
    split.train.texts.forEach((t, i) => assert.equal(split.train.labels[i], labelOf(t)));
    const rows = await encodePrivateTexts(split, await trainTokenizer(texts, 200), 4);
    assert.deepEqual(rows.train.featureNames, ['token_0', 'token_1', 'token_2', 'token_3']);
    assert.equal(rows.train.inputs.length, 3 * 4);
    assert.deepEqual(rows.train.labels, split.train.labels);
    // With 200 ids every word of these texts is one token: a fourth position is padding.
    for (let r = 0; r < 3; r++) assert.equal(rows.train.inputs[r * 4 + 3], 0);
  });

  it('are what fedistill site check summarises for a folder: rows, the split and the labels', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fedistill-site-check-'));
    const { identity } = await generateSiteKey(dir, 'bank-9');
    const texts = path.join(dir, 'mail');
    for (const [label, count] of [
      [0, 7],
      [1, 3],
    ] as const) {
      await mkdir(path.join(texts, String(label)), { recursive: true });
      for (let i = 0; i < count; i++) {
        await writeFile(path.join(texts, String(label), `${i}.txt`), `mail ${label} number ${i}`);
      }
    }
    const config = siteConfigSchema.parse({
      coordinator: { url: 'http://127.0.0.1:1', publicKey: `${'A'.repeat(43)}=` },
      identityFile: identity,
      data: { kind: 'folder', path: texts },
      validationFraction: 0.2,
      cacheDir: path.join(dir, 'cache'),
    });
    const checked = await checkSite(config);
    assert.ok(checked.ok, checked.ok ? '' : checked.error.message);
    assert.equal(checked.value.site, 'bank-9');
    assert.equal(checked.value.rows, 10);
    assert.equal(checked.value.trainingRows, 8);
    assert.equal(checked.value.validationRows, 2);
    assert.deepEqual(checked.value.columns, ['text (files)']);
    assert.deepEqual(
      [...checked.value.labels],
      [
        [0, 7],
        [1, 3],
      ],
    );
  });
});
