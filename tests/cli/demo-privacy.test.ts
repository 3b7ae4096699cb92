import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { DemoReport } from '../../cli/demo/demo-report.js';

const MAIN = fileURLToPath(new URL('../../cli/main.js', import.meta.url));
const run = promisify(execFile);

describe('fedistill demo --dp-epsilon 8 --secure-aggregation', () => {
  let dir: string;
  let stdout: string;
  let report: DemoReport;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'fedistill-demo-privacy-'));
    const out = path.join(dir, 'run');
    ({ stdout } = await run(
      process.execPath,
      [MAIN, 'demo', '--rounds', '4', '--dp-epsilon', '8', '--secure-aggregation', '--out', out],
      { cwd: dir, timeout: 5 * 60_000 },
    ));
    report = JSON.parse(await readFile(path.join(out, 'report.json'), 'utf8')) as DemoReport;
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes the privacy block: epsilon within the budget, delta, z, C, distributed noise', () => {
    const privacy = report.privacy!;
    assert.equal(report.secure_aggregation, true);
    assert.equal(privacy.secure_aggregation, true);
    assert.equal(privacy.noise, 'distributed');
    assert.equal(privacy.delta, 1e-5);
    assert.equal(privacy.clip_norm, 1);
    assert.ok(privacy.noise_multiplier > 0);
    assert.ok(privacy.epsilon <= 8 && privacy.epsilon > 7.9, `epsilon ${privacy.epsilon}`);
    assert.equal(report.per_round.length, 4);
    assert.equal(report.per_round[3]!.epsilon, privacy.epsilon);
    // Seeded selection: every round accounted at q = 1, and the report says so.
    assert.deepEqual(privacy.sampling, { method: 'seeded', q: 1 });
    assert.deepEqual(
      report.per_round.map((r) => r.sampling_rate),
      [1, 1, 1, 1],
    );
    assert.match(stdout, /secure aggregation +SecAgg\+/);
    assert.match(stdout, /privacy +epsilon 7\.\d{3} of 8/);
  });

  it("adds each site's own epsilon, from its ledger: every attempt it masked into, its noise alone", () => {
    const own = report.privacy!.sites_own!;
    assert.match(own.meaning, /trusting neither the coordinator nor the other sites/);
    assert.deepEqual(
      own.per_site.map((s) => s.site),
      report.scenario.sites.map((s) => s.name),
    );
    for (const site of own.per_site) {
      assert.equal(site.attempts, 4);
      assert.equal(site.delta, 1e-5);
      // Each site adds only 1/sqrt(sites) of the run's noise: it spends more than the run.
      assert.ok(site.epsilon > report.privacy!.epsilon, `${site.site}: ${site.epsilon}`);
    }
    assert.match(stdout, /sites' own epsilon +site-1 \d+\.\d{3} \(4 attempts\)/);
  });
});
