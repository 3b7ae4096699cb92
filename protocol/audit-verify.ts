import { z } from 'zod';
import { canonicalJson } from './canonical-json.js';
import { toHex } from './content-hash.js';
import { fail, ok, unwrap, type FedistillIssue, type Result } from './errors.js';
import { MerkleTree } from './merkle.js';
import { parseWith } from './parse.js';
import type { Sodium } from './sodium.js';
import { verifyTreeHead, type SignedTreeHead } from './tree-head.js';

/** One audit event in the log; its seq is its leaf index, counted from 0. */
export const auditEntrySchema = z
  .object({
    seq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    event: z.custom<Record<string, unknown>>(
      (v) => typeof v === 'object' && v !== null && !Array.isArray(v),
      { message: 'must be a JSON object' },
    ),
  })
  .strict();

export type AuditEntry = z.infer<typeof auditEntrySchema>;

/** What an auditor is handed: every entry in seq order, and every tree head in issue order. */
export const auditLogExportSchema = z
  .object({
    entries: z.array(auditEntrySchema),
    // Checked one by one with verifyTreeHead, so that a failure names its head.
    treeHeads: z.array(z.unknown()),
  })
  .strict();

export type AuditLogExport = z.infer<typeof auditLogExportSchema>;

/** The leaf data of an entry: UTF-8 of the canonical JSON of {"event": ..., "seq": ...}. */
export function auditLeaf(entry: AuditEntry): Result<Uint8Array> {
  const json = canonicalJson({ event: entry.event, seq: entry.seq });
  return json.ok ? ok(new TextEncoder().encode(json.value)) : json;
}

export interface AuditReport {
  readonly entries: number;
  readonly treeHeads: number;
  /** Entries the last tree head covers. Those after it are not yet tamper-evident. */
  readonly coveredSize: number;
  /** Root of the whole log, hex: what the next tree head signs if the log is not changed. */
  readonly root: string;
  /**
   * prefixRoots[k]: the root of the first k entries, hex; a head of size k that a site holds
   * belongs to this history exactly when it signs prefixRoots[k].
   */
  readonly prefixRoots: readonly string[];
}

function within(prefix: readonly (string | number)[], issue: FedistillIssue): Result<never> {
  return fail(issue.code, issue.message, [...prefix, ...(issue.path ?? [])]);
}

/**
 * Verifies an exported audit log offline, against the coordinator's public key alone. Every
 * tree head must be well formed, signed by that key, and in order (size and time never go
 * back). The entries are then replayed in order: each must carry the next seq, and whenever the
 * log reaches a head's size, the recomputed root must be the head's. Every head thus matches a
 * prefix of one log, which is what consistency between successive heads means; a verifier that
 * holds only heads, such as a site, checks it with verifyConsistency instead.
 *
 * The first failure in log order is returned, with a path to it:
 * - a deleted, duplicated, inserted or reordered entry whose seq was left alone is named by its
 *   position (`entries.<i>.seq`), the seq numbering showing the gap or repeat;
 * - a changed entry (or one hidden by renumbering the seqs) shows only as a head whose root
 *   differs. A root covers its leaves as a whole, so the change is placed between the last head
 *   that matched and the first that does not: `entries.<seq>` when that span is one entry (a head
 *   after every entry), else `treeHeads.<i>` with the span in the message;
 * - a head covering more entries than the log holds names the missing seqs.
 *
 * What it cannot detect: a change to entries after the last head (`coveredSize` says how far the
 * heads reach; a finished run should end with a head over the whole log), the removal of heads
 * themselves, or a log rewritten and re-signed by someone holding the coordinator's key. Against
 * those the auditor compares the heads with ones collected independently, such as the heads
 * each site received during the run.
 */
