import { Logger } from '@nestjs/common';
import { FedistillError } from '../../protocol/index.js';
import type { CoordinatorStore, Lease } from '../store/store.js';

/** The lease that says which coordinator process conducts the federation's runs. */
export const LEADER_LEASE = 'coordinator';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * This process holds the leader lease: its store is fenced at the lease's epoch, and the lease
 * is renewed every third of its time. Processes sharing a PostgreSQL store wait in `take` until
 * the lease is free (its holder released it or stopped renewing), so a crashed leader's run is
 * resumed by the next process in line, from the store, within one lease time. A leader that
 * cannot renew in time (paused, cut off from the store) has lost: it is told through `lost`,
 * and the fence has already refused whatever it tried to write after its successor took over.
 */
export class Leadership {
  private readonly logger = new Logger('Leadership');
  private timer: NodeJS.Timeout | undefined;
  private renewedAt: number;
  /** Settles with the reason when the lease is lost; never when it is released. */
  readonly lost: Promise<Error>;
  private loseWith!: (error: Error) => void;

  private constructor(
    private readonly store: CoordinatorStore,
    private lease: Lease,
    private readonly ttlMs: number,
  ) {
    this.renewedAt = Date.now();
    this.lost = new Promise((resolve) => (this.loseWith = resolve));
    store.fence({ name: lease.name, epoch: lease.epoch });
    this.timer = setInterval(() => void this.renew(), Math.max(50, ttlMs / 3));
    this.timer.unref();
  }

  /** Takes the lease if it is free now; undefined if another process holds it. */
  static async tryTake(
    store: CoordinatorStore,
    options: { ttlMs: number; holder: string },
  ): Promise<Leadership | undefined> {
    const lease = await store.leases.acquire({ name: LEADER_LEASE, ...options });
    if (!lease) return undefined;
    new Logger('Leadership').log(
      `this process (${options.holder}) leads, lease epoch ${lease.epoch}`,
    );
    return new Leadership(store, lease, options.ttlMs);
  }

  /** Waits until this process holds the lease (or `signal` aborts the wait), then holds it. */
  static async take(
    store: CoordinatorStore,
    options: { ttlMs: number; holder: string; signal?: AbortSignal },
  ): Promise<Leadership> {
    const { ttlMs, holder, signal } = options;
    let told = '';
    for (;;) {
      signal?.throwIfAborted();
      const taken = await Leadership.tryTake(store, { ttlMs, holder });
      if (taken) return taken;
      const current = await store.leases.current(LEADER_LEASE);
      if (current && current.holder !== told) {
        told = current.holder;
        new Logger('Leadership').log(
          `standing by: ${current.holder} leads (lease epoch ${current.epoch}); this process takes over if it stops renewing`,
        );
      }
      await sleep(Math.max(50, ttlMs / 4));
    }
  }

  get epoch(): number {
    return this.lease.epoch;
  }

  private async renew(): Promise<void> {
    const { name, holder } = this.lease;
    try {
      const renewed = await this.store.leases.acquire({ name, holder, ttlMs: this.ttlMs });
      // The next epoch means the lease lapsed (this process stalled past it) and nobody else
      // took it meanwhile: every epoch another holder took would have come in between.
      if (renewed && renewed.epoch <= this.lease.epoch + 1) {
        if (renewed.epoch !== this.lease.epoch) {
          this.logger.warn(`the lease lapsed unclaimed; taken again at epoch ${renewed.epoch}`);
          this.store.fence({ name, epoch: renewed.epoch });
        }
        this.lease = renewed;
        this.renewedAt = Date.now();
        return;
      }
      this.lose(`another process took the lease (epoch ${renewed?.epoch ?? 'unknown'})`);
    } catch (error) {
      // A store that does not answer for a whole lease time may have let a successor in.
      if (Date.now() - this.renewedAt >= this.ttlMs) {
        this.lose(`the lease could not be renewed: ${(error as Error).message}`);
      }
    }
  }

  private lose(reason: string): void {
    if (!this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
    this.logger.error(`leadership lost: ${reason}`);
    this.loseWith(new FedistillError({ code: 'store.fenced', message: reason }));
  }

  /** Gives the lease up now, so that the next process need not wait out its time. */
  async release(): Promise<void> {
    if (!this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
    const { name, holder, epoch } = this.lease;
    await this.store.leases.release({ name, holder, epoch }).catch(() => undefined);
  }
}
