import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readJsonlLogits } from '../../coordinator/teacher/logits-jsonl.js';
import { labelTexts, type LabelJob } from '../../cli/teacher-label/label-texts.js';
import { DEFAULT_PROMPT, readPromptTemplate } from '../../cli/teacher-label/label-prompt.js';
import { classOfToken, parseClassNames } from '../../cli/teacher-label/token-classes.js';
import { FedistillError } from '../../protocol/index.js';
import { startFakeLlm, type FakeAnswer, type FakeLlm } from '../support/fake-llm-server.js';

const SPAM = ['ham', 'spam'];

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fedistill-teacher-label-'));
});
after(() => rm(dir, { recursive: true, force: true }));

let files = 0;
const outFile = () => path.join(dir, `labels-${++files}.jsonl`);

/** A run against `llm` with short waits, so that retries take milliseconds. */
function job(llm: FakeLlm, texts: readonly string[], overrides: Partial<LabelJob> = {}): LabelJob {
  return {
    texts,
    classNames: SPAM,
    out: outFile(),
    endpoint: { url: llm.url, model: 'fake-7b', api: 'chat', topLogprobs: 20, timeoutMs: 5000 },
    prompt: { template: DEFAULT_PROMPT },
    concurrency: 2,
    retry: { retries: 3, baseDelayMs: 5, maxDelayMs: 20 },
    ...overrides,
  };
}

/** The file's rows by id; each id at most once. */
async function rowsOf(file: string): Promise<Map<number, [number, number][]>> {
  const rows = new Map<number, [number, number][]>();
  for (const line of (await readFile(file, 'utf8')).split('\n')) {
    if (line === '') continue;
    const { id, topk } = JSON.parse(line) as { id: number; topk: [number, number][] };
    assert.ok(!rows.has(id), `id ${id} twice`);
    rows.set(id, topk);
  }
  return rows;
}

function assertTopK(actual: [number, number][] | undefined, expected: [number, number][]) {
  assert.ok(actual, 'the row is missing');
  assert.equal(actual.length, expected.length, JSON.stringify(actual));
  expected.forEach(([klass, logprob], i) => {
    assert.equal(actual[i]![0], klass, JSON.stringify(actual));
    assert.ok(Math.abs(actual[i]![1] - logprob) < 1e-12, `${actual[i]![1]} vs ${logprob}`);
  });
}

const top = (...pairs: [string, number][]): FakeAnswer => ({ top: pairs });

// Hand-computed: ln(e^-0.5 + e^-2.5) = ln(0.606531 + 0.082085) = ln(0.688616).
const A_SPAM = -0.3730719889570274;
// ln(e^-1 + e^-3 + e^-4) = ln(0.367879 + 0.049787 + 0.018316) = ln(0.435982).
const B_SPAM = -0.8301539804437144;

/** Canned answers: several tokenizations of a label, tokens that name no class, none at all. */
const TEXTS = [
  'WIN a free cruise, reply now',
  'lunch at noon?',
  'cheap meds online',
  'are we still on for friday',
];
const ANSWERS: FakeAnswer[] = [
  // " spam" and "Spam" are one class; "The" names none.
  top([' spam', -0.5], [' ham', -2], ['Spam', -2.5], ['The', -3]),
  // " spam." is longer than every name (names none); -9999 is "not in the top 20".
  top(['ham', -0.05], [' spam.', -3.2], ['Sp', -9999]),
  // Prefixes and case: "sp", " Sp", "SPAM" all name spam; "h" names ham.
  top(['sp', -1], ['h', -1.5], [' Sp', -3], ['SPAM', -4]),
  // Only spam is named: ham's 1 - e^-0.1 is missing mass, spread by the importer.
  top(['spam', -0.1], ['Hello', -2.4]),
];

