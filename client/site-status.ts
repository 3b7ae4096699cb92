import path from 'node:path';
import { ok, type Result } from '../protocol/index.js';
import { siteDelta } from './privacy-guard.js';
import { PRIVACY_LEDGER_FILE, PrivacyLedger } from './privacy-ledger.js';
import type { SiteConfig } from './site-config.js';

/** What a site's own ledger says: `fedistill site status`, and the demo's report. */
export interface SitePrivacyStatus {
  readonly ledger: string;
  /** Secure attempts masked into, failed ones included. */
  readonly attempts: number;
  readonly runs: number;
  /** Spent at `delta` with the site's own noise alone; Infinity after an attempt without noise. */
  readonly epsilon: number;
  readonly delta: number;
  /** With a privacy config: the floor and budget it enforces, and what is left of the budget. */
  readonly enforced?: {
    readonly minNoiseMultiplier: number;
    readonly maxEpsilon: number;
    readonly left: number;
  };
}

export async function sitePrivacyStatus(config: SiteConfig): Promise<Result<SitePrivacyStatus>> {
  const ledger = await PrivacyLedger.open(config.cacheDir);
  if (!ledger.ok) return ledger;
  const { entries } = ledger.value;
  const delta = siteDelta(config.privacy);
  const epsilon = ledger.value.epsilon(delta);
  const { privacy } = config;
  return ok({
    ledger: path.join(config.cacheDir, PRIVACY_LEDGER_FILE),
    attempts: entries.length,
    runs: new Set(entries.map((e) => e.runId)).size,
    epsilon,
    delta,
    ...(privacy
      ? {
          enforced: {
            minNoiseMultiplier: privacy.minNoiseMultiplier,
            maxEpsilon: privacy.maxEpsilon,
            left: Math.max(0, privacy.maxEpsilon - epsilon),
          },
        }
      : {}),
  });
}
