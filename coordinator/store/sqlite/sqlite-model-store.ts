import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type Database from 'better-sqlite3';
import { contentHash, FedistillError, toHex, type Sodium } from '../../../protocol/index.js';
import type { ModelStore, StoredModel } from '../model-store.js';
import type { GroupCommit } from './group-commit.js';
import { writeDurably } from './durable-file.js';

/** Model versions in the `models` table; blobs as files `<hash>.bin` in the blob folder. */
export class SqliteModelStore implements ModelStore {
  private readonly db: Database.Database;
  private readonly sodium: Sodium;
  private readonly blobDir: string;
  private readonly commits: GroupCommit;

  constructor(parts: {
    db: Database.Database;
    sodium: Sodium;
    blobDir: string;
    commits: GroupCommit;
  }) {
    this.db = parts.db;
    this.commits = parts.commits;
    this.sodium = parts.sodium;
    this.blobDir = parts.blobDir;
  }

  /** Only inside the run store's transactions, which own when a version appears. */
  insert(row: { runId: string; model: StoredModel; at: string }): void {
    const { runId, model, at } = row;
    this.db
      .prepare(
        `INSERT INTO models (run_id, version, model_hash, optimizer_hash, mask_hash, created_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
      )
      .run(
        runId,
        model.version,
        model.modelHash,
        model.optimizerHash ?? null,
        model.maskHash ?? null,
        at,
      );
  }

  get({ runId, version }: { runId: string; version: number }): Promise<StoredModel> {
    return this.commits.read(() => {
      const row = this.db
        .prepare(
          'SELECT model_hash, optimizer_hash, mask_hash FROM models WHERE run_id = ? AND version = ?',
        )
        .get(runId, version) as
        { model_hash: string; optimizer_hash: string | null; mask_hash: string | null } | undefined;
      if (!row) {
        throw new FedistillError({
          code: 'store.unavailable',
          message: `the store has no model version ${version} of run ${runId}`,
        });
      }
      return {
        version,
        modelHash: row.model_hash,
        ...(row.optimizer_hash === null ? {} : { optimizerHash: row.optimizer_hash }),
        ...(row.mask_hash === null ? {} : { maskHash: row.mask_hash }),
      };
    });
  }

  async writeBlob(bytes: Uint8Array): Promise<string> {
    const hash = toHex(contentHash(this.sodium, bytes));
    await writeDurably(path.join(this.blobDir, `${hash}.bin`), bytes);
    return hash;
  }

  async readBlob(hash: string): Promise<Uint8Array> {
    if (!/^[0-9a-f]{64}$/.test(hash)) {
      throw new FedistillError({ code: 'store.unavailable', message: `bad blob hash ${hash}` });
    }
    const bytes = await readFile(path.join(this.blobDir, `${hash}.bin`));
    if (toHex(contentHash(this.sodium, bytes)) !== hash) {
      throw new FedistillError({
        code: 'store.unavailable',
        message: `blob ${hash} is corrupt: its content hash differs`,
      });
    }
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
}
