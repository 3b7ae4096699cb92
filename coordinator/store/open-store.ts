import type { Sodium } from '../../protocol/index.js';
import type { CoordinatorConfig } from '../config/coordinator-config.js';
import { openPostgresStore } from './postgres/open-postgres-store.js';
import { openSqliteStore } from './sqlite/open-sqlite-store.js';
import type { CoordinatorStore } from './store.js';

/** The store the config names: SQLite at `storeFile`, or the PostgreSQL server at `store.url`. */
export async function openStore(
  config: Pick<CoordinatorConfig, 'store' | 'storeFile'>,
  sodium: Sodium,
): Promise<CoordinatorStore> {
  const { store } = config;
  if (store.kind === 'postgres') {
    return openPostgresStore({
      sodium,
      url: store.url,
      poolSize: store.poolSize,
      idleInTransactionMs: store.leaseMs,
    });
  }
  return openSqliteStore({ sodium, file: config.storeFile });
}