describe('fedistill teacher label: tokens to classes', () => {
  it('sums the tokens of a class by log-sum-exp, drops tokens that name none (chat API)', async () => {
    const llm = await startFakeLlm({ texts: TEXTS, answer: (text) => ANSWERS[text]! });
    try {
      const run = job(llm, TEXTS);
      const summary = await labelTexts(run);
      assert.deepEqual(
        { labelled: summary.labelled, failed: summary.failed, resumed: summary.resumed },
        { labelled: 4, failed: [], resumed: 0 },
      );
      const rows = await rowsOf(run.out);
      assertTopK(rows.get(0), [
        [1, A_SPAM],
        [0, -2],
      ]);
      assertTopK(rows.get(1), [
        [0, -0.05],
        [1, -9999],
      ]);
      assertTopK(rows.get(2), [
        [1, B_SPAM],
        [0, -1.5],
      ]);
      assertTopK(rows.get(3), [[1, -0.1]]);
      // Missing mass per row: 0.176049, 1 - e^-0.05, 0.340888, 1 - e^-0.1.
      const missing = [
        0.1760490584268551,
        1 - Math.exp(-0.05),
        0.3408876914235297,
        1 - Math.exp(-0.1),
      ];
      assert.ok(Math.abs(summary.meanMissingMass - missing.reduce((a, b) => a + b) / 4) < 1e-12);

      // What the server was asked: the documented chat fields, the text and the labels in the prompt.
      assert.equal(llm.requests.length, 4);
      for (const request of llm.requests) {
        assert.equal(request.path, '/v1/chat/completions');
        const { model, messages, logprobs, top_logprobs, max_tokens, temperature } = request.body;
        assert.deepEqual(
          { model, logprobs, top_logprobs, max_tokens, temperature },
          { model: 'fake-7b', logprobs: true, top_logprobs: 20, max_tokens: 1, temperature: 0 },
        );
        const content = (messages as { role: string; content: string }[])[0]!;
        assert.equal(content.role, 'user');
        assert.ok(content.content.includes(TEXTS[request.text]!), content.content);
        assert.ok(content.content.includes('ham, spam'), content.content);
        assert.equal(request.authorization, undefined);
      }
    } finally {
      await llm.close();
    }
  });

  it('reads the legacy completions answer alike, and sends the key as a bearer token', async () => {
    const llm = await startFakeLlm({ texts: TEXTS, answer: (text) => ANSWERS[text]! });
    try {
      const run = job(llm, TEXTS);
      const summary = await labelTexts({
        ...run,
        endpoint: { ...run.endpoint, api: 'completions', topLogprobs: 5, apiKey: 'sk-test' },
      });
      assert.equal(summary.labelled, 4);
      const rows = await rowsOf(run.out);
      assertTopK(rows.get(0), [
        [1, A_SPAM],
        [0, -2],
      ]);
      assertTopK(rows.get(2), [
        [1, B_SPAM],
        [0, -1.5],
      ]);
      for (const request of llm.requests) {
        assert.equal(request.path, '/v1/completions');
        assert.equal(request.body['logprobs'], 5);
        assert.equal(request.body['messages'], undefined);
        assert.ok(String(request.body['prompt']).includes(TEXTS[request.text]!));
        assert.equal(request.authorization, 'Bearer sk-test');
      }
    } finally {
      await llm.close();
    }
  });

  it('a token that is a prefix of two class names counts for neither', async () => {
    const texts = ['the movie was fine'];
    const llm = await startFakeLlm({
      texts,
      answer: () => top([' ne', -0.5], ['neg', -1.2], [' Neutral', -2], ['pos', -3], ['n', -3.5]),
    });
    try {
      const run = job(llm, texts, { classNames: ['positive', 'negative', 'neutral'] });
      const summary = await labelTexts(run);
      assertTopK((await rowsOf(run.out)).get(0), [
        [1, -1.2],
        [2, -2],
        [0, -3],
      ]);
      // " ne" (0.607) and "n" are dropped: 1 - e^-1.2 - e^-2 - e^-3 is missing.
      assert.ok(Math.abs(summary.meanMissingMass - 0.5136834364833213) < 1e-12);
    } finally {
      await llm.close();
    }
    assert.equal(classOfToken(' NE', ['positive', 'negative', 'neutral']), -1);
    assert.equal(classOfToken(' Neg', ['positive', 'negative', 'neutral']), 1);
    assert.equal(classOfToken('  ', ['positive', 'negative', 'neutral']), -1);
  });

  it('a row whose tokens name no class fails alone, with its id; the others are written', async () => {
    const texts = ['hello there', 'free money', 'see you'];
    const llm = await startFakeLlm({
      texts,
      answer: (text) =>
        text === 1 ? top(['I', -0.4], ['The', -1.5]) : top(['ham', -0.2], ['spam', -1.8]),
    });
    try {
      const run = job(llm, texts);
      const summary = await labelTexts(run);
      assert.equal(summary.labelled, 2);
      assert.deepEqual(
        summary.failed.map(({ id }) => id),
        [1],
      );
      assert.match(
        summary.failed[0]!.reason,
        /no token .* names a class \(the first: "I", "The"\)/,
      );
      assert.deepEqual([...(await rowsOf(run.out)).keys()].sort(), [0, 2]);
    } finally {
      await llm.close();
    }
  });

  it('class names must each be nameable alone', () => {
    const refusal = (list: string) => {
      const parsed = parseClassNames(list);
      assert.ok(!parsed.ok);
      return parsed.error.message;
    };
    assert.match(refusal('pos,positive,negative'), /"pos" is a prefix of "positive"/);
    assert.match(refusal('Ham, ham'), /the same name/);
    assert.match(refusal('spam'), /at least two/);
    assert.match(refusal('ham,,spam'), /non-empty/);
    assert.deepEqual(parseClassNames(' ham , spam '), { ok: true, value: ['ham', 'spam'] });
  });
});

