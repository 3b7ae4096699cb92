import { contentHash, FedistillError, toHex, type Sodium } from '../../../protocol/index.js';
import type { ModelStore, StoredModel } from '../model-store.js';
import { checkBlobName, checkedBlob, toStoredModel, type ModelRow } from '../stored-rows.js';
import { NOW_ISO, type PostgresDatabase, type Queryable } from './postgres-database.js';

/** Big enough that a model is a few rows, small enough that no row strains a connection. */
export const BLOB_CHUNK_BYTES = 1024 * 1024;

const unavailable = (message: string) => new FedistillError({ code: 'store.unavailable', message });

/** Model versions in `models`; blobs in `blobs`, chunked, so that every node reads every blob. */
export class PostgresModelStore implements ModelStore {
  private readonly db: PostgresDatabase;
  private readonly sodium: Sodium;

  constructor(parts: { db: PostgresDatabase; sodium: Sodium }) {
    this.db = parts.db;
    this.sodium = parts.sodium;
  }

  /** Only inside the run store's transactions, which own when a version appears. */
  static async insert(client: Queryable, { runId, model }: { runId: string; model: StoredModel }) {
    await client.query(
      `INSERT INTO models (run_id, version, model_hash, optimizer_hash, mask_hash, created_at)
       VALUES ($1, $2, $3, $4, $5, ${NOW_ISO})`,
      [runId, model.version, model.modelHash, model.optimizerHash ?? null, model.maskHash ?? null],
    );
  }

  async get({ runId, version }: { runId: string; version: number }): Promise<StoredModel> {
    const [row] = await this.db.query<ModelRow>(
      `reading model version ${version} of run ${runId}`,
      'SELECT model_hash, optimizer_hash, mask_hash FROM models WHERE run_id = $1 AND version = $2',
      [runId, version],
    );
    return toStoredModel(row, { runId, version });
  }

  async writeBlob(bytes: Uint8Array): Promise<string> {
    const hash = toHex(contentHash(this.sodium, bytes));
    await this.db.transaction(`writing blob ${hash}`, { fenced: false }, async (client) => {
      // Chunk 0 even of an empty blob: a blob with no rows is one never written.
      for (let chunk = 0, at = 0; chunk === 0 || at < bytes.byteLength; chunk++) {
        const end = Math.min(at + BLOB_CHUNK_BYTES, bytes.byteLength);
        // Content-addressed: a chunk already there holds these very bytes.
        await client.query(
          'INSERT INTO blobs (hash, chunk, bytes) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
          [hash, chunk, Buffer.from(bytes.buffer, bytes.byteOffset + at, end - at)],
        );
        at = end;
      }
    });
    return hash;
  }

  async readBlob(hash: string): Promise<Uint8Array> {
    checkBlobName(hash);
    const rows = await this.db.query<{ bytes: Buffer }>(
      `reading blob ${hash}`,
      'SELECT bytes FROM blobs WHERE hash = $1 ORDER BY chunk',
      [hash],
    );
    if (rows.length === 0) throw unavailable(`the store has no blob ${hash}`);
    // A lost or changed chunk shows here too.
    return checkedBlob(this.sodium, hash, Buffer.concat(rows.map((row) => row.bytes)));
  }
}
