import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PRIVACY_LEDGER_FILE } from '../../client/privacy-ledger.js';
import type { SitePrivacyStatus } from '../../client/site-status.js';

const MAIN = fileURLToPath(new URL('../../cli/main.js', import.meta.url));
const run = promisify(execFile);

/** A site folder: its config (with `privacy` when given) and a ledger of two attempts at z = 1. */
async function siteWithLedger(privacy?: object): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'fedistill-site-status-'));
  await mkdir(path.join(dir, 'cache'));
  const entry = (attempt: number) =>
    JSON.stringify({
      runId: 'run-1',
      round: 1,
      attempt,
      noiseMultiplier: 1,
      delta: 1e-5,
      at: '2025-01-01T00:00:00.000Z',
    });
  await writeFile(path.join(dir, 'cache', PRIVACY_LEDGER_FILE), `${entry(0)}\n${entry(1)}\n`);
  const config = path.join(dir, 'site.yaml');
  await writeFile(
    config,
    [
      'coordinator: { url: "http://127.0.0.1:1", publicKey: "' + 'A'.repeat(43) + '=" }',
      'identityFile: site.key',
      'data: { kind: csv, path: private.csv }',
      'cacheDir: cache',
      ...(privacy ? [`privacy: ${JSON.stringify(privacy)}`] : []),
    ].join('\n'),
  );
  return config;
}

describe('fedistill site status', () => {
  it('prints the ledger: attempts, epsilon at delta, the budget left and the floor', async () => {
    const config = await siteWithLedger({ minNoiseMultiplier: 0.5, maxEpsilon: 10 });
    const { stdout } = await run(process.execPath, [MAIN, 'site', 'status', '--config', config]);
    // Two attempts at z = 1 spend what one at z = 1/sqrt(2) does: 7.0774 at delta 1e-5.
    assert.match(stdout, /attempts counted: 2 \(1 run\(s\), failed attempts included\)/);
    assert.match(stdout, /epsilon spent: 7\.0774 at delta 0\.00001/);
    assert.match(stdout, /budget: 10, left 2\.9226; floor: noise multiplier 0\.5/);
  });

  it('--json: the same for machines; without a privacy block nothing is enforced', async () => {
    const config = await siteWithLedger();
    const { stdout } = await run(process.execPath, [
      MAIN,
      'site',
      'status',
      '--config',
      config,
      '--json',
    ]);
    const status = JSON.parse(stdout) as SitePrivacyStatus;
    assert.equal(status.attempts, 2);
    assert.equal(status.runs, 1);
    assert.equal(status.delta, 1e-5);
    assert.ok(Math.abs(status.epsilon - 7.077391578) < 1e-8);
    assert.equal(status.enforced, undefined);
    assert.equal(status.ledger, path.join(path.dirname(config), 'cache', PRIVACY_LEDGER_FILE));
  });
});