describe('fedistill teacher label: the prompt', () => {
  it('fills {text} and {labels} once, literally, and cuts long texts', async () => {
    const template = path.join(dir, 'prompt.txt');
    await writeFile(template, 'Labels: {labels}\nText: {text}\nAnswer:');
    const texts = [
      'costs $& and says {labels}',
      'héllo wörld, and a much longer text that goes on',
    ];
    const llm = await startFakeLlm({
      texts: ['costs $& and says {labels}', 'héllo'],
      answer: () => top(['ham', -0.1]),
    });
    try {
      const read = await readPromptTemplate(template);
      assert.ok(read.ok);
      const summary = await labelTexts(
        job(llm, texts, { prompt: { template: read.value, maxTextChars: 30 } }),
      );
      assert.equal(summary.cutTexts, 1);
      const contents = llm.requests
        .sort((a, b) => a.text - b.text)
        .map((r) => (r.body['messages'] as { content: string }[])[0]!.content);
      assert.deepEqual(contents, [
        'Labels: ham, spam\nText: costs $& and says {labels}\nAnswer:',
        'Labels: ham, spam\nText: héllo wörld, and a much longer\nAnswer:',
      ]);
    } finally {
      await llm.close();
    }
    await writeFile(template, 'Classify: {labels}');
    const missing = await readPromptTemplate(template);
    assert.ok(
      !missing.ok &&
        /--prompt-file .*prompt\.txt: the template has no \{text\}/.test(missing.error.message),
    );
  });
});

