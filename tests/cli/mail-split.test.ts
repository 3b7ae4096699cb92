import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { MAIL_BANKS, MAIL_SHARES, splitMail, type MailSplit } from '../../cli/demo/mail-split.js';
import { loadSpamAssassin, type MailCorpus } from '../../cli/demo/spam-assassin.js';

const spamRate = (part: MailCorpus): number =>
  part.labels.reduce((a, b) => a + b, 0) / part.labels.length;

const allParts = (split: MailSplit): [string, MailCorpus][] => [
  ['outside', split.outside],
  ['public', split.publicSplit],
  ['held-out', split.heldOut],
  ...split.sites.map((site, i): [string, MailCorpus] => [MAIL_BANKS[i]!.name, site]),
];

describe('the mail split', () => {
  let corpus: MailCorpus;
  let split: MailSplit;

  before(async () => {
    corpus = await loadSpamAssassin();
    split = splitMail(corpus, 42);
  });

  it('puts every email in exactly one part, with its own text and label', () => {
    const rowOf = new Map(corpus.ids.map((id, row) => [id, row]));
    const where = new Map<string, string>();
    for (const [name, part] of allParts(split)) {
      part.ids.forEach((id, i) => {
        assert.ok(!where.has(id), `${id} is in ${where.get(id)} and ${name}`);
        where.set(id, name);
        const row = rowOf.get(id)!;
        assert.equal(part.texts[i], corpus.texts[row]);
        assert.equal(part.labels[i], corpus.labels[row]);
        assert.equal(part.groups[i], corpus.groups[row]);
      });
    }
    assert.equal(where.size, corpus.ids.length);
  });

  it('gives outside, public and held-out their shares of the corpus, at its spam rate', () => {
    const rate = spamRate(corpus);
    for (const [name, part, share] of [
      ['outside', split.outside, MAIL_SHARES.outside],
      ['public', split.publicSplit, MAIL_SHARES.publicSplit],
      ['held-out', split.heldOut, MAIL_SHARES.heldOut],
    ] as const) {
      const fraction = part.ids.length / corpus.ids.length;
      assert.ok(Math.abs(fraction - share) < 0.002, `${name}: ${fraction}`);
      assert.ok(Math.abs(spamRate(part) - rate) < 0.005, `${name}: spam rate ${spamRate(part)}`);
    }
  });

  it("gives each bank about its share of the sites' mail and its spam rate", () => {
    const siteRows = split.sites.reduce((sum, site) => sum + site.ids.length, 0);
    assert.ok(Math.abs(siteRows / corpus.ids.length - MAIL_SHARES.sites) < 0.002);
    split.sites.forEach((site, i) => {
      const bank = MAIL_BANKS[i]!;
      const share = site.ids.length / siteRows;
      assert.ok(Math.abs(share - bank.share) < 0.005, `${bank.name}: share ${share}`);
      const rate = spamRate(site);
      assert.ok(Math.abs(rate - bank.spamRate) < 0.015, `${bank.name}: spam rate ${rate}`);
    });
    // The skew is real: the most exposed bank sees eight times the private bank's spam rate.
    assert.ok(spamRate(split.sites[1]!) > 8 * spamRate(split.sites[4]!));
  });

  it('leaves both classes in every part', () => {
    for (const [name, part] of allParts(split)) {
      const rate = spamRate(part);
      assert.ok(rate > 0 && rate < 1, `${name}: spam rate ${rate}`);
    }
  });

  it('repeats itself for the same seed and draws other emails for another', () => {
    const ids = (s: MailSplit) => allParts(s).map(([, part]) => part.ids);
    assert.deepEqual(ids(splitMail(corpus, 42)), ids(split));
    const other = splitMail(corpus, 43);
    allParts(other).forEach(([name, part], i) => {
      assert.equal(part.ids.length, allParts(split)[i]![1].ids.length, name);
      assert.notDeepEqual(part.ids, allParts(split)[i]![1].ids, name);
    });
  });

  it('refuses a corpus too small to give every part both classes, naming the part', () => {
    const small: MailCorpus = {
      ids: corpus.ids.slice(0, 20),
      groups: corpus.groups.slice(0, 20),
      texts: corpus.texts.slice(0, 20),
      labels: Int32Array.from({ length: 20 }, (_, i) => (i < 14 ? 0 : 1)),
    };
    assert.throws(
      () => splitMail(small, 42),
      /the bank \w+ part of 20 emails holds \d+, \d+ of them spam/,
    );
  });
});
