import { monitorEventLoopDelay } from 'node:perf_hooks';

/**
 * Loaded into the coordinator process by bench/scale (node --import) so the figures are the
 * coordinator's own: its memory, and its event-loop delay at 1 ms resolution. Asked over the
 * IPC channel with { type: 'probe', reset }, it answers { type: 'probe', ... }; `reset` starts
 * a new delay window after answering.
 */
export interface ProbeReply {
  readonly type: 'probe';
  readonly rss: number;
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly external: number;
  /** CPU time (user + system) of the process so far, ms. */
  readonly cpuMs: number;
  /** Event-loop delay of the window since the last reset, ms beyond the 1 ms sampling tick. */
  readonly lag: { readonly p50: number; readonly p99: number; readonly max: number };
}

export const PROBE_RESOLUTION_MS = 1;

const delay = monitorEventLoopDelay({ resolution: PROBE_RESOLUTION_MS });
delay.enable();
const ms = (ns: number): number => Math.max(0, ns / 1e6 - PROBE_RESOLUTION_MS);

process.on('message', (message: { type?: string; reset?: boolean }) => {
  if (message.type !== 'probe') return;
  const memory = process.memoryUsage();
  const cpu = process.cpuUsage();
  const reply: ProbeReply = {
    type: 'probe',
    rss: memory.rss,
    heapUsed: memory.heapUsed,
    heapTotal: memory.heapTotal,
    external: memory.external,
    cpuMs: (cpu.user + cpu.system) / 1000,
    lag: { p50: ms(delay.percentile(50)), p99: ms(delay.percentile(99)), max: ms(delay.max) },
  };
  if (message.reset) delay.reset();
  process.send?.(reply);
});
