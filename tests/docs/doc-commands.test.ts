import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm, symlink } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { codeBlocks, type CodeBlock } from '../support/markdown-blocks.js';

/** The repository root: this file runs as dist/tests/docs/doc-commands.test.js. */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** What a reader's clone has after `npm install && npm run build`, and all a page's commands use. */
const CLONE_ENTRIES = ['package.json', 'node_modules', 'dist'];
const PAGE_TIMEOUT_MS = 240_000;

/** The pages a newcomer reads: the README and every page under docs/. */
async function pages(): Promise<string[]> {
  const docs = (await readdir(path.join(ROOT, 'docs'))).filter((name) => name.endsWith('.md'));
  return ['README.md', ...docs.sort().map((name) => `docs/${name}`)];
}

/**
 * A page's `sh` blocks: each runs, unless its info string says `skip: <why>` (a Docker engine,
 * a cluster, minutes of benchmarks). Any other word after `sh` is refused, so that a typo cannot
 * quietly take a block out of the test.
 */
function shellBlocks(page: string, markdown: string) {
  const blocks = codeBlocks(markdown).filter((block) => block.lang === 'sh');
  for (const block of blocks) {
    assert.ok(
      block.meta === '' || /^skip: \S/.test(block.meta),
      `${page}:${block.line}: a sh block is run, or says "skip: <why>", not "${block.meta}"`,
    );
  }
  return {
    run: blocks.filter((block) => block.meta === ''),
    skipped: blocks.filter((block) => block.meta !== ''),
  };
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  return port;
}

/**
 * Runs a page's blocks in order as one bash script, as a reader pastes them into one terminal,
 * in a fresh folder that holds what their clone has. `PORT` is a free one (the pages default it
 * to 8080). Each block first prints its place, so a failure names the block it happened in.
 */
async function runPage(page: string, blocks: readonly CodeBlock[]): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'fedistill-docs-'));
  for (const entry of CLONE_ENTRIES) await symlink(path.join(ROOT, entry), path.join(dir, entry));
  const script = [
    'set -euo pipefail',
    ...blocks.map((block) => `echo "### ${page}:${block.line}" >&2\n${block.text}`),
  ].join('\n');
  // Its own process group, so whatever a page left in the background goes with it.
  const child = spawn('bash', ['-c', script], {
    cwd: dir,
    detached: true,
    env: { ...process.env, PORT: String(await freePort()) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), PAGE_TIMEOUT_MS);
  try {
    const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
    assert.equal(
      code,
      0,
      `${page}: its commands failed (${signal ?? `exit ${code}`}); the last lines:\n${output.slice(-4000)}`,
    );
  } finally {
    clearTimeout(timer);
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // The group has already exited.
    }
    await rm(dir, { recursive: true, force: true });
  }
}

describe("the docs' commands, run as a reader runs them in a fresh clone", async () => {
  for (const page of await pages()) {
    const { run, skipped } = shellBlocks(page, await readFile(path.join(ROOT, page), 'utf8'));
    describe(page, () => {
      if (run.length > 0) {
        it(`runs its ${run.length} block(s) in order`, { timeout: PAGE_TIMEOUT_MS + 10_000 }, () =>
          runPage(page, run),
        );
      }
      for (const block of skipped) it.skip(`${page}:${block.line} ${block.meta}`);
    });
  }
});
