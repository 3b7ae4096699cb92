import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Logger } from '@nestjs/common';
import type { CoordinatorSetup } from '../coordinator-setup.js';
import type { CoordinatorEvents } from '../events/coordinator-events.js';
import type { RunStore } from '../store/store.js';
import type { RunReport } from './run-report.js';

/**
 * How often this process's traffic is written to the store while the run goes on, besides each
 * audited step: a crash loses at most this much of it from the report.
 */
const TRAFFIC_CHECKPOINT_MS = 1_000;

/**
 * This process's share of a run's traffic, kept in the store so that the report of a run that
 * outlived a crash counts every process that served it: their bytes summed, and the wall time
 * from the first one's start (the time the run took, downtime included).
 */
export class RunTrafficLedger {
  private readonly process = randomUUID();
  /** When this process began starting, on the epoch clock the processes share. */
  private readonly startedAt: number;
  private timer: NodeJS.Timeout | undefined;
  private written = { bytesUp: -1, bytesDown: -1 };

  constructor(
    private readonly runId: string,
    private readonly parts: {
      readonly setup: CoordinatorSetup;
      readonly events: CoordinatorEvents;
      readonly store: RunStore;
    },
  ) {
    this.startedAt = Math.round(Date.now() - (performance.now() - parts.setup.startedAt));
  }

  /** Records this process's share now and then every TRAFFIC_CHECKPOINT_MS until `stop`. */
  start(): void {
    void this.checkpoint();
    // Real time, not the run's Clock: this measures the process, it is no round rule.
    this.timer ??= setInterval(() => void this.checkpoint(), TRAFFIC_CHECKPOINT_MS).unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The run's traffic and wall time up to now, over every process; checkpointing stops. */
  async close(): Promise<Pick<RunReport, 'bytes_up' | 'bytes_down' | 'wall_seconds'>> {
    this.stop();
    await this.checkpoint();
    const total = (await this.parts.store.traffic(this.runId))!;
    return {
      bytes_up: total.bytesUp,
      bytes_down: total.bytesDown,
      wall_seconds: (Date.now() - total.startedAt) / 1000,
    };
  }

  /** Records this process's share as it stands (nothing when it has not changed). */
  async checkpoint(): Promise<void> {
    const { bytesIn: bytesUp, bytesOut: bytesDown } = this.parts.events;
    // An idle run writes nothing: each write is an fsync'd transaction.
    if (bytesUp === this.written.bytesUp && bytesDown === this.written.bytesDown) return;
    const { runId, process, startedAt } = this;
    this.written = { bytesUp, bytesDown };
    try {
      await this.parts.store.recordTraffic({ runId, process, startedAt, bytesUp, bytesDown });
    } catch (error) {
      // The run's own next commit meets the same store and stops the run; this only counts.
      new Logger('Runs').warn(`traffic not recorded: ${(error as Error).message}`);
      this.stop();
    }
  }
}
