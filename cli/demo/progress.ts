import cliProgress from 'cli-progress';

/** How far a long step has come: a bar with ETA on a terminal, plain lines elsewhere. */
export interface Progress {
  /** `done` of the total steps are finished; `line` describes the last one. */
  update(done: number, line: string): void;
  stop(): void;
}

/**
 * On a terminal, a bar with ETA that keeps to one line; in a log, CI or a test's pipe, one
 * line per step instead, so that every step stays on record and can be searched.
 */
export function progress({
  label,
  total,
  print,
  interactive,
}: {
  readonly label: string;
  readonly total: number;
  readonly print: (line: string) => void;
  /** stdout is a terminal. */
  readonly interactive: boolean;
}): Progress {
  if (!interactive) {
    return { update: (_done, line) => print(line), stop: () => undefined };
  }
  const bar = new cliProgress.SingleBar({
    format: `  ${label} [{bar}] {value}/{total}  ETA {eta_formatted}  {line}`,
    barsize: 24,
    hideCursor: true,
    etaBuffer: 4,
    stream: process.stdout,
  });
  let started = false;
  return {
    update: (done, line) => {
      if (!started) bar.start(total, 0, { line: '' });
      started = true;
      bar.update(done, { line: line.trim() });
    },
    stop: () => {
      if (started) bar.stop();
    },
  };
}
