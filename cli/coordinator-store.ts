import { loadCoordinatorConfig } from '../coordinator/config/coordinator-config.js';
import { openStore } from '../coordinator/store/open-store.js';
import type { CoordinatorStore } from '../coordinator/store/store.js';
import { loadSodium } from '../protocol/index.js';

/**
 * Opens the store of the coordinator whose config this is, for one use, and closes it. The
 * coordinator may be running: the store waits briefly for its lock (WAL, busy timeout).
 */
export async function withCoordinatorStore<T>(
  configFile: string,
  use: (store: CoordinatorStore) => T | Promise<T>,
): Promise<T> {
  const store = await openStore(await loadCoordinatorConfig(configFile), await loadSodium());
  try {
    return await use(store);
  } finally {
    await store.close();
  }
}
