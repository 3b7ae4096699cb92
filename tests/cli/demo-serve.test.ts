import assert from 'node:assert/strict';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { keepsServing } from '../../cli/demo/terminal-lines.js';
import type { DashboardSession } from '../../protocol/index.js';

const MAIN = fileURLToPath(new URL('../../cli/main.js', import.meta.url));

describe('whether the demo keeps serving after its run', () => {
  const tty = { stdin: true, stdout: true, ci: false };

  it('does on an interactive terminal, and not in a pipe or CI, unless told', () => {
    assert.equal(keepsServing(undefined, tty), true);
    assert.equal(keepsServing(undefined, { ...tty, stdout: false }), false, 'output piped');
    assert.equal(
      keepsServing(undefined, { ...tty, stdin: false }),
      false,
      'no one to press Ctrl-C',
    );
    assert.equal(keepsServing(undefined, { ...tty, ci: true }), false, 'CI');
    assert.equal(keepsServing(false, tty), false, '--no-serve');
    assert.equal(keepsServing(true, { stdin: false, stdout: false, ci: true }), true, '--serve');
  });
});

describe('fedistill demo --serve', () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'fedistill-demo-serve-'));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps the coordinator and its dashboard up after the last round, until interrupted', async () => {
    const out = path.join(dir, 'run');
    const demo = spawn(
      process.execPath,
      [MAIN, 'demo', '--rounds', '2', '--serve', '--out', out],
      // Its own process group: a failed assertion must not leave it and its children serving.
      { cwd: dir, stdio: ['ignore', 'pipe', 'inherit'], detached: true },
    );
    try {
      await servesUntilInterrupted(demo, path.join(out, 'logs', 'coordinator.log'));
    } finally {
      if (demo.exitCode === null && demo.signalCode === null) process.kill(-demo.pid!, 'SIGKILL');
    }
  });
});

/** Waits for the demo to finish its run and keep serving, checks it serves, then interrupts it. */
async function servesUntilInterrupted(
  demo: ChildProcessByStdio<null, Readable, null>,
  coordinatorLog: string,
) {
  const exited = once(demo, 'exit') as Promise<[number | null]>;
  let stdout = '';
  const staysUp = new Promise<void>((resolve, reject) => {
    demo.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      // The link again, after the summary: the demo is serving.
      if ((stdout.match(/^Dashboard: \S+$/gm) ?? []).length === 2) resolve();
    });
    void exited.then(() => reject(new Error(`the demo exited:\n${stdout}`)));
  });
  await staysUp;
  const links = [...stdout.matchAll(/^Dashboard: (\S+)$/gm)].map((m) => m[1]!);
  // Printed as the coordinator starts, and again once the run is over and it keeps serving.
  assert.ok(stdout.lastIndexOf('Dashboard: ') > stdout.indexOf('stay up until interrupted'));
  assert.equal(links[0], links[1]);
  const link = new URL(links[0]!);

  // The run is over and the coordinator still serves the page and trades the link's token. The
  // demo prints the link again only after the coordinator said it is serving (over IPC), which
  // it says instead of closing: no wait is needed for a close that would come first.
  const page = await fetch(new URL('/dashboard/', link));
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<script type="module" src="\.\/dashboard\/app\.js">/);
  const login = await fetch(new URL('/api/sessions', link), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: link.searchParams.get('token') }),
  });
  assert.equal(login.status, 201);
  const session = (await login.json()) as DashboardSession;
  const runs = await fetch(new URL('/api/runs', link), {
    headers: { authorization: `Bearer ${session.token}` },
  });
  assert.equal(((await runs.json()) as { state: string }[])[0]!.state, 'complete');

  demo.kill('SIGINT');
  const [code] = await exited;
  assert.equal(code, 0);
  // The coordinator was still up when the demo stopped it: its own stop handler logged it.
  assert.match(await readFile(coordinatorLog, 'utf8'), /stopped by SIGTERM/);
  await assert.rejects(fetch(new URL('/dashboard/', link)), 'the coordinator stopped with it');
}
