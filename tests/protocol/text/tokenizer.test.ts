import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { PAD_ID, UNK_ID } from '../../../protocol/text/token-ids.js';
import { TextTokenizer, capVocabulary, trainTokenizer } from '../../../protocol/text/tokenizer.js';

const CORPUS = [
  'Hello world, hello there!',
  'The quick brown fox jumps over the lazy dog.',
  'hello hello worlds',
];
const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('the text tokenizer', () => {
  it('learns the same blob from the same texts, so a restarted coordinator ships the same hash', async () => {
    const [a, b] = await Promise.all([trainTokenizer(CORPUS, 40), trainTokenizer(CORPUS, 40)]);
    assert.equal(sha(a), sha(b));
  });

  /*
   * Trained on CORPUS the byte-pair model numbers its alphabet in code-point order ("!" 0, ","
   * 1, "." 2, "a" 3 ... "z" 28), then each merge's result: "he" 29, "ll" 30, "hell" 31,
   * "hello" 32, ... Behind [PAD] 0 and [UNK] 1 every id moves up by 2.
   */
  it('caps the vocabulary to its first ids: 12 ids keep "!" to "g"; h and i become [UNK]', async () => {
    const tokenizer = TextTokenizer.fromBlob(await trainTokenizer(CORPUS, 12), 'test');
    assert.equal(tokenizer.vocabulary, 12);
    // b = 4 + 2, a = 3 + 2, d = 6 + 2, ! = 0 + 2; lower-cased first; padded with 0.
    assert.deepEqual([...(await tokenizer.encode(['Bad!'], 6))], [6, 5, 8, 2, PAD_ID, PAD_ID]);
    assert.deepEqual([...(await tokenizer.encode(['hi'], 3))], [UNK_ID, UNK_ID, PAD_ID]);
  });

  it('keeps the merges whose parts and result survive the cap', async () => {
    const tokenizer = TextTokenizer.fromBlob(await trainTokenizer(CORPUS, 40), 'test');
    // "hello" is trained id 32, 34 here; "worlds" (53) is cut, so "world" (37 + 2) then "s".
    assert.deepEqual([...(await tokenizer.encode(['HELLO worlds'], 4))], [34, 39, 21 + 2, 0]);
    assert.deepEqual(await tokenizer.tokens('HELLO worlds'), ['hello', 'world', 's']);
  });

  it('cuts a long text to its first ids and lays rows out row-major', async () => {
    const tokenizer = TextTokenizer.fromBlob(await trainTokenizer(CORPUS, 40), 'test');
    const rows = await tokenizer.encode(['a b c d e', 'hello'], 3);
    assert.deepEqual([...rows], [5, 6, 7, 34, 0, 0]);
  });

  it('refuses a tokenizer.json without [PAD] at id 0 and [UNK] at id 1, naming it', async () => {
    const capped = JSON.parse(Buffer.from(await trainTokenizer(CORPUS, 12)).toString('utf8'));
    capped.model.vocab['[PAD]'] = 5;
    capped.model.vocab.d = 0;
    const blob = new TextEncoder().encode(JSON.stringify(capped));
    assert.throws(() => TextTokenizer.fromBlob(blob, 'tokenizer from the operator'), {
      message: /tokenizer from the operator must have \[PAD\] as id 0/,
    });
    assert.throws(() => TextTokenizer.fromBlob(new TextEncoder().encode('{}'), 'x.json'), {
      message: /x\.json is not a tokenizer\.json/,
    });
  });

  it('cuts a merge whose result is cut, even when the result names a property of every object', () => {
    // Seed 2's public mail: "constructo" + "r" survived the cap and "constructor" did not, but
    // `"constructor" in {}` is true, so the merge stayed and the tokenizer would not load.
    const trained = {
      added_tokens: [],
      model: {
        type: 'BPE',
        unk_token: null,
        vocab: { constructo: 0, r: 1, tostrin: 2, g: 3, constructor: 4, tostring: 5 },
        merges: [
          ['constructo', 'r'],
          ['tostrin', 'g'],
        ] as Array<[string, string]>,
      },
    };
    const capped = capVocabulary(trained, 6);
    assert.deepEqual(capped.model.merges, []);
    assert.deepEqual(Object.entries(capped.model.vocab), [
      ['[PAD]', 0],
      ['[UNK]', 1],
      ['constructo', 2],
      ['r', 3],
      ['tostrin', 4],
      ['g', 5],
    ]);
    assert.deepEqual(capVocabulary(trained, 8).model.merges, trained.model.merges);
  });

  it('refuses to cap a model that is not byte-pair', () => {
    assert.throws(
      () =>
        capVocabulary(
          {
            added_tokens: [],
            model: { type: 'WordLevel', unk_token: null, vocab: {}, merges: [] },
          },
          10,
        ),
      { message: /expected a BPE model, got WordLevel/ },
    );
  });
});
