import assert from 'node:assert/strict';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseTextCsv, parseTextJsonl, readTextFolder } from '../../../protocol/text/text-table.js';

const labelled = { text: 'body', label: 'label', source: 'mail.csv' };
const unlabelled = { text: 'body', label: null, source: 'public.csv' };

describe('text tables', () => {
  it('reads quoted CSV cells holding commas, quotes and line breaks', () => {
    const csv = 'body,label\n"Dear sir, buy ""now""",1\n"line one\nline two",0\nplain,0\n';
    const table = parseTextCsv(csv, labelled);
    assert.ok(table.ok);
    assert.deepEqual(table.value.texts, ['Dear sir, buy "now"', 'line one\nline two', 'plain']);
    assert.deepEqual([...table.value.labels!], [1, 0, 0]);
  });

  it('names the line and field of a bad CSV row (counting the lines a quoted cell spans)', () => {
    const bad = parseTextCsv('body,label\n"a\nb",0\nhello,spam\n', labelled);
    assert.ok(!bad.ok);
    assert.equal(bad.error.message, 'mail.csv: line 4, field label: "spam" is not a class number');
    const empty = parseTextCsv('body,label\n"  ",1\n', labelled);
    assert.ok(!empty.ok);
    assert.match(empty.error.message, /line 2, field body: " {2}" is not a non-empty text/);
    const unclosed = parseTextCsv('body,label\n"open,1\n', labelled);
    assert.ok(!unclosed.ok);
    assert.match(unclosed.error.message, /^mail\.csv: line 2: Quote Not Closed/);
  });

  it('refuses a label column in a source declared unlabelled', () => {
    const table = parseTextCsv('body,label\nhello,1\n', unlabelled);
    assert.ok(!table.ok);
    assert.match(
      table.error.message,
      /line 2 has a label field, and this source is declared unlabelled/,
    );
    const plain = parseTextCsv('body\nhello\n', unlabelled);
    assert.ok(plain.ok);
    assert.equal(plain.value.labels, null);
  });

  it('reads JSONL and names the line of a bad one', () => {
    const table = parseTextJsonl(
      '{"body":"hi","label":1}\n\n{"body":"yo","label":0}\r\n',
      labelled,
    );
    assert.ok(table.ok);
    assert.deepEqual(table.value.texts, ['hi', 'yo']);
    const missing = parseTextJsonl('{"body":"hi","label":1}\n{"text":"yo","label":0}\n', labelled);
    assert.ok(!missing.ok);
    assert.equal(missing.error.message, 'mail.csv: line 2, field body: missing');
    const negative = parseTextJsonl('{"body":"hi","label":-1}\n', labelled);
    assert.ok(!negative.ok);
    assert.match(negative.error.message, /field label: -1 is not a class number/);
    const broken = parseTextJsonl('{"body":', labelled);
    assert.ok(!broken.ok);
    assert.match(broken.error.message, /line 1 is not JSON/);
  });

  it('reads a folder of files, a subfolder per class, in name order', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fedistill-texts-'));
    await mkdir(path.join(dir, '0'));
    await mkdir(path.join(dir, '1'));
    await writeFile(path.join(dir, '1', 'b.txt'), 'win money');
    await writeFile(path.join(dir, '1', 'a.txt'), 'free prize');
    await writeFile(path.join(dir, '0', 'x.txt'), 'minutes of the meeting');
    await writeFile(path.join(dir, '0', '.hidden'), 'skipped');
    const table = await readTextFolder(dir, true);
    assert.ok(table.ok);
    assert.deepEqual(table.value.texts, ['minutes of the meeting', 'free prize', 'win money']);
    assert.deepEqual([...table.value.labels!], [0, 1, 1]);
    await mkdir(path.join(dir, 'spam'));
    const named = await readTextFolder(dir, true);
    assert.ok(!named.ok);
    assert.match(
      named.error.message,
      /spam: a labelled folder holds one subfolder per class, named by its number/,
    );
    const flat = await readTextFolder(path.join(dir, '1'), false);
    assert.ok(flat.ok);
    assert.deepEqual(flat.value.texts, ['free prize', 'win money']);
  });
});
