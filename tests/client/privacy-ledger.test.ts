import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import {
  epsilonOf,
  PRIVACY_LEDGER_FILE,
  PrivacyLedger,
  type LedgerEntry,
} from '../../client/privacy-ledger.js';
import { unwrap } from '../../protocol/index.js';

const entry = (attempt: number, noiseMultiplier: number): LedgerEntry => ({
  runId: 'run-1',
  round: 1,
  attempt,
  noiseMultiplier,
  delta: 1e-5,
  at: '2025-01-01T00:00:00.000Z',
});
const z = (noiseMultiplier: number) => ({ noiseMultiplier });

describe("a site's own privacy ledger", () => {
  it('accounts one attempt as the Gaussian mechanism at q = 1: RDP alpha / (2 z^2), by hand', () => {
    // eps = min over orders of alpha/(2 z^2) - (ln delta + ln alpha)/(alpha - 1) + ln((alpha - 1)/alpha).
    // z = 1, delta 1e-5: at alpha 5.4, 2.7 + (11.5129 - 1.6864)/4.4 + ln(4.4/5.4) = 4.72851.
    assert.ok(Math.abs(epsilonOf([z(1)], 1e-5) - 4.728507067) < 1e-8);
    // z = 2: at alpha 9.6, 1.2 + (11.5129 - 2.2618)/8.6 + ln(8.6/9.6) = 2.16572.
    assert.ok(Math.abs(epsilonOf([z(2)], 1e-5) - 2.165715659) < 1e-8);
  });

  it('composes attempts: k at z spend what one at z / sqrt(k) does (RDP adds)', () => {
    const four = epsilonOf([z(1), z(1), z(1), z(1)], 1e-5);
    assert.ok(Math.abs(four - epsilonOf([z(0.5)], 1e-5)) < 1e-9);
    assert.ok(Math.abs(four - 10.725509696) < 1e-8);
  });

  it('spends nothing with no attempts, and without bound after an attempt without noise', () => {
    assert.equal(epsilonOf([], 1e-5), 0);
    assert.equal(epsilonOf([z(1), z(0)], 1e-5), Infinity);
  });

  it('keeps every entry across openings, and cuts a torn last line before the next entry', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fedistill-ledger-'));
    const cacheDir = path.join(dir, 'cache');
    const first = unwrap(await PrivacyLedger.open(cacheDir));
    assert.equal(first.entries.length, 0);
    await first.record(entry(0, 1));
    await first.record(entry(1, 1));
    const file = path.join(cacheDir, PRIVACY_LEDGER_FILE);
    // A crash in the middle of a write: it never completed, so nothing was sent after it.
    await appendFile(file, '{"runId":"run-1","rou');
    const reopened = unwrap(await PrivacyLedger.open(cacheDir));
    assert.deepEqual(reopened.entries, [entry(0, 1), entry(1, 1)]);
    assert.equal(reopened.epsilon(1e-5), epsilonOf([z(1), z(1)], 1e-5));
    assert.equal(reopened.epsilon(1e-5, 1), epsilonOf([z(1), z(1), z(1)], 1e-5));
    await reopened.record(entry(2, 2));
    const lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
    assert.deepEqual(
      lines.map((l) => JSON.parse(l) as LedgerEntry),
      [entry(0, 1), entry(1, 1), entry(2, 2)],
    );
  });

  it('refuses a ledger with a line that is not an entry', async () => {
    const cacheDir = await mkdtemp(path.join(tmpdir(), 'fedistill-ledger-'));
    await appendFile(path.join(cacheDir, PRIVACY_LEDGER_FILE), '{"runId":"run-1"}\n');
    const opened = await PrivacyLedger.open(cacheDir);
    assert.equal(opened.ok, false);
  });
});