export function verifyAuditLog(
  sodium: Sodium,
  coordinatorKey: Uint8Array,
  exported: unknown,
): Result<AuditReport> {
  const parsed = parseWith(auditLogExportSchema, exported, 'audit.malformed', 'audit log');
  if (!parsed.ok) return parsed;
  const { entries } = parsed.value;
  const checked = checkTreeHeads(sodium, coordinatorKey, parsed.value.treeHeads);
  if (!checked.ok) return checked;
  const heads = checked.value;

  const tree = new MerkleTree();
  // roots[k]: the recomputed root of the first k entries, to compare with entry k's prevRoot.
  const roots = [toHex(unwrap(tree.root()))];
  let next = 0; // the first head not yet compared
  let trusted = 0; // entries [0, trusted) are as the last matching head signed them
  const compareDueHeads = (): Result<true> => {
    for (; next < heads.length && heads[next]!.size === tree.size; next += 1) {
      if (toHex(unwrap(tree.root())) !== heads[next]!.root) {
        const changed = locateChange(entries, roots, trusted, heads[next]!.size);
        return changed === undefined
          ? rootMismatch(next, heads[next]!, trusted)
          : fail(
              'audit.root_mismatch',
              `entry seq ${changed} is not the one tree head ${next} (size ${heads[next]!.size}) signed: ` +
                'it was changed, or put in place of another',
              ['entries', changed],
            );
      }
      trusted = tree.size;
    }
    return ok(true);
  };

  for (const [position, entry] of entries.entries()) {
    const due = compareDueHeads();
    if (!due.ok) return due;
    if (entry.seq !== position) return sequenceError(entries, position);
    const leaf = auditLeaf(entry);
    if (!leaf.ok) return within(['entries', position], leaf.error);
    tree.append(leaf.value);
    roots.push(toHex(unwrap(tree.root())));
  }
  const due = compareDueHeads();
  if (!due.ok) return due;
  const beyond = heads[next];
  if (beyond !== undefined) {
    return fail(
      'audit.truncated',
      `tree head ${next} covers ${beyond.size} entries but the log holds ${entries.length}: ` +
        `seq ${entries.length}..${beyond.size - 1} are missing`,
      ['treeHeads', next],
    );
  }
  return ok({
    entries: entries.length,
    treeHeads: heads.length,
    coveredSize: heads.at(-1)?.size ?? 0,
    root: toHex(unwrap(tree.root())),
    prefixRoots: roots,
  });
}

function checkTreeHeads(
  sodium: Sodium,
  coordinatorKey: Uint8Array,
  raw: readonly unknown[],
): Result<SignedTreeHead[]> {
  const heads: SignedTreeHead[] = [];
  for (const [i, candidate] of raw.entries()) {
    const head = verifyTreeHead(sodium, coordinatorKey, candidate);
    if (!head.ok) return within(['treeHeads', i], head.error);
    const previous = heads.at(-1);
    if (
      previous !== undefined &&
      (head.value.size < previous.size || Date.parse(head.value.time) < Date.parse(previous.time))
    ) {
      return fail(
        'audit.head_order',
        `tree head ${i} (size ${head.value.size} at ${head.value.time}) goes back from tree ` +
          `head ${i - 1} (size ${previous.size} at ${previous.time})`,
        ['treeHeads', i],
      );
    }
    heads.push(head.value);
  }
  return ok(heads);
}

/**
 * Names the changed entry among [from, to) when the entries carry `prevRoot` (the root of the
 * log before them, as the coordinator's AuditService writes it): the first entry whose prevRoot
 * differs from the recomputed root follows the changed one; if all agree, the last one changed.
 * Undefined when the entries carry no prevRoot. A locator only: the signed head is the proof.
 */
function locateChange(
  entries: readonly AuditEntry[],
  roots: readonly string[],
  from: number,
  to: number,
): number | undefined {
  if (to <= from) return undefined;
  if (!entries.slice(from, to).every((e) => typeof e.event.prevRoot === 'string')) return undefined;
  for (let k = from + 1; k < to; k++) if (entries[k]!.event.prevRoot !== roots[k]) return k - 1;
  return to - 1;
}

function rootMismatch(index: number, head: SignedTreeHead, trusted: number): Result<never> {
  const signed = `tree head ${index} (size ${head.size} at ${head.time})`;
  if (head.size === trusted) {
    // An earlier head of this size matched, or the size is 0: this one signs another log.
    return fail(
      'audit.root_mismatch',
      `${signed} signs a root that no log of ${head.size} entries matching the earlier heads has: ` +
        'the coordinator signed two different logs',
      ['treeHeads', index],
    );
  }
  if (head.size - trusted === 1) {
    return fail(
      'audit.root_mismatch',
      `entry seq ${trusted} is not the one ${signed} signed: it was changed, or put in place of another`,
      ['entries', trusted],
    );
  }
  return fail(
    'audit.root_mismatch',
    `${signed} does not match the log: an entry among seq ${trusted}..${head.size - 1} was ` +
      'changed, inserted, deleted or moved (the heads before it match)',
    ['treeHeads', index],
  );
}

function sequenceError(entries: readonly AuditEntry[], position: number): Result<never> {
  const seq = entries[position]!.seq;
  const path = ['entries', position, 'seq'];
  if (seq < position) {
    return fail(
      'audit.bad_sequence',
      `seq ${seq} appears twice, at positions ${seq} and ${position}: an entry was inserted or duplicated`,
      path,
    );
  }
  const moved = entries.findIndex((entry, i) => i > position && entry.seq === position);
  return moved === -1
    ? fail(
        'audit.bad_sequence',
        `seq ${position} is missing (position ${position} holds seq ${seq}): an entry was deleted`,
        path,
      )
    : fail(
        'audit.bad_sequence',
        `seq ${position} is at position ${moved}, after seq ${seq}: entries were reordered or one was inserted`,
        path,
      );
}
