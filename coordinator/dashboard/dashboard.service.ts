import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import type { RunListItem, RunSnapshot } from '../../protocol/index.js';
import { COORDINATOR_SETUP, type CoordinatorSetup } from '../coordinator-setup.js';
import { CoordinatorEvents } from '../events/coordinator-events.js';
import { RunsService } from '../runs/runs.service.js';
import { COORDINATOR_STORE, type CoordinatorStore } from '../store/store.js';
import { buildRunView, runListItem } from './run-view.js';

/**
 * Builds what the dashboard shows from the store and the active run, and keeps the per-site
 * traffic the store does not (protocol bytes by enrolled site, since this process started).
 */
@Injectable()
export class DashboardService implements OnApplicationBootstrap {
  private readonly bytes = new Map<string, { up: number; down: number }>();
  private readonly backends = new Map<string, string>();
  /**
   * Per run, the last round each site's update was folded into, as of `closed` rounds: only
   * rounds closed since are read again (a full read is a scan of every update of the run).
   */
  private readonly lastRounds = new Map<string, { closed: number; bySite: Map<string, number> }>();
  /** Names in the registry, read again whenever the allow-list changes. */
  private enrolled = new Set<string>();

  constructor(
    @Inject(COORDINATOR_SETUP) private readonly setup: CoordinatorSetup,
    @Inject(COORDINATOR_STORE) private readonly store: CoordinatorStore,
    private readonly runs: RunsService,
    events: CoordinatorEvents,
  ) {
    events.on('allowList', () => void this.readRegistry());
    events.on('protocol', (event) => {
      // Before its handshake completes a peer is a socket id: only enrolled names are counted.
      if (!this.enrolled.has(event.peer)) return;
      let entry = this.bytes.get(event.peer);
      if (!entry) this.bytes.set(event.peer, (entry = { up: 0, down: 0 }));
      if (event.direction === 'in') entry.up += event.bytes;
      else entry.down += event.bytes;
    });
  }

  /** After the sites service synced the registry at its module init. */
  async onApplicationBootstrap(): Promise<void> {
    await this.readRegistry();
  }

  private async readRegistry(): Promise<void> {
    this.enrolled = new Set((await this.store.sites.list()).map((s) => s.name));
  }

  async runList(): Promise<RunListItem[]> {
    const runs = await this.runs.list();
    return Promise.all(
      runs.map(async (status) => {
        const closed = await this.store.runs.closedRounds(status.id);
        return runListItem(status, this.setup.config.data.name, closed[closed.length - 1]);
      }),
    );
  }

  private async lastRoundBySite(runId: string, closed: number): Promise<Map<string, number>> {
    let known = this.lastRounds.get(runId);
    if (!known) this.lastRounds.set(runId, (known = { closed: 0, bySite: new Map() }));
    if (closed !== known.closed) {
      for (const [site, round] of await this.store.updates.lastRoundBySite({
        runId,
        afterRound: known.closed,
      })) {
        known.bySite.set(site, round);
      }
      known.closed = closed;
    }
    return known.bySite;
  }

  /** The run's whole view now, or undefined for an unknown run. */
  async runView(id: string): Promise<RunSnapshot | undefined> {
    const status = await this.runs.status(id);
    if (!status) return undefined;
    for (const site of status.live?.sites ?? []) {
      if (site.backend) this.backends.set(site.site, site.backend);
    }
    return buildRunView({
      status,
      dataset: this.setup.config.data.name,
      closedRounds: await this.store.runs.closedRounds(id),
      attempts: await this.store.runs.roundAttempts(id),
      registry: await this.store.sites.list(),
      lastRounds: await this.lastRoundBySite(id, status.roundsClosed),
      bytes: this.bytes,
      backends: this.backends,
    });
  }
}
