import { range, seededRandom, shuffleInPlace } from '../../../protocol/index.js';
import { plannedParticipants } from '../../privacy/run-privacy.js';

/**
 * An attempt's participants: a seeded choice (run seed, round and attempt) of
 * max(minSites, ceil(fraction x ready)) ready sites, so a rerun selects the same ones.
 */
export function selectParticipants(args: {
  readonly ready: readonly string[];
  readonly spec: { seed: number; minSites: number; participationFraction: number };
  readonly round: number;
  /** 0-based. */
  readonly attempt: number;
}): string[] {
  const { spec, round, attempt } = args;
  const sorted = [...args.ready].sort((a, b) => a.localeCompare(b));
  const count = plannedParticipants(spec, sorted.length);
  const order = shuffleInPlace(
    range(sorted.length),
    seededRandom(spec.seed * 1_000_003 + round * 101 + attempt),
  );
  return order.slice(0, count).map((i) => sorted[i]!);
}
