import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { API_KEY_VARIABLES } from '../../cli/teacher-label/label-command.js';
import { startFakeLlm } from '../support/fake-llm-server.js';

const MAIN = fileURLToPath(new URL('../../cli/main.js', import.meta.url));
const exec = promisify(execFile);

/** Runs the command; a non-zero exit is returned, not thrown. */
async function fedistill(args: string[], env: Record<string, string> = {}) {
  // No key from the machine running the tests leaks into the fake's requests.
  const clean = { ...process.env };
  for (const name of API_KEY_VARIABLES) delete clean[name];
  try {
    const { stdout, stderr } = await exec(process.execPath, [MAIN, ...args], {
      env: { ...clean, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const { code, stdout, stderr } = error as { code: number; stdout: string; stderr: string };
    return { code, stdout, stderr };
  }
}

const TEXTS = ['Claim your prize today', 'Minutes of the board meeting', 'Cheap watches, 90% off'];

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fedistill-teacher-label-cli-'));
});
after(() => rm(dir, { recursive: true, force: true }));

describe('fedistill teacher label (the command)', () => {
  it('labels a labelled CSV with --labelled, sends the key from the environment, then resumes to nothing', async () => {
    const input = path.join(dir, 'public.csv');
    await writeFile(input, `text,label\n${TEXTS.map((t, i) => `"${t}",${i % 2}`).join('\n')}\n`);
    const out = path.join(dir, 'teacher.jsonl');
    const llm = await startFakeLlm({
      texts: TEXTS,
      answer: (text) => ({
        top:
          text === 1
            ? [[' ham', -0.1]]
            : [
                [' spam', -0.2],
                ['ham', -2.1],
              ],
      }),
    });
    const args = ['teacher', 'label', '--input', input, '--classes', 'ham,spam'];
    const rest = ['--url', llm.url, '--model', 'fake-7b', '--out', out];
    try {
      const unlabelled = await fedistill([...args, ...rest]);
      assert.equal(unlabelled.code, 1);
      assert.match(unlabelled.stderr, /public\.csv: line 2 has a label field.*give --labelled/);

      const run = await fedistill([...args, '--labelled', ...rest], {
        FEDISTILL_LLM_API_KEY: 'sk-from-env',
      });
      assert.equal(run.code, 0, run.stderr);
      assert.match(
        run.stdout,
        /teacher\.jsonl: 3 of 3 rows \(3 labelled now, 0 resumed\); 0 failed/,
      );
      assert.match(run.stdout, /rows 3\/3, 0 failed/);
      assert.match(run.stdout, /mean missing mass 0\.\d{4}/);
      assert.equal(llm.requests.length, 3);
      assert.ok(llm.requests.every((r) => r.authorization === 'Bearer sk-from-env'));
      const ids = (await readFile(out, 'utf8'))
        .trim()
        .split('\n')
        .map((line) => (JSON.parse(line) as { id: number }).id);
      assert.deepEqual(ids.sort(), [0, 1, 2]);

      const again = await fedistill([...args, '--labelled', ...rest]);
      assert.equal(again.code, 0);
      assert.match(again.stdout, /teacher\.jsonl already holds all 3 rows; nothing to ask/);
      assert.equal(llm.requests.length, 3);
    } finally {
      await llm.close();
    }
  });

  it('exits 1 naming the failed ids; refuses an input it cannot read, naming the option', async () => {
    const input = path.join(dir, 'public.jsonl');
    await writeFile(input, TEXTS.map((text) => JSON.stringify({ body: text })).join('\n'));
    const out = path.join(dir, 'failing.jsonl');
    const llm = await startFakeLlm({
      texts: TEXTS,
      answer: (text) => ({ top: text === 2 ? [['Sure', -0.1]] : [['spam', -0.3]] }),
    });
    try {
      const run = await fedistill([
        'teacher',
        'label',
        '--input',
        input,
        '--text-column',
        'body',
        '--classes',
        'ham,spam',
        '--url',
        llm.url,
        '--model',
        'fake-7b',
        '--api',
        'completions',
        '--out',
        out,
      ]);
      assert.equal(run.code, 1);
      assert.match(run.stdout, /2 of 3 rows \(2 labelled now, 0 resumed\); 1 failed/);
      assert.match(run.stderr, /id 2 failed: no token .* names a class \(the first: "Sure"\)/);
      assert.match(run.stderr, /failed ids: 2; run the same command again to retry them/);
      assert.ok(llm.requests.every((r) => r.path === '/v1/completions'));
    } finally {
      await llm.close();
    }
    const noFormat = await fedistill(
      ['teacher', 'label', '--input', path.join(dir, 'texts.txt'), '--classes', 'a,b'].concat([
        '--model',
        'm',
        '--out',
        out,
      ]),
    );
    assert.equal(noFormat.code, 1);
    assert.match(noFormat.stderr, /--input: cannot read .*texts\.txt/);
  });
});
