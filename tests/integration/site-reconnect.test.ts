import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { prepareWorkspace, writeSiteConfig } from '../../cli/demo/workspace.js';
import { runSite } from '../../client/site-client.js';
import { loadSiteConfig } from '../../client/site-config.js';
import { loadCoordinatorConfig } from '../../coordinator/config/coordinator-config.js';
import { startCoordinator } from '../../coordinator/coordinator.js';
import { freePort } from '../../harness/free-port.js';

describe('a site whose coordinator is not up yet', () => {
  it('retries with backoff, joins once the coordinator listens, and completes the run', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fedistill-reconnect-'));
    try {
      const workspace = await prepareWorkspace(dir, {
        sites: 1,
        rounds: 2,
        seed: 5,
        cacheDir: path.join(dir, 'cache'),
      });
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      const siteConfig = await loadSiteConfig(await writeSiteConfig(workspace, 'site-1', url));
      const lines: string[] = [];
      let retried!: () => void;
      const retrying = new Promise<void>((resolve) => (retried = resolve));
      const site = runSite(
        { ...siteConfig, reconnect: { initialDelayMs: 100, maxDelayMs: 400, maxAttempts: 50 } },
        (line) => {
          lines.push(line);
          if (/retrying in \d+ ms/.test(line)) retried();
        },
      );
      // The coordinator starts only once the site has found it absent and backed off; a site
      // that fails meanwhile fails the test here.
      await Promise.race([retrying, site]);
      const config = await loadCoordinatorConfig(workspace.coordinatorConfigFile);
      const coordinator = await startCoordinator(
        { ...config, listen: { ...config.listen, port } },
        { logLevels: false },
      );
      try {
        const [summary, report] = await Promise.all([site, coordinator.finished]);
        assert.equal(summary.roundsTrained, 2);
        assert.equal(report.per_round.length, 2);
        assert.ok(
          lines.some((l) => /retrying in \d+ ms/.test(l)),
          'the site never had to retry',
        );
      } finally {
        await coordinator.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('gives up after its attempts with the reason', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fedistill-reconnect-'));
    try {
      const workspace = await prepareWorkspace(dir, {
        sites: 1,
        rounds: 1,
        seed: 5,
        cacheDir: path.join(dir, 'cache'),
      });
      const config = await loadSiteConfig(
        await writeSiteConfig(workspace, 'site-1', `http://127.0.0.1:${await freePort()}`),
      );
      await assert.rejects(
        runSite({ ...config, reconnect: { initialDelayMs: 10, maxDelayMs: 20, maxAttempts: 2 } }),
        /session\.closed: cannot reach/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a coordinator that restarts mid-run: the site reconnects, uses its cached teacher data, and finishes the new run', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fedistill-restart-'));
    try {
      const workspace = await prepareWorkspace(dir, {
        sites: 2,
        rounds: 2,
        seed: 5,
        cacheDir: path.join(dir, 'cache'),
      });
      const port = await freePort();
      const config = await loadCoordinatorConfig(workspace.coordinatorConfigFile);
      // Two sites are needed, only one comes: the first coordinator waits until it is stopped.
      const first = await startCoordinator(
        { ...config, listen: { ...config.listen, port } },
        { logLevels: false },
      );
      const siteConfig = await loadSiteConfig(
        await writeSiteConfig(workspace, 'site-1', `http://127.0.0.1:${port}`),
      );
      const lines: string[] = [];
      const ready = new Promise<void>((resolve) =>
        first.events.on(
          'protocol',
          (e) => e.peer === 'site-1' && e.kind === 'site.ready' && resolve(),
        ),
      );
      const site = runSite(
        { ...siteConfig, reconnect: { initialDelayMs: 100, maxDelayMs: 400, maxAttempts: 50 } },
        (line) => lines.push(line),
      );
      await ready;
      await first.close();
      // Other settings make another run; the first one's store would refuse them, so a new store.
      const second = await startCoordinator(
        {
          ...config,
          listen: { ...config.listen, port },
          run: { ...config.run!, minSites: 1 },
          storeFile: path.join(dir, 'second.db'),
        },
        { logLevels: false },
      );
      try {
        const [summary, report] = await Promise.all([site, second.finished]);
        assert.equal(report.run_id, second.runId);
        assert.equal(summary.runId, second.runId);
        assert.equal(summary.roundsTrained, 2);
        assert.ok(summary.sessions >= 2, `${summary.sessions} sessions`);
        assert.equal(summary.transferFromCache, true);
      } finally {
        await second.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
