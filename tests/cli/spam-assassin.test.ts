import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { MAIL_TEXT_CHARS } from '../../cli/demo/mail-text.js';
import {
  loadSpamAssassin,
  SPAM_ASSASSIN_FILE,
  type MailCorpus,
} from '../../cli/demo/spam-assassin.js';

/** What cli/demo/build-spam-assassin.ts reported when it wrote the file (datasets/README.md). */
const GROUP_ROWS = {
  'easy-ham-1': 2472,
  'easy-ham-2': 1388,
  'hard-ham-1': 248,
  'spam-1': 478,
  'spam-2': 1311,
};

describe('the bundled SpamAssassin subset', () => {
  let corpus: MailCorpus;
  let dir: string;

  before(async () => {
    corpus = await loadSpamAssassin();
    dir = await mkdtemp(path.join(tmpdir(), 'fedistill-spam-'));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('holds the 5,897 emails the build reported, per group, 1,789 of them spam', () => {
    assert.equal(corpus.ids.length, 5_897);
    assert.equal(corpus.texts.length, 5_897);
    assert.equal(corpus.labels.length, 5_897);
    const perGroup: Record<string, number> = {};
    for (const group of corpus.groups) perGroup[group] = (perGroup[group] ?? 0) + 1;
    assert.deepEqual(perGroup, GROUP_ROWS);
    assert.equal(
      corpus.labels.reduce((a, b) => a + b, 0),
      1_789,
    );
  });

  it('labels spam 1 and ham 0, as the group says, and has both', () => {
    const seen = new Set<number>();
    corpus.labels.forEach((label, i) => {
      assert.equal(label, corpus.groups[i]!.startsWith('spam-') ? 1 : 0, corpus.ids[i]);
      seen.add(label);
    });
    assert.deepEqual([...seen].sort(), [0, 1]);
  });

  it('has unique ids in sorted order, and no text twice', () => {
    assert.equal(new Set(corpus.ids).size, corpus.ids.length);
    assert.deepEqual([...corpus.ids].sort(), corpus.ids);
    assert.equal(new Set(corpus.texts).size, corpus.texts.length);
  });

  it(`keeps each text to ${MAIL_TEXT_CHARS} characters, subject and body apart`, () => {
    for (const [i, text] of corpus.texts.entries()) {
      assert.ok(text.length <= MAIL_TEXT_CHARS, `${corpus.ids[i]} has ${text.length}`);
      assert.ok(text.includes('\n\n'), `${corpus.ids[i]} has no blank line`);
    }
  });

  it('names the file and the line of an email it refuses', async () => {
    const file = path.join(dir, 'bad.jsonl.gz');
    const good = { id: 'spam-1/00001.x', group: 'spam-1', label: 1, text: 'Win\n\nmoney' };
    const write = (...lines: string[]) => writeFile(file, gzipSync(lines.join('\n') + '\n'));

    await write(JSON.stringify(good), '{"id": ');
    await assert.rejects(loadSpamAssassin(file), /bad\.jsonl\.gz: line 2: not JSON/);
    await write(JSON.stringify(good), JSON.stringify({ ...good, id: 'spam-1/2', label: 2 }));
    await assert.rejects(loadSpamAssassin(file), /bad\.jsonl\.gz: line 2: label: /);
    await write(JSON.stringify({ ...good, label: 0 }));
    await assert.rejects(
      loadSpamAssassin(file),
      /bad\.jsonl\.gz: line 1: spam-1\/00001\.x has label 0, but spam-1 is spam \(1\)/,
    );
    await write(JSON.stringify(good), JSON.stringify(good));
    await assert.rejects(loadSpamAssassin(file), /bad\.jsonl\.gz: line 2: id .* on line 1/);
  });

  it('names a missing file, and says how to build it', async () => {
    const missing = path.join(dir, SPAM_ASSASSIN_FILE);
    await assert.rejects(loadSpamAssassin(missing), (error: Error) => {
      assert.ok(error.message.startsWith(`${missing} is missing`), error.message);
      assert.match(error.message, /build-spam-assassin/);
      return true;
    });
  });
});
