import { dashboardLoginUrl } from '../../coordinator/api/tokens.js';
import { withCoordinatorStore } from '../coordinator-store.js';
import type { CoordinatorIpcMessage } from '../coordinator-ipc.js';
import { describeFailure, spawnParty, stopParties, type Party } from './parties.js';
import { progress } from './progress.js';
import { roundLine, teacherLine } from './terminal-lines.js';
import { writeSiteConfig, type DemoWorkspace } from './workspace.js';

type Listening = Extract<CoordinatorIpcMessage, { type: 'listening' }>;

export interface FederationPlan {
  readonly workspace: DemoWorkspace;
  readonly logDir: string;
  readonly rounds: number;
  /** The run prunes its student: each round's line shows the sparsity reached. */
  readonly pruning: boolean;
  /** Every party is stopped, and the federation fails, after this long. */
  readonly timeoutMs: number;
  /** The coordinator stays up after the last round (`--serve`) instead of exiting. */
  readonly serve: boolean;
  readonly interactive: boolean;
  readonly print: (line: string) => void;
}

/** A completed federation; with `serve`, its coordinator still up until `stop`. */
export interface Federation {
  /** A one-time operator link to the coordinator's dashboard. */
  readonly dashboard: string;
  /** Stops every party still running and waits until all have exited. */
  stop(): Promise<void>;
}

/**
 * Runs the coordinator and one process per site on loopback until the run completes: the
 * coordinator first (it trains its teacher before it listens), then the sites, once its URL is
 * known. Each round's line is printed as the coordinator reports it over IPC.
 */
export async function runFederation(plan: FederationPlan): Promise<Federation> {
  const { workspace, logDir, serve, print } = plan;
  const parties: Party[] = [];
  const timer = setTimeout(() => stopParties(parties), plan.timeoutMs);
  const rounds = progress({
    label: 'rounds',
    total: plan.rounds,
    print,
    interactive: plan.interactive,
  });
  let dashboard: string;
  try {
    // Its teacher is trained (unless cached) or imported before it listens.
    print(
      workspace.teacherLogitsFile
        ? "  starting the coordinator (it imports the teacher's logits first)"
        : '  starting the coordinator (it trains the teacher first, unless it is cached)',
    );
    const coordinator = await spawnParty({
      name: 'coordinator',
      args: [
        'coordinator',
        '--config',
        workspace.coordinatorConfigFile,
        ...(serve ? ['--serve'] : []),
      ],
      logDir,
    });
    parties.push(coordinator);
    let serving: Promise<void> = Promise.resolve();
    const listening = await new Promise<Listening>((resolve, reject) => {
      serving = new Promise((servingNow) => {
        coordinator.child.on('message', (message: CoordinatorIpcMessage) => {
          if (message.type === 'listening') resolve(message);
          if (message.type === 'serving') servingNow();
          if (message.type === 'round')
            rounds.update(
              message.summary.round,
              roundLine({ summary: message.summary, pruning: plan.pruning }),
            );
        });
      });
      void coordinator.exited.then(async (code) =>
        reject(await describeFailure(coordinator, code)),
      );
    });
    const { url, teacher } = listening;
    print(`  coordinator listening on ${url}`);
    // A one-time operator link, its token written to the coordinator's store.
    dashboard = await withCoordinatorStore(workspace.coordinatorConfigFile, (store) =>
      dashboardLoginUrl(store.tokens, url, 'demo'),
    );
    print(`Dashboard: ${dashboard}`);
    if (teacher) print(teacherLine(teacher));

    for (const site of workspace.siteNames) {
      const config = await writeSiteConfig(workspace, site, url);
      parties.push(
        await spawnParty({ name: site, args: ['site', 'start', '--config', config], logDir }),
      );
    }
    // With --serve the coordinator stays up after the run: it says so instead of exiting.
    const [, ...sites] = parties;
    for (const party of serve ? sites : parties) {
      const code = await party.exited;
      if (code !== 0) throw await describeFailure(party, code);
    }
    if (serve) {
      await Promise.race([
        serving,
        coordinator.exited.then(async (code) => {
          throw await describeFailure(coordinator, code);
        }),
      ]);
    }
  } catch (error) {
    stopParties(parties);
    throw error;
  } finally {
    rounds.stop();
    clearTimeout(timer);
    if (!serve) stopParties(parties);
  }
  return {
    dashboard,
    stop: async () => {
      stopParties(parties);
      await Promise.all(parties.map((p) => p.exited));
    },
  };
}
