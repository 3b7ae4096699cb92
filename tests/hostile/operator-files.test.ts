import assert from 'node:assert/strict';
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { prepareWorkspace } from '../../cli/demo/workspace.js';
import type { CoordinatorIpcMessage } from '../../cli/coordinator-ipc.js';
import { readSplit } from '../../coordinator/config/read-split.js';
import { apiToken } from '../support/api-token.js';

const MAIN = fileURLToPath(new URL('../../cli/main.js', import.meta.url));
/** Small, so that a file over it costs the test nothing. */
const MAX_BYTES = 64 * 1024;
/** A start that hangs (today's FIFO) fails the test instead of stalling it. */
const REQUEST_TIMEOUT_MS = 15_000;

/**
 * Files that an operator's run spec names, against a real coordinator process and its REST API:
 * each hostile `teacher.file` is a 400 with its code, the process stays up, later starts are not
 * blocked, and neither the answers nor the logs repeat a line of what was read.
 */
describe('operator-named files and run ids at a live coordinator', () => {
  let dir: string;
  let imports: string;
  let child: ChildProcess;
  let url: string;
  let operator: string;
  let output = '';
  let passwdFirstLine: string;
  let rows: number;

  const http = async (method: string, route: string, body?: unknown) => {
    const response = await fetch(`${url}${route}`, {
      method,
      headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await response.text();
    return { status: response.status, text, body: JSON.parse(text) as Record<string, unknown> };
  };

  let runs = 0;
  /** Creates a run whose teacher is `file`, then starts it: the start's answer. */
  const startWithTeacher = async (file: string, format: 'jsonl' | 'binary' = 'jsonl') => {
    const id = `case-${++runs}`;
    const teacher = { source: 'logits', file, format };
    const created = await http('POST', '/api/runs', { id, minSites: 1, teacher });
    assert.equal(created.status, 201, created.text);
    return http('POST', `/api/runs/${id}/start`);
  };

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'fedistill-operator-files-'));
    const workspace = await prepareWorkspace(dir, {
      sites: 1,
      rounds: 1,
      seed: 3,
      cacheDir: path.join(dir, 'cache'),
    });
    const config = JSON.parse(await readFile(workspace.coordinatorConfigFile, 'utf8')) as Record<
      string,
      unknown
    > & { data: { publicSplit: string; classes: number }; storeFile?: string };
    // No run at boot: runs come by the API, as an operator (or a stolen token) sends them.
    delete config.run;
    const configDir = path.dirname(workspace.coordinatorConfigFile);
    imports = path.join(configDir, 'imports');
    await mkdir(imports);
    const configFile = path.join(configDir, 'api-only.json');
    await writeFile(
      configFile,
      JSON.stringify({ ...config, operatorFiles: { dir: 'imports', maxBytes: MAX_BYTES } }),
    );
    const publicSplit = path.resolve(configDir, config.data.publicSplit);
    rows = (await readSplit(publicSplit, config.data.classes, 'public split')).table.rows;
    passwdFirstLine = (await readFile('/etc/passwd', 'utf8')).split('\n')[0]!;
    assert.ok(passwdFirstLine.length > 0);

    child = fork(MAIN, ['coordinator', '--config', configFile], { stdio: 'pipe' });
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    url = await new Promise<string>((resolve, reject) => {
      child.on('exit', (code) => reject(new Error(`the coordinator exited (${code}): ${output}`)));
      child.on('message', (m: CoordinatorIpcMessage) => {
        if (m.type === 'listening') resolve(m.url);
      });
    });
    operator = await apiToken(
      path.resolve(configDir, config.storeFile ?? 'coordinator.db'),
      'operator',
    );
  });

  after(async () => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  });

  const refused = (
    answer: { status: number; text: string; body: Record<string, unknown> },
    code: string,
  ) => {
    assert.equal(answer.status, 400, answer.text);
    assert.equal(answer.body.code, code, answer.text);
    assert.ok(
      !answer.text.includes(passwdFirstLine),
      `the answer quotes /etc/passwd: ${answer.text}`,
    );
  };

  it('a FIFO in the folder is refused at once, and the next start is not blocked', async () => {
    const fifo = path.join(imports, 'pipe.jsonl');
    execFileSync('mkfifo', [fifo]);
    refused(await startWithTeacher(fifo), 'file.not_regular');
    refused(await startWithTeacher(fifo, 'binary'), 'file.not_regular');
  });

  it('devices and files outside the folder are refused, by path, by .. and by symbolic link', async () => {
    const zeroLink = path.join(imports, 'zero.jsonl');
    const passwdLink = path.join(imports, 'passwd.jsonl');
    await symlink('/dev/zero', zeroLink);
    await symlink('/etc/passwd', passwdLink);
    for (const file of [
      '/dev/zero',
      '/etc/passwd',
      path.join(imports, '..', '..', '..', '..', '..', '..', 'etc', 'passwd'),
      zeroLink,
      passwdLink,
    ]) {
      refused(await startWithTeacher(file), 'file.outside_folder');
    }
  });

  it('a file over the cap is refused before it is read', async () => {
    const big = path.join(imports, 'big.jsonl');
    await writeFile(big, Buffer.alloc(MAX_BYTES + 1, 0x20));
    refused(await startWithTeacher(big), 'file.too_large');
  });

  it('a file in the folder that is not logits is refused without quoting its lines', async () => {
    const copy = path.join(imports, 'copy.jsonl');
    await copyFile('/etc/passwd', copy);
    refused(await startWithTeacher(copy), 'data.invalid');
    refused(await startWithTeacher(copy, 'binary'), 'data.invalid');
  });

  it('a run id that is a path is refused, and nothing is written outside the folder', async () => {
    const target = path.join(tmpdir(), `fedistill-escape-${process.pid}`);
    const id = path.relative(path.join(dir, 'coordinator', 'exports'), target);
    for (const bad of ['../../../../tmp/x', id, 'a/b', '.', 'x'.repeat(65)]) {
      const answer = await http('POST', '/api/runs', { id: bad, minSites: 1 });
      assert.equal(answer.status, 400, answer.text);
      assert.equal(answer.body.code, 'config.invalid');
      assert.deepEqual(answer.body.path, ['id']);
    }
    assert.ok(!existsSync(target));
    assert.equal((await http('GET', '/api/runs')).body.length, runs);
  });

  it('after all of it the process is up and a good file starts its run', async () => {
    const good = path.join(imports, 'teacher.jsonl');
    const lines = Array.from({ length: rows }, (_, id) => JSON.stringify({ id, logits: [1, -1] }));
    await writeFile(good, lines.join('\n') + '\n');
    const started = await startWithTeacher(good);
    assert.equal(started.status, 200, started.text);
    assert.equal(started.body.state, 'waiting-for-sites');
    assert.equal(child.exitCode, null);
    assert.equal((await http('POST', `/api/runs/case-${runs}/cancel`)).status, 200);
    assert.ok(!output.includes(passwdFirstLine), 'a log line quotes /etc/passwd');
  });
});
