import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseCoordinatorConfig } from '../../coordinator/config/coordinator-config.js';
import { readTextSplits } from '../../coordinator/config/read-text-splits.js';
import { modelSpecOf, studentSpecOf, teacherAt } from '../../coordinator/runs/run-spec.js';
import { FedistillError } from '../../protocol/index.js';
import { trainTokenizer } from '../../protocol/text/tokenizer.js';

const base = {
  identityFile: 'id.json',
  allowListFile: 'allow.json',
  cacheDir: 'cache',
  reportFile: 'report.json',
};
const data = { name: 'mail', classes: 2, publicSplit: 'public.csv', heldOut: 'held-out.jsonl' };

function refusal(act: () => unknown): FedistillError {
  try {
    act();
  } catch (error) {
    assert.ok(error instanceof FedistillError);
    return error;
  }
  assert.fail('expected a refusal');
}

describe('a coordinator config over text', () => {
  it('takes data.text with its defaults, and refuses standardized token ids', () => {
    const config = parseCoordinatorConfig(
      { ...base, data: { ...data, normalize: 'none', text: {} } },
      '/cfg',
    );
    assert.deepEqual(config.data.text, { column: 'text', length: 128, vocabulary: 4000 });
    const standardized = refusal(() =>
      parseCoordinatorConfig({ ...base, data: { ...data, text: {} } }, '/cfg'),
    );
    assert.match(standardized.message, /data\.normalize: text data needs normalize "none"/);
  });

  it('resolves a supplied tokenizer file against the config folder', () => {
    const config = parseCoordinatorConfig(
      { ...base, data: { ...data, normalize: 'none', text: { tokenizerFile: 'tok.json' } } },
      '/cfg',
    );
    assert.equal(config.data.text?.tokenizerFile, path.resolve('/cfg', 'tok.json'));
  });

  it('builds text models only over text, and needs one there', () => {
    const bag = { kind: 'bag' as const, embedding: 8, hidden: [] };
    const overText = { inputs: 64, classes: 2, vocabulary: 500 };
    const student = studentSpecOf({ studentHidden: [8], studentText: bag }, overText);
    assert.ok(student.ok);
    assert.deepEqual(student.value, { ...bag, inputs: 64, vocabulary: 500, classes: 2 });
    const mlpOverText = studentSpecOf({ studentHidden: [8] }, overText);
    assert.ok(!mlpOverText.ok);
    assert.deepEqual(mlpOverText.error.path, ['studentText']);
    const teacherOverRows = modelSpecOf(
      { hidden: [], text: bag },
      { inputs: 30, classes: 2 },
      teacherAt,
    );
    assert.ok(!teacherOverRows.ok);
    assert.deepEqual(teacherOverRows.error.path, ['teacher', 'text']);
    assert.match(teacherOverRows.error.message, /a text model needs text data/);
  });

  it('reads the splits as token ids with a supplied tokenizer, naming a held-out label out of range', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fedistill-text-splits-'));
    const tokenizerFile = path.join(dir, 'tokenizer.json');
    await writeFile(tokenizerFile, await trainTokenizer(['spam spam eggs', 'ham and eggs'], 100));
    await writeFile(path.join(dir, 'public.csv'), 'text,label\n"spam, eggs",1\nham,0\n');
    await writeFile(path.join(dir, 'held-out.jsonl'), '{"text":"eggs","label":0}\n');
    const config = parseCoordinatorConfig(
      { ...base, data: { ...data, normalize: 'none', text: { length: 3, tokenizerFile } } },
      dir,
    );
    const splits = await readTextSplits({ ...config.data, text: config.data.text! });
    assert.deepEqual(splits.publicSplit.featureNames, ['token_0', 'token_1', 'token_2']);
    assert.equal(splits.publicSplit.rows, 2);
    assert.deepEqual([...splits.publicLabels!], [1, 0]);
    // "spam, eggs" is three tokens: spam , eggs; "ham" one, then padding.
    assert.equal(splits.publicSplit.inputs[2] !== 0, true);
    assert.deepEqual([...splits.publicSplit.inputs.slice(4, 6)], [0, 0]);
    assert.equal(splits.heldOut.rows, 1);
    await writeFile(path.join(dir, 'held-out.jsonl'), '{"text":"eggs","label":2}\n');
    await assert.rejects(readTextSplits({ ...config.data, text: config.data.text! }), {
      message: /held-out split .*held-out\.jsonl: row 1 has label 2, the run has classes 0\.\.1/,
    });
  });
});
