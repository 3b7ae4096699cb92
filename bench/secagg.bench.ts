import { performance } from 'node:perf_hooks';
import {
  degreeFor,
  dequantizeSum,
  loadSodium,
  quantizationParams,
  quantize,
  SecAggServer,
  SecAggSite,
  seededRandom,
  shuffleInPlace,
  unwrap,
  type IdentityKeyPair,
  type SecAggRoundSpec,
} from '../protocol/index.js';
import { recordResults, round } from './results.js';

/**
 * What SecAgg+ costs per round, figures only. For 10, 50 and 100 sites x 100,000 parameters:
 * plain aggregation (sum of float32 updates) against a whole SecAgg+ round simulated in one
 * process: every site's advertise, share, open, quantize and mask, and the coordinator's key
 * checks, relay, survivor set, signatures, unmask request and recovery, with 10% of sites
 * dropping after sharing keys (so their pairwise masks must be rebuilt from key shares). Degree
 * and threshold as runs default to (degreeFor: 5% corrupt, 10% dropout, failure 2^-20). Per
 * site: its own time (ms) and the bytes it sends (keys, sealed shares, masked input, signature,
 * unmask shares; names counted as UTF-8, no framing). Transport and training are not included.
 */
const PARAMETERS = 100_000;
const SITE_COUNTS = [10, 50, 100];
const DROP_FRACTION = 0.1;
const REPEATS = 3;

const sodium = await loadSodium();
const names = Array.from({ length: 100 }, (_, i) => `site-${String(i).padStart(3, '0')}`);
const identities = new Map<string, IdentityKeyPair>(
  names.map((n) => [n, sodium.crypto_sign_keypair()]),
);
const identityOf = (site: string) => identities.get(site)?.publicKey;
const random = seededRandom(7);
const updates = names.map(() =>
  Float32Array.from({ length: PARAMETERS }, () => (random() - 0.5) * 0.2),
);

/** Bytes of the Uint8Arrays and strings inside a plain object. */
function wireBytes(value: unknown): number {
  if (value instanceof Uint8Array || value instanceof Uint32Array) return value.byteLength;
  if (typeof value === 'string') return Buffer.byteLength(value);
  if (typeof value === 'number') return 8;
  if (Array.isArray(value)) return value.reduce((n: number, v) => n + wireBytes(v), 0);
  if (value !== null && typeof value === 'object') {
    return Object.values(value).reduce((n: number, v) => n + wireBytes(v), 0);
  }
  return 0;
}

function plainRound(n: number): number {
  const start = performance.now();
  const sum = new Float32Array(PARAMETERS);
  for (let s = 0; s < n; s++) {
    const u = updates[s]!;
    for (let i = 0; i < PARAMETERS; i++) sum[i]! += u[i]!;
  }
  return performance.now() - start;
}

