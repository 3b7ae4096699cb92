import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadCoordinatorConfig } from '../../coordinator/config/coordinator-config.js';
import { apiToken } from '../support/api-token.js';
import { startRunFixture, type RunFixture } from '../support/run-fixture.js';

const modeOf = async (file: string): Promise<number> => (await stat(file)).mode & 0o777;

/** Every file and folder under `dir` with its permission bits. */
async function modesUnder(dir: string): Promise<{ file: string; mode: number; dir: boolean }[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return Promise.all(
    entries.map(async (entry) => {
      const file = path.join(entry.parentPath, entry.name);
      return { file, mode: await modeOf(file), dir: entry.isDirectory() };
    }),
  );
}

/**
 * What the coordinator leaves on disk and sends in headers, as someone else on the machine or
 * a cache between it and the operator would see it. The umask is 000 for the whole test: every
 * mode must come from the code, not from a careful shell.
 */
describe('data at rest and HTTP headers at a live coordinator', () => {
  let fixture: RunFixture;
  let storeFile: string;
  let cacheDir: string;
  let previousUmask: number;

  before(async () => {
    previousUmask = process.umask(0);
    fixture = await startRunFixture({ sites: 1, rounds: 1 });
    ({ storeFile, cacheDir } = await loadCoordinatorConfig(
      fixture.workspace.coordinatorConfigFile,
    ));
  });

  after(async () => {
    await fixture.dispose();
    process.umask(previousUmask);
  });

  it('the store, its WAL, its blobs and the teacher cache are owner-only under umask 000', async () => {
    assert.equal(await modeOf(storeFile), 0o600, 'coordinator.db');
    for (const companion of [`${storeFile}-wal`, `${storeFile}-shm`]) {
      if (existsSync(companion)) assert.equal(await modeOf(companion), 0o600, companion);
    }
    assert.equal(await modeOf(`${storeFile}.blobs`), 0o700, 'the blobs folder');
    const written = [...(await modesUnder(`${storeFile}.blobs`)), ...(await modesUnder(cacheDir))];
    assert.ok(
      written.some((entry) => !entry.dir),
      'no blob or cached teacher was written',
    );
    for (const entry of written) assert.equal(entry.mode, entry.dir ? 0o700 : 0o600, entry.file);
  });

  it('secret keys and their folder are owner-only under umask 000; public keys are not writable by others', async () => {
    const { keys } = fixture.workspace;
    assert.equal(await modeOf(path.dirname(keys.coordinatorIdentity)), 0o700);
    for (const secret of [keys.coordinatorIdentity, ...Object.values(keys.siteIdentities)]) {
      assert.equal(await modeOf(secret), 0o600, secret);
    }
    const publicKey = path.join(path.dirname(keys.coordinatorIdentity), 'coordinator.pub');
    for (const shared of [publicKey, keys.allowList]) {
      assert.equal((await modeOf(shared)) & 0o022, 0, shared);
    }
  });

  it('the API and /metrics are never cached and name no framework; /metrics needs a token', async () => {
    const { url } = fixture.coordinator;
    const auditor = await apiToken(storeFile, 'auditor');
    const bearer = { authorization: `Bearer ${auditor}` };
    const anonymousApi = await fetch(`${url}/api/runs`);
    assert.equal(anonymousApi.status, 401);
    const api = await fetch(`${url}/api/runs`, { headers: bearer });
    assert.equal(api.status, 200);
    const anonymousMetrics = await fetch(`${url}/metrics`);
    assert.equal(anonymousMetrics.status, 401);
    assert.doesNotMatch(await anonymousMetrics.text(), /fedistill_/);
    const metrics = await fetch(`${url}/metrics`, { headers: bearer });
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), /^fedistill_sites_connected \d+$/m);
    for (const response of [anonymousApi, api, anonymousMetrics, metrics]) {
      assert.equal(response.headers.get('cache-control'), 'no-store', response.url);
      assert.equal(response.headers.get('x-powered-by'), null, response.url);
      // Plain HTTP: HSTS means something only over HTTPS (tests/hostile/transport.test.ts).
      assert.equal(response.headers.get('strict-transport-security'), null);
    }
  });
});