describe('fedistill teacher label: retries, failing fast, concurrency', () => {
  it('waits out a 429 with Retry-After, retries a 500 and a timeout, then succeeds', async () => {
    const texts = ['rate limited', 'server error twice', 'slow at first'];
    const llm = await startFakeLlm({
      texts,
      answer: (text, attempt) => {
        if (text === 0 && attempt === 0) {
          return { status: 429, message: 'slow down', headers: { 'retry-after': '1' } };
        }
        if (text === 1 && attempt < 2) return { status: 500, message: 'CUDA out of memory' };
        if (text === 2 && attempt === 0) return { hang: true };
        return top(['spam', -0.3], ['ham', -1.4]);
      },
    });
    try {
      const run = job(llm, texts, { concurrency: 3 });
      const summary = await labelTexts({ ...run, endpoint: { ...run.endpoint, timeoutMs: 300 } });
      assert.deepEqual(
        { labelled: summary.labelled, failed: summary.failed },
        { labelled: 3, failed: [] },
      );
      const at = (text: number) => llm.requests.filter((r) => r.text === text).map((r) => r.at);
      assert.equal(at(0).length, 2);
      // The backoff alone is at most 5 ms: the second try came after the server's 1 s.
      assert.ok(at(0)[1]! - at(0)[0]! >= 990, `retried after ${at(0)[1]! - at(0)[0]!} ms`);
      assert.equal(at(1).length, 3);
      // The first request for text 2 was never answered: only the timeout could end it.
      assert.equal(at(2).length, 2);
      assert.equal((await rowsOf(run.out)).size, 3);
    } finally {
      await llm.close();
    }
  });

  it('a row whose retries are spent fails, naming the last answer; an unreachable server too', async () => {
    const texts = ['always 503', 'fine'];
    const llm = await startFakeLlm({
      texts,
      answer: (text) =>
        text === 0 ? { status: 503, message: 'loading model' } : top(['ham', -0.1]),
    });
    try {
      const summary = await labelTexts(
        job(llm, texts, { retry: { retries: 2, baseDelayMs: 1, maxDelayMs: 2 } }),
      );
      assert.equal(summary.labelled, 1);
      assert.equal(summary.failed.length, 1);
      assert.match(summary.failed[0]!.reason, /HTTP 503: loading model \(3 tries\)/);
      assert.equal(llm.requests.filter((r) => r.text === 0).length, 3);
    } finally {
      await llm.close();
    }
    const closed = job(llm, texts, { retry: { retries: 1, baseDelayMs: 1, maxDelayMs: 2 } });
    const unreachable = await labelTexts(closed);
    assert.deepEqual(
      unreachable.failed.map(({ id }) => id),
      [0, 1],
    );
    assert.ok(unreachable.failed[0]!.reason.startsWith(`${llm.url}/chat/completions: `));
  });

  it('a 400 fails fast: no retry, no new rows, the server message in the summary', async () => {
    const texts = ['alpha text', 'bravo text', 'charlie text', 'delta text', 'echo text'];
    const llm = await startFakeLlm({
      texts,
      answer: (text) =>
        text === 1
          ? { status: 400, message: "This model's maximum context length is 4096 tokens" }
          : top(['ham', -0.1]),
    });
    try {
      const run = job(llm, texts, { concurrency: 1 });
      const summary = await labelTexts(run);
      assert.deepEqual(
        llm.requests.map((r) => r.text),
        [0, 1],
      );
      assert.match(
        summary.stoppedBy ?? '',
        /^id 1: .*\/chat\/completions answered HTTP 400: This model's maximum context length is 4096 tokens$/,
      );
      assert.deepEqual(
        { labelled: summary.labelled, failed: summary.failed, notLabelled: summary.notLabelled },
        {
          labelled: 1,
          failed: [],
          notLabelled: 4,
        },
      );
      assert.deepEqual([...(await rowsOf(run.out)).keys()], [0]);
    } finally {
      await llm.close();
    }
  });

  it('an answer without logprobs stops the run: the server ignores what the rows need', async () => {
    const texts = ['alpha text', 'bravo text'];
    const llm = await startFakeLlm({ texts, answer: () => top(['ham', -0.1]) });
    try {
      // Legacy completions asked of a path that answers chat: no logprobs.top_logprobs list.
      const run = job(llm, texts, { concurrency: 1 });
      const summary = await labelTexts({
        ...run,
        endpoint: { ...run.endpoint, url: `${llm.url}/chat`, api: 'completions' },
      });
      assert.match(summary.stoppedBy ?? '', /no choices\[0\]\.logprobs\.top_logprobs\[0\]/);
      assert.equal(llm.requests.length, 1);
    } finally {
      await llm.close();
    }
  });

  it('never has more than --concurrency requests in flight, and uses them all', async () => {
    const texts = Array.from(
      { length: 12 },
      (_, i) => `message number ${String(i).padStart(2, '0')}`,
    );
    const llm = await startFakeLlm({ texts, answer: () => top(['spam', -0.2]), delayMs: 40 });
    try {
      const summary = await labelTexts(job(llm, texts, { concurrency: 3 }));
      assert.equal(summary.labelled, 12);
      assert.equal(llm.maxInFlight(), 3);
    } finally {
      await llm.close();
    }
  });
});

