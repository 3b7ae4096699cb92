import { issueToken } from '../../coordinator/api/tokens.js';
import { openSqliteStore } from '../../coordinator/store/sqlite/open-sqlite-store.js';
import { loadSodium } from '../../protocol/index.js';

/**
 * An API token written into a running coordinator's store over a second connection, as
 * `fedistill token create` does, without the cost of a CLI process.
 */
export async function apiToken(storeFile: string, role: 'operator' | 'auditor'): Promise<string> {
  const store = openSqliteStore({ sodium: await loadSodium(), file: storeFile });
  try {
    return (await issueToken(store.tokens, { name: `test-${role}`, role, kind: 'api' })).secret;
  } finally {
    await store.close();
  }
}
