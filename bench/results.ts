import { readFile, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';

/** bench/results.json in the source tree (benches run from dist/bench). */
export const RESULTS_FILE = fileURLToPath(new URL('../../bench/results.json', import.meta.url));

export type Figures = Record<string, number | string>;

export interface BenchResults {
  machine: { cpus: string; cpu_count: number; memory_gib: number; node: string; platform: string };
  recorded_at: string;
  benches: Record<string, Figures>;
}

function machine(): BenchResults['machine'] {
  const all = cpus();
  return {
    cpus: all[0]?.model.trim() ?? 'unknown',
    cpu_count: all.length,
    memory_gib: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
}

export async function readResults(): Promise<BenchResults | undefined> {
  const text = await readFile(RESULTS_FILE, 'utf8').catch(() => undefined);
  return text === undefined ? undefined : (JSON.parse(text) as BenchResults);
}

/**
 * Merges one bench's figures into bench/results.json, replacing that bench's earlier figures
 * and leaving the others; the machine and the time are this run's.
 */
export async function recordResults(bench: string, figures: Figures): Promise<void> {
  const previous = await readResults();
  const results: BenchResults = {
    machine: machine(),
    recorded_at: new Date().toISOString(),
    benches: { ...previous?.benches, [bench]: figures },
  };
  await writeFile(RESULTS_FILE, JSON.stringify(results, null, 2) + '\n');
}

/** Rounds a figure for the record: `digits` after the point. */
export const round = (value: number, digits = 0): number =>
  Math.round(value * 10 ** digits) / 10 ** digits;
