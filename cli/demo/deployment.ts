import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { formatJson, prepareWorkspace, siteConfigFor } from './workspace.js';

/**
 * Writes the demo as containers hold it (docker/compose.yaml): one folder per party, each
 * mounted alone into its container, holding only that party's key, data and config, with paths
 * relative to the folder. The coordinator listens on 0.0.0.0 inside its container (so other
 * containers reach it), on the port of `coordinatorUrl`, where the compose network's sites reach it; the compose file publishes that
 * port on the host's loopback only unless FEDISTILL_PUBLISH_HOST says otherwise. Returns the
 * folders written.
 */
/** The port a URL names, or its scheme's default. */
function urlPort(url: string): number {
  const parsed = new URL(url);
  return parsed.port ? Number(parsed.port) : parsed.protocol === 'https:' ? 443 : 80;
}

export async function writeDeployment(
  out: string,
  plan: {
    sites: number;
    rounds: number;
    seed: number;
    coordinatorUrl: string;
    /**
     * A PostgreSQL URL: the coordinator's state goes there, so that more coordinator
     * processes (docker/compose.nodes.yaml) share it, one leading and the others standing by.
     */
    postgres?: string;
    /** The standbys as the sites reach them, tried in turn after `coordinatorUrl`. */
    fallbackUrls?: readonly string[];
  },
): Promise<string[]> {
  const staging = path.join(out, '.staging');
  const workspace = await prepareWorkspace(staging, {
    sites: plan.sites,
    rounds: plan.rounds,
    seed: plan.seed,
    cacheDir: 'cache',
  });
  const { keys } = workspace;
  const coordinatorDir = path.join(out, 'coordinator');
  await mkdir(coordinatorDir, { recursive: true });
  const staged = JSON.parse(await readFile(workspace.coordinatorConfigFile, 'utf8')) as {
    run: unknown;
    data: unknown;
  };
  await copyFile(keys.coordinatorIdentity, path.join(coordinatorDir, 'coordinator.key'));
  await copyFile(keys.allowList, path.join(coordinatorDir, 'allow-list.json'));
  // The public half, for the sites' operators to pin and the auditor to verify the log with.
  await copyFile(
    path.join(path.dirname(keys.coordinatorIdentity), 'coordinator.pub'),
    path.join(coordinatorDir, 'coordinator.pub'),
  );
  for (const file of ['public.csv', 'held-out.csv']) {
    await copyFile(
      path.join(path.dirname(workspace.coordinatorConfigFile), file),
      path.join(coordinatorDir, file),
    );
  }
  const coordinatorConfig = {
    listen: { host: '0.0.0.0', port: urlPort(plan.coordinatorUrl) },
    identityFile: 'coordinator.key',
    allowListFile: 'allow-list.json',
    data: staged.data,
    run: staged.run,
    cacheDir: 'cache',
    reportFile: 'report.json',
    exportDir: 'export',
    backend: 'auto',
    ...(plan.postgres ? { store: { kind: 'postgres', url: plan.postgres } } : {}),
  };
  await writeFile(path.join(coordinatorDir, 'coordinator.json'), formatJson(coordinatorConfig));
  const written = [coordinatorDir];
  for (const site of workspace.siteNames) {
    const siteDir = path.join(out, site);
    await mkdir(siteDir, { recursive: true });
    await copyFile(keys.siteIdentities[site]!, path.join(siteDir, `${site}.key`));
    await copyFile(keys.allowList, path.join(siteDir, 'allow-list.json'));
    await copyFile(
      path.join(staging, 'sites', site, 'private.csv'),
      path.join(siteDir, 'private.csv'),
    );
    // JSON is YAML: the images read site.yaml.
    const config = siteConfigFor({
      url: plan.coordinatorUrl,
      fallbackUrls: plan.fallbackUrls ?? [],
      coordinatorPublicKey: keys.coordinatorPublicKey,
      identityFile: `${site}.key`,
      allowListFile: 'allow-list.json',
    });
    await writeFile(path.join(siteDir, 'site.yaml'), formatJson(config));
    written.push(siteDir);
  }
  await rm(staging, { recursive: true, force: true });
  return written;
}
