import { loadCoordinatorConfig } from '../coordinator/config/coordinator-config.js';
import { openSqliteStore } from '../coordinator/store/sqlite/open-sqlite-store.js';
import type { CoordinatorStore } from '../coordinator/store/store.js';
import { loadSodium } from '../protocol/index.js';

/**
 * Opens the store of the coordinator whose config this is, for one use, and closes it. The
 * coordinator may be running: the store waits briefly for its lock (WAL, busy timeout).
 */
export async function withCoordinatorStore<T>(
  configFile: string,
  use: (store: CoordinatorStore) => T,
): Promise<T> {
  const store = openSqliteStore({
    sodium: await loadSodium(),
    file: (await loadCoordinatorConfig(configFile)).storeFile,
  });
  try {
    return use(store);
  } finally {
    store.close();
  }
}
