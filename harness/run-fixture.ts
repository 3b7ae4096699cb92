import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Scenario } from '../cli/demo/scenarios.js';
import { prepareWorkspace, writeSiteConfig, type DemoWorkspace } from '../cli/demo/workspace.js';
import { runSite, type SiteLog, type SiteRunSummary } from '../client/site-client.js';
import { loadSiteConfig, type SiteConfig } from '../client/site-config.js';
import {
  loadCoordinatorConfig,
  type CoordinatorConfig,
} from '../coordinator/config/coordinator-config.js';
import { startCoordinator, type CoordinatorHandle } from '../coordinator/coordinator.js';
import type { ProtocolEvent } from '../coordinator/events/coordinator-events.js';
import type { RunReport } from '../coordinator/runs/run-report.js';

export interface RunFixture {
  readonly workspace: DemoWorkspace;
  readonly coordinator: CoordinatorHandle;
  /** Every protocol event the coordinator recorded, in order. */
  readonly protocolEvents: ProtocolEvent[];
  siteConfig(site: string): Promise<SiteConfig>;
  /**
   * Runs every site of the workspace (or those of `only`) to the end of the run; resolves with
   * them and the report.
   */
  runAllSites(
    adjust?: (config: SiteConfig) => SiteConfig,
    log?: SiteLog,
    only?: readonly string[],
  ): Promise<{ sites: SiteRunSummary[]; report: RunReport }>;
  dispose(): Promise<void>;
}

/**
 * Runs the workspace's sites (or those of `only`) against a running coordinator to the end of
 * its run; resolves with them and the report.
 */
export async function runWorkspaceSites(
  workspace: DemoWorkspace,
  coordinator: Pick<CoordinatorHandle, 'url' | 'finished'>,
  options: {
    adjust?: ((config: SiteConfig) => SiteConfig) | undefined;
    log?: SiteLog | undefined;
    only?: readonly string[] | undefined;
  } = {},
): Promise<{ sites: SiteRunSummary[]; report: RunReport }> {
  const { adjust = (config) => config, log, only = workspace.siteNames } = options;
  const configs = await Promise.all(
    only.map(async (site) =>
      loadSiteConfig(await writeSiteConfig(workspace, site, coordinator.url)),
    ),
  );
  const [sites, report] = await Promise.all([
    Promise.all(configs.map((c) => runSite(adjust(c), log))),
    coordinator.finished,
  ]);
  return { sites, report };
}

/**
 * A real coordinator (Nest, socket.io, libsodium, tfjs) on loopback over a real workspace:
 * bundled data split as the demo splits it (breast cancer unless a scenario says otherwise),
 * freshly generated keys.
 */
export async function startRunFixture(plan: {
  scenario?: Scenario;
  sites: number;
  rounds: number;
  seed?: number;
  blobChunkBytes?: number;
  adjust?: (config: CoordinatorConfig) => CoordinatorConfig;
}): Promise<RunFixture> {
  const dir = await mkdtemp(path.join(tmpdir(), 'fedistill-test-'));
  const workspace = await prepareWorkspace(dir, {
    ...(plan.scenario ? { scenario: plan.scenario } : {}),
    sites: plan.sites,
    rounds: plan.rounds,
    seed: plan.seed ?? 7,
    cacheDir: path.join(dir, 'cache'),
    ...(plan.blobChunkBytes ? { blobChunkBytes: plan.blobChunkBytes } : {}),
  });
  const loaded = await loadCoordinatorConfig(workspace.coordinatorConfigFile);
  const coordinator = await startCoordinator(plan.adjust ? plan.adjust(loaded) : loaded, {
    logLevels: false,
  });
  const protocolEvents: ProtocolEvent[] = [];
  const siteConfig = async (site: string): Promise<SiteConfig> =>
    loadSiteConfig(await writeSiteConfig(workspace, site, coordinator.url));
  coordinator.events.on('protocol', (event) => protocolEvents.push(event));
  return {
    workspace,
    coordinator,
    protocolEvents,
    siteConfig,
    runAllSites: (adjust, log, only) =>
      runWorkspaceSites(workspace, coordinator, { adjust, log, only }),
    dispose: async () => {
      await coordinator.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
