import { appendFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import {
  ok,
  verifyTreeHead,
  type Result,
  type SignedTreeHead,
  type Sodium,
} from '../protocol/index.js';

/** The signed audit-log heads the coordinator sent, one JSON per line, in the cache folder. */
export const TREE_HEADS_FILE = 'tree-heads.jsonl';

/**
 * Keeps a signed head of the coordinator's audit log, once its signature checks against the
 * pinned coordinator key: the site's own record of the history it was shown.
 */
export async function keepTreeHead(
  options: {
    readonly sodium: Sodium;
    readonly coordinatorKey: Uint8Array;
    readonly cacheDir: string;
  },
  head: SignedTreeHead,
): Promise<Result<true>> {
  const verified = verifyTreeHead(options.sodium, options.coordinatorKey, head);
  if (!verified.ok) return verified;
  await mkdir(options.cacheDir, { recursive: true });
  await appendFile(path.join(options.cacheDir, TREE_HEADS_FILE), JSON.stringify(head) + '\n');
  return ok(true);
}
