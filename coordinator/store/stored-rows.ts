import {
  contentHash,
  FedistillError,
  toHex,
  type RunState,
  type Sodium,
} from '../../protocol/index.js';
import type { StoredModel } from './model-store.js';
import type { StoredRun } from './run-store.js';
import type { TokenRecord } from './token-store.js';

// The rows both SQL backends keep, by the same column names, and how each becomes a record.

export interface RunRow {
  id: string;
  spec_hash: string;
  state: RunState;
  next_round: number;
  attempt: number;
  last_closed_round: number;
  model_version: number;
  created_at: string;
  updated_at: string;
}

/** `spec` as parsed: SQLite keeps it as text, PostgreSQL's driver parses its json column. */
export const toRun = (row: RunRow, spec: unknown): StoredRun => ({
  id: row.id,
  specHash: row.spec_hash,
  spec,
  state: row.state,
  nextRound: row.next_round,
  attempt: row.attempt,
  lastClosedRound: row.last_closed_round,
  modelVersion: row.model_version,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

export interface TokenRow {
  id: string;
  name: string;
  role: TokenRecord['role'];
  kind: TokenRecord['kind'];
  created_at: string;
  revoked_at: string | null;
  expires_at: string | null;
}

export const toToken = (row: TokenRow): TokenRecord => ({
  id: row.id,
  name: row.name,
  role: row.role,
  kind: row.kind,
  createdAt: row.created_at,
  ...(row.revoked_at === null ? {} : { revokedAt: row.revoked_at }),
  ...(row.expires_at === null ? {} : { expiresAt: row.expires_at }),
});

export interface ModelRow {
  model_hash: string;
  optimizer_hash: string | null;
  mask_hash: string | null;
}

/** The version's row, or `store.unavailable` when the run has no such version. */
export function toStoredModel(
  row: ModelRow | undefined,
  model: { runId: string; version: number },
): StoredModel {
  if (!row) {
    throw new FedistillError({
      code: 'store.unavailable',
      message: `the store has no model version ${model.version} of run ${model.runId}`,
    });
  }
  return {
    version: model.version,
    modelHash: row.model_hash,
    ...(row.optimizer_hash === null ? {} : { optimizerHash: row.optimizer_hash }),
    ...(row.mask_hash === null ? {} : { maskHash: row.mask_hash }),
  };
}

/** Refuses a name that is not a BLAKE2b-256 hash in hex before anything is read under it. */
export function checkBlobName(hash: string): void {
  if (!/^[0-9a-f]{64}$/.test(hash)) {
    throw new FedistillError({ code: 'store.unavailable', message: `bad blob hash ${hash}` });
  }
}

/** The bytes read under `hash`, if they hash to it: a corrupt blob is never returned. */
export function checkedBlob(sodium: Sodium, hash: string, bytes: Buffer): Uint8Array {
  if (toHex(contentHash(sodium, bytes)) !== hash) {
    throw new FedistillError({
      code: 'store.unavailable',
      message: `blob ${hash} is corrupt: its content hash differs`,
    });
  }
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
