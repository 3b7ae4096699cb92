import { progress } from '../demo/progress.js';

/** Off a terminal, a line at each tenth of the rows, or this often, whichever comes first. */
const PLAIN_LINE_EVERY_MS = 30_000;

/**
 * Rows finished (labelled or failed) out of those this run asks for: the demo's bar on a
 * terminal, a line now and then in a log, where a line per row would bury everything else.
 */
export function labelProgress({
  total,
  print,
  interactive,
}: {
  readonly total: number;
  readonly print: (line: string) => void;
  readonly interactive: boolean;
}): { row(finished: number, failed: number): void; stop(): void } {
  const shown = progress({ label: 'labelling', total, print, interactive });
  const step = Math.ceil(total / 10);
  let lastShown = 0;
  let lastAt = Date.now();
  return {
    row: (finished, failed) => {
      const due =
        interactive ||
        finished === total ||
        finished - lastShown >= step ||
        Date.now() - lastAt >= PLAIN_LINE_EVERY_MS;
      if (!due) return;
      lastShown = finished;
      lastAt = Date.now();
      const line = `${failed} failed`;
      shown.update(finished, interactive ? line : `rows ${finished}/${total}, ${line}`);
    },
    stop: () => shown.stop(),
  };
}
