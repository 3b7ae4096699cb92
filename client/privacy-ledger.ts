import { mkdir, open, readFile, truncate } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { fail, ok, parseWith, RdpAccountant, type Result } from '../protocol/index.js';

/** A site's own privacy ledger: one JSON per line, in its cache folder, never rewritten. */
export const PRIVACY_LEDGER_FILE = 'privacy-ledger.jsonl';

/** The delta a site accounts at when its config names none (the run's default too). */
export const DEFAULT_SITE_DELTA = 1e-5;

/**
 * One secure attempt the site masked its update into. It vouches only for its own noise: a
 * Gaussian mechanism with this multiplier (its per-coordinate stddev over the L2 norm it clipped
 * to; 0 when it added none), whatever the other sites or the coordinator did.
 */
export const ledgerEntrySchema = z
  .object({
    runId: z.string().min(1),
    round: z.number().int().min(1),
    attempt: z.number().int().min(0),
    noiseMultiplier: z.number().min(0),
    delta: z.number().gt(0).lt(1),
    at: z.iso.datetime(),
  })
  .strict();
export type LedgerEntry = z.infer<typeof ledgerEntrySchema>;

/**
 * Epsilon at `delta` of the entries composed: each a Gaussian mechanism at q = 1 (the site
 * trusts no sampling it cannot see), by the RDP accountant. An attempt without noise is
 * Infinity: nothing the site can vouch for.
 */
export function epsilonOf(
  entries: readonly Pick<LedgerEntry, 'noiseMultiplier'>[],
  delta: number,
): number {
  const accountant = new RdpAccountant();
  for (const entry of entries) accountant.step(1, entry.noiseMultiplier);
  return accountant.spent(delta).epsilon;
}

/**
 * The ledger file, read once and appended to. Every entry is on disk (fsynced) before the
 * masked update it counts is offered, so a crash cannot lose a spend; a last line without its
 * newline is a write that never completed, and so was never followed by a send.
 */
export class PrivacyLedger {
  private constructor(
    private readonly file: string,
    private readonly kept: LedgerEntry[],
    /** Where a torn last line starts, until the first record cuts it off. */
    private torn: number | undefined,
  ) {}

  static async open(cacheDir: string): Promise<Result<PrivacyLedger>> {
    const file = path.join(cacheDir, PRIVACY_LEDGER_FILE);
    let text = '';
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
        return fail('config.invalid', `cannot read ${file}: ${(error as Error).message}`);
    }
    const complete = text.lastIndexOf('\n') + 1;
    const lines = text.slice(0, complete).split('\n').slice(0, -1);
    const entries: LedgerEntry[] = [];
    for (const [i, line] of lines.entries()) {
      let raw: unknown;
      try {
        raw = JSON.parse(line);
      } catch {
        return fail('config.invalid', `${file}:${i + 1} is not JSON`);
      }
      const entry = parseWith(ledgerEntrySchema, raw, 'config.invalid', `${file}:${i + 1}`);
      if (!entry.ok) return entry;
      entries.push(entry.value);
    }
    const torn = complete < text.length ? Buffer.byteLength(text.slice(0, complete)) : undefined;
    return ok(new PrivacyLedger(file, entries, torn));
  }

  get entries(): readonly LedgerEntry[] {
    return this.kept;
  }

  /** Epsilon spent at `delta`, with `next` (one more attempt's multiplier) when given. */
  epsilon(delta: number, next?: number): number {
    return epsilonOf(
      next === undefined ? this.kept : [...this.kept, { noiseMultiplier: next }],
      delta,
    );
  }

  /** Appends the entry and waits until it is on disk. */
  async record(entry: LedgerEntry): Promise<void> {
    await mkdir(path.dirname(this.file), { recursive: true });
    // Only the site writes its ledger, so the torn line is cut here, not by a reader.
    if (this.torn !== undefined) await truncate(this.file, this.torn);
    this.torn = undefined;
    const handle = await open(this.file, 'a');
    try {
      await handle.appendFile(JSON.stringify(entry) + '\n');
      await handle.sync();
    } finally {
      await handle.close();
    }
    this.kept.push(entry);
  }
}
