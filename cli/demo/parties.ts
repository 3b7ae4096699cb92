import { fork, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The CLI itself: each party is `fedistill coordinator` or `fedistill site start`. */
const MAIN = fileURLToPath(new URL('../main.js', import.meta.url));
/** Enough of a failed party's log to show why, without burying the demo's own lines. */
const FAILURE_LOG_LINES = 15;

/** A coordinator or site running as its own process, its output in its own log file. */
export interface Party {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logFile: string;
  readonly exited: Promise<number>;
}

/** Starts `fedistill <args>` as the party `name`, logging to `<logDir>/<name>.log`. */
export async function spawnParty({
  name,
  args,
  logDir,
}: {
  readonly name: string;
  readonly args: readonly string[];
  readonly logDir: string;
}): Promise<Party> {
  const logFile = path.join(logDir, `${name}.log`);
  const log = createWriteStream(logFile);
  await new Promise((resolve) => log.once('open', resolve));
  // Logs are files, not terminals: no colour codes in them.
  const child = fork(MAIN, [...args], {
    stdio: ['ignore', log, log, 'ipc'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  const exited = new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
  return { name, child, logFile, exited };
}

function tail(text: string, lines: number): string {
  return text
    .trimEnd()
    .split('\n')
    .slice(-lines)
    .map((l) => `    ${l}`)
    .join('\n');
}

/** The error a failed party leaves the demo with: its exit code and the end of its log. */
export async function describeFailure(party: Party, code: number): Promise<Error> {
  const log = await readFile(party.logFile, 'utf8').catch(() => '');
  return new Error(
    `${party.name} exited with code ${code}; the end of ${party.logFile}:\n${tail(log, FAILURE_LOG_LINES)}`,
  );
}

/** Asks every party still running to stop. */
export function stopParties(parties: readonly Party[]): void {
  for (const p of parties) if (p.child.exitCode === null) p.child.kill('SIGTERM');
}
