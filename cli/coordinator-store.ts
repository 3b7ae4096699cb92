import { loadCoordinatorConfig } from '../coordinator/config/coordinator-config.js';
import { SqliteStore } from '../coordinator/store/sqlite-store.js';
import { loadSodium } from '../protocol/index.js';

/**
 * Opens the store of the coordinator whose config this is, for one use, and closes it. The
 * coordinator may be running: the store waits briefly for its lock (WAL, busy timeout).
 */
export async function withCoordinatorStore<T>(
  configFile: string,
  use: (store: SqliteStore) => T,
): Promise<T> {
  const store = new SqliteStore(
    await loadSodium(),
    (await loadCoordinatorConfig(configFile)).storeFile,
  );
  try {
    return use(store);
  } finally {
    store.close();
  }
}
