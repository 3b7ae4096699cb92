import { readFile } from 'node:fs/promises';
import { loadFederationKeys } from './federation-keys.js';
import {
  decodeKey,
  FedistillError,
  identityFileSchema,
  identityKeyPair,
  loadSodium,
  readJsonFile,
  selectBackend,
  unwrap,
} from '../protocol/index.js';
import { CoordinatorConnection } from './coordinator-connection.js';
import { isTextSource, loadPrivateData, loadPrivateTexts } from './data-sources/private-data.js';
import { splitPrivate } from './data-sources/private-split.js';
import { splitPrivateTexts } from './data-sources/private-texts.js';
import { PrivacyLedger } from './privacy-ledger.js';
import { RETRYABLE_CODES, SessionLoop, type SiteLog, type SiteRunSummary } from './session-loop.js';
import type { SiteConfig } from './site-config.js';
import { TransferCache } from './transfer-cache.js';

export type { SiteLog, SiteRunSummary } from './session-loop.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs one site through one federated run: handshake, transfer-set sync, then one local
 * training per round until the coordinator says the run is complete. When the coordinator is
 * unreachable or the connection drops, it reconnects with exponential backoff and carries on
 * (a transfer-set download resumes from the first chunk it lacks). Private data is read here;
 * only weight deltas, the example count and scalar validation metrics leave this function.
 */
export async function runSite(
  config: SiteConfig,
  log: SiteLog = () => {},
): Promise<SiteRunSummary> {
  const sodium = await loadSodium();
  const identityFile = unwrap(await readJsonFile(config.identityFile, identityFileSchema));
  const backend = unwrap(await selectBackend(config.backend));
  const ca = config.coordinator.caFile && (await readFile(config.coordinator.caFile, 'utf8'));
  log(`site ${identityFile.name}: compute backend ${backend}`);
  const { validationFraction, seed } = config;
  const split = isTextSource(config.data)
    ? splitPrivateTexts(unwrap(await loadPrivateTexts(config.data)), validationFraction, seed)
    : splitPrivate(unwrap(await loadPrivateData(config.data)), validationFraction, seed);
  const loop = new SessionLoop({
    sodium,
    config,
    cache: new TransferCache(sodium, config.cacheDir),
    ledger: unwrap(await PrivacyLedger.open(config.cacheDir)),
    ...(config.federation
      ? { federation: await loadFederationKeys(config.federation.allowListFile) }
      : {}),
    split,
    backend,
    identity: identityKeyPair(identityFile),
    site: identityFile.name,
    log,
  });
  const { initialDelayMs, maxDelayMs, maxAttempts } = config.reconnect;
  const urls = [config.coordinator.url, ...config.coordinator.fallbackUrls];
  try {
    for (let failures = 0, at = 0; ; at = (at + 1) % urls.length) {
      const url = urls[at]!;
      const opened = await CoordinatorConnection.open({
        sodium,
        url,
        ...(ca ? { ca } : {}),
        identity: identityKeyPair(identityFile),
        pinnedCoordinatorKey: decodeKey(config.coordinator.publicKey),
      });
      let error = opened.ok ? undefined : opened.error;
      if (opened.ok) {
        log(`site ${identityFile.name}: session established with ${url}`);
        failures = 0;
        const outcome = await loop.serve(opened.value);
        if ('summary' in outcome) return outcome.summary;
        error = outcome.dropped;
      }
      if (!error || !RETRYABLE_CODES.includes(error.code) || failures >= maxAttempts) {
        throw new FedistillError(error ?? { code: 'session.closed', message: 'the session ended' });
      }
      const delay =
        Math.min(maxDelayMs, initialDelayMs * 2 ** failures) * (0.5 + Math.random() / 2);
      failures++;
      log(
        `site ${identityFile.name}: ${error.message}; retrying in ${Math.round(delay)} ms (attempt ${failures} of ${maxAttempts})`,
      );
      await sleep(delay);
    }
  } finally {
    loop.dispose();
  }
}