function secAggRound(n: number, attempt: number) {
  const sites = names.slice(0, n);
  const { degree, threshold } = degreeFor(n);
  const round: SecAggRoundSpec = {
    context: { runId: 'bench', round: 1, attempt },
    participants: sites,
    graphSeed: 7,
    degree,
    threshold,
    dimension: PARAMETERS,
  };
  const dropped = new Set(
    shuffleInPlace([...sites], seededRandom(attempt)).slice(0, Math.floor(n * DROP_FRACTION)),
  );
  const params = unwrap(quantizationParams({ clip: 0.1, sites: n }));
  let siteMs = 0;
  let coordinatorMs = 0;
  let bytes = 0;
  const site = <T>(f: () => T): T => {
    const t0 = performance.now();
    const out = f();
    siteMs += performance.now() - t0;
    return out;
  };
  const coordinator = <T>(f: () => T): T => {
    const t0 = performance.now();
    const out = f();
    coordinatorMs += performance.now() - t0;
    return out;
  };

  const start = performance.now();
  const parties = site(() =>
    sites.map(
      (s) => new SecAggSite(sodium, { site: s, identity: identities.get(s)!, round, identityOf }),
    ),
  );
  const server = new SecAggServer(sodium, { round, identityOf });
  for (const party of parties) {
    const keys = site(() => unwrap(party.advertise()));
    bytes += wireBytes(keys);
    coordinator(() => unwrap(server.receiveKeys(keys)));
  }
  const rosters = coordinator(() => unwrap(server.rosters()));
  for (const party of parties) {
    const shares = site(() => unwrap(party.shareKeys(rosters.get(party.site)!)));
    bytes += wireBytes(shares);
    coordinator(() => unwrap(server.receiveShares(party.site, shares)));
  }
  const relayed = coordinator(() => unwrap(server.relay()));
  for (const [s, party] of parties.entries()) {
    const masked = site(() => {
      unwrap(party.receiveShares(relayed.get(party.site)!));
      const q = unwrap(quantize(updates[s]!, params, { kind: 'nearest' }));
      return unwrap(party.mask(q));
    });
    if (dropped.has(party.site)) continue;
    bytes += masked.byteLength + wireBytes(party.site);
    coordinator(() => unwrap(server.receiveMasked(party.site, masked)));
  }
  const set = coordinator(() => unwrap(server.survivorSet()));
  for (const party of parties) {
    if (dropped.has(party.site)) continue;
    const signature = site(() => unwrap(party.signSurvivors(set)));
    bytes += wireBytes(signature);
    coordinator(() => unwrap(server.receiveSignature(party.site, signature)));
  }
  const request = coordinator(() => unwrap(server.unmaskRequest()));
  for (const party of parties) {
    if (dropped.has(party.site)) continue;
    const response = site(() => unwrap(party.unmask(request)));
    bytes += wireBytes(response);
    coordinator(() => unwrap(server.receiveUnmask(response)));
  }
  coordinator(() => {
    const { sum, survivors } = unwrap(server.recover());
    unwrap(dequantizeSum(sum, params, survivors.length));
  });
  return {
    totalMs: performance.now() - start,
    siteMs,
    coordinatorMs,
    bytes,
    degree: server.neighbours!.degree,
    threshold,
    dropped: dropped.size,
  };
}

console.log(
  `SecAgg+ round vs plain float32 sum, ${PARAMETERS} parameters, ${DROP_FRACTION * 100}% dropped after sharing; best of ${REPEATS}`,
);
const figures: Record<string, number> = { parameters: PARAMETERS, drop_fraction: DROP_FRACTION };
for (const n of SITE_COUNTS) {
  plainRound(n);
  secAggRound(n, 100);
  const plain = Math.min(...Array.from({ length: REPEATS }, () => plainRound(n)));
  const runs = Array.from({ length: REPEATS }, (_, r) => secAggRound(n, r));
  const best = runs.reduce((a, b) => (b.totalMs < a.totalMs ? b : a));
  Object.assign(figures, {
    [`sites_${n}_plain_ms`]: round(plain, 1),
    [`sites_${n}_secagg_ms`]: round(best.totalMs),
    [`sites_${n}_secagg_sites_ms`]: round(best.siteMs),
    [`sites_${n}_secagg_coordinator_ms`]: round(best.coordinatorMs),
    [`sites_${n}_ratio`]: round(best.totalMs / plain),
    [`sites_${n}_per_site_ms`]: round(best.siteMs / n, 1),
    [`sites_${n}_per_site_kib_sent`]: round(best.bytes / n / 1024, 1),
  });
  console.log(
    `${String(n).padStart(3)} sites (k ${best.degree}, t ${best.threshold}, ${best.dropped} dropped): ` +
      `plain ${plain.toFixed(1)} ms, SecAgg+ ${best.totalMs.toFixed(0)} ms ` +
      `(sites ${best.siteMs.toFixed(0)} ms, coordinator ${best.coordinatorMs.toFixed(0)} ms), ` +
      `ratio ${(best.totalMs / plain).toFixed(0)}x; per site ${(best.siteMs / n).toFixed(1)} ms, ` +
      `${(best.bytes / n / 1024).toFixed(1)} KiB sent ` +
      `(a float32 update is ${((PARAMETERS * 4) / 1024).toFixed(1)} KiB)`,
  );
}
const peakMB = process.resourceUsage().maxRSS / 1024;
console.log(`peak memory: ${peakMB.toFixed(0)} MB`);
await recordResults('secagg', { ...figures, peak_memory_mb: round(peakMB) });