describe('fedistill teacher label: resuming', () => {
  it('a rerun asks only for the missing ids, redoes a line cut short, and the importer reads the file', async () => {
    const texts = ['t zero', 't one', 't two', 't three', 't four', 't five'];
    const out = outFile();
    const broken = await startFakeLlm({
      texts,
      answer: (text) =>
        text === 2 || text === 4 ? { status: 500, message: 'boom' } : ANSWERS[text % 4]!,
    });
    try {
      const first = await labelTexts(
        job(broken, texts, {
          out,
          concurrency: 1,
          retry: { retries: 1, baseDelayMs: 1, maxDelayMs: 2 },
        }),
      );
      assert.deepEqual(
        first.failed.map(({ id }) => id),
        [2, 4],
      );
    } finally {
      await broken.close();
    }
    assert.deepEqual([...(await rowsOf(out)).keys()], [0, 1, 3, 5]);
    // A crash in the middle of writing id 5's line.
    const full = await readFile(out);
    await truncate(out, full.length - 7);

    const good = await startFakeLlm({ texts, answer: (text) => ANSWERS[text % 4]! });
    try {
      const second = await labelTexts(job(good, texts, { out }));
      assert.deepEqual(good.requests.map((r) => r.text).sort(), [2, 4, 5]);
      assert.deepEqual(
        { resumed: second.resumed, droppedTail: second.droppedTail, labelled: second.labelled },
        { resumed: 3, droppedTail: true, labelled: 3 },
      );
      const rows = await rowsOf(out);
      assert.deepEqual([...rows.keys()].sort(), [0, 1, 2, 3, 4, 5]);

      const third = await labelTexts(job(good, texts, { out }));
      assert.equal(good.requests.length, 3, 'a complete file asks nothing');
      assert.deepEqual(
        { resumed: third.resumed, labelled: third.labelled },
        { resumed: 6, labelled: 0 },
      );
    } finally {
      await good.close();
    }

    // The coordinator's own importer: every id once, top-k spread per LOGITS-FORMAT.md.
    const imported = await readJsonlLogits(
      out,
      { rows: 6, classes: 2 },
      { dir, maxBytes: 1 << 20, readTimeoutMs: 5000 },
    );
    assert.ok(imported.ok, imported.ok ? '' : imported.error.message);
    const row = (id: number) => Array.from(imported.value.subarray(id * 2, id * 2 + 2));
    const close = (a: number[], b: number[]) =>
      a.every((x, i) => Math.abs(x - b[i]!) < 1e-6) || assert.fail(`${a} vs ${b}`);
    close(row(0), [-2, A_SPAM]);
    close(row(2), [-1.5, B_SPAM]);
    // Id 3 listed spam only: ham gets the missing 1 - e^-0.1, ln 0.0951626 = -2.3521685.
    close(row(3), [-2.3521684610440903, -0.1]);
  });

  it('refuses, unchanged, a file with a line that is not a row of this input', async () => {
    const texts = ['x-ray text', 'yankee text', 'zulu text'];
    const llm = await startFakeLlm({ texts, answer: () => top(['ham', -0.1]) });
    try {
      const cases: [string, RegExp][] = [
        ['{"id": 0, "topk": [[0, -0.1]]}\nname,text\n', /line 2: not JSON/],
        [
          '{"id": 0, "topk": [[0, -0.1]]}\n{"id": 0, "topk": [[1, -0.1]]}\n',
          /line 2: id 0 was already on line 1/,
        ],
        ['{"id": 3, "topk": [[0, -0.1]]}\n', /line 1: id 3, and the input has rows 0\.\.2/],
        ['{"id": 1, "topk": [[2, -0.1]]}\n', /line 1: topk lists class 2/],
      ];
      for (const [content, message] of cases) {
        const out = outFile();
        await writeFile(out, content);
        await assert.rejects(labelTexts(job(llm, texts, { out })), (error: Error) => {
          assert.ok(error instanceof FedistillError);
          assert.match(error.message, message);
          assert.match(error.message, /--out .*labels-\d+\.jsonl/);
          return true;
        });
        assert.equal(await readFile(out, 'utf8'), content);
      }
      assert.equal(llm.requests.length, 0);
    } finally {
      await llm.close();
    }
  });
});
