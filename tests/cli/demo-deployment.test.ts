import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { writeDeployment } from '../../cli/demo/deployment.js';
import { runSite } from '../../client/site-client.js';
import { loadSiteConfig } from '../../client/site-config.js';
import { loadCoordinatorConfig } from '../../coordinator/config/coordinator-config.js';
import { startCoordinator } from '../../coordinator/coordinator.js';

describe('fedistill demo-deployment: the party folders docker/compose.yaml mounts', () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'fedistill-deployment-'));
    await writeDeployment(dir, {
      sites: 3,
      rounds: 2,
      seed: 5,
      coordinatorUrl: 'http://coordinator:8080',
    });
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('gives each party only its own key, data and config (sites: and the public allow-list)', async () => {
    assert.deepEqual((await readdir(dir)).sort(), ['coordinator', 'site-1', 'site-2', 'site-3']);
    assert.deepEqual((await readdir(path.join(dir, 'coordinator'))).sort(), [
      'allow-list.json',
      'coordinator.json',
      'coordinator.key',
      'coordinator.pub',
      'held-out.csv',
      'public.csv',
    ]);
    for (const site of ['site-1', 'site-2', 'site-3']) {
      assert.deepEqual((await readdir(path.join(dir, site))).sort(), [
        'allow-list.json',
        'private.csv',
        `${site}.key`,
        'site.yaml',
      ]);
    }
  });

  it('runs as written: the coordinator from its folder, each site from its own', async () => {
    const config = await loadCoordinatorConfig(path.join(dir, 'coordinator', 'coordinator.json'));
    assert.deepEqual(config.listen, { ...config.listen, host: '0.0.0.0', port: 8080 });
    // On loopback here, instead of the compose network's names.
    const coordinator = await startCoordinator(
      { ...config, listen: { ...config.listen, host: '127.0.0.1', port: 0 } },
      { logLevels: false },
    );
    try {
      const sites = await Promise.all(
        ['site-1', 'site-2', 'site-3'].map(async (site) => {
          const loaded = await loadSiteConfig(path.join(dir, site, 'site.yaml'));
          assert.equal(loaded.coordinator.url, 'http://coordinator:8080');
          return runSite({
            ...loaded,
            coordinator: { ...loaded.coordinator, url: coordinator.url },
          });
        }),
      );
      const report = await coordinator.finished;
      assert.equal(report.per_round.length, 2);
      assert.deepEqual(
        sites.map((s) => s.roundsTrained),
        [2, 2, 2],
      );
    } finally {
      await coordinator.close();
    }
  });

  it("listens on 0.0.0.0 at the port of the coordinator's URL", async () => {
    const other = await mkdtemp(path.join(tmpdir(), 'fedistill-deployment-port-'));
    try {
      await writeDeployment(other, {
        sites: 3,
        rounds: 1,
        seed: 5,
        coordinatorUrl: 'http://127.0.0.1:8089',
      });
      const config = JSON.parse(
        await readFile(path.join(other, 'coordinator', 'coordinator.json'), 'utf8'),
      ) as { listen: { host: string; port: number } };
      assert.deepEqual(config.listen, { host: '0.0.0.0', port: 8089 });
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });

  it('with --postgres and --standby-url: the state in PostgreSQL, and every site knows the standby', async () => {
    const other = await mkdtemp(path.join(tmpdir(), 'fedistill-deployment-nodes-'));
    try {
      const url = 'postgres://fedistill@postgres:5432/fedistill';
      await writeDeployment(other, {
        sites: 2,
        rounds: 1,
        seed: 5,
        coordinatorUrl: 'http://coordinator:8080',
        postgres: url,
        fallbackUrls: ['http://coordinator-b:8080'],
      });
      const config = await loadCoordinatorConfig(
        path.join(other, 'coordinator', 'coordinator.json'),
      );
      assert.deepEqual(config.store, { kind: 'postgres', url, poolSize: 10, leaseMs: 10_000 });
      for (const site of ['site-1', 'site-2']) {
        const siteConfig = await loadSiteConfig(path.join(other, site, 'site.yaml'));
        assert.equal(siteConfig.coordinator.url, 'http://coordinator:8080');
        assert.deepEqual(siteConfig.coordinator.fallbackUrls, ['http://coordinator-b:8080']);
      }
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });

  it('the nodes override: a standby on the same folder and PostgreSQL, no port published, the password only from the environment', async () => {
    const read = async (name: string) =>
      parse(
        await readFile(fileURLToPath(new URL(`../../../docker/${name}`, import.meta.url)), 'utf8'),
        // Compose applies YAML merge keys (`<<: *anchor`).
        { merge: true },
      ) as {
        services: Record<
          string,
          {
            ports?: string[];
            volumes?: string[];
            environment?: Record<string, string>;
            depends_on?: Record<string, { condition: string }>;
          }
        >;
      };
    const base = await read('compose.yaml');
    const nodes = await read('compose.nodes.yaml');
    for (const [name, service] of Object.entries(nodes.services)) {
      assert.equal(service.ports, undefined, `${name} publishes a port`);
    }
    const standby = nodes.services['coordinator-b']!;
    assert.deepEqual(standby.volumes, base.services['coordinator']!.volumes);
    assert.equal(standby.depends_on?.['coordinator']?.condition, 'service_healthy');
    const secret = '${FEDISTILL_PG_PASSWORD:?set FEDISTILL_PG_PASSWORD}';
    assert.equal(nodes.services['postgres']!.environment?.['POSTGRES_PASSWORD'], secret);
    for (const name of ['coordinator', 'coordinator-b']) {
      assert.equal(nodes.services[name]!.environment?.['PGPASSWORD'], secret, name);
      assert.equal(nodes.services[name]!.depends_on?.['postgres']?.condition, 'service_healthy');
    }
  });

  it("the compose file publishes the coordinator's port on the host's loopback only, and no site's", async () => {
    const compose = parse(
      await readFile(
        fileURLToPath(new URL('../../../docker/compose.yaml', import.meta.url)),
        'utf8',
      ),
    ) as { services: Record<string, { ports?: string[] }> };
    for (const [name, service] of Object.entries(compose.services)) {
      if (name === 'coordinator') {
        assert.deepEqual(service.ports, ['${FEDISTILL_PUBLISH_HOST:-127.0.0.1}:8080:8080']);
      } else {
        assert.equal(service.ports, undefined, name);
      }
    }
  });
});
