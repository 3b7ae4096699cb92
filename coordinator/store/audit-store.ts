import type { SignedTreeHead } from '../../protocol/index.js';

/** One entry of the audit log: its position in the hash chain and the event as logged. */
export interface AuditEntry {
  readonly seq: number;
  readonly event: Record<string, unknown>;
}

/** Which entries a page of the audit log holds, newest first. */
export interface AuditFilter {
  /** An event name, or a prefix ending in a dot. */
  readonly event?: string;
  readonly site?: string;
  readonly run?: string;
  readonly round?: number;
  /** Only entries with a smaller seq: the next page after one that ended at `before`. */
  readonly before?: number;
  readonly limit: number;
}

/**
 * The tamper-evident audit log (protocol/PROTOCOL.md section 10): append-only entries and the
 * signed tree heads over them. The chain itself is built and verified by the audit service.
 */
export interface AuditStore {
  /** Appends an entry; `seq` must be unused (the log is append-only: a used seq throws). */
  append(entry: AuditEntry): Promise<void>;
  /** Appends entries in one transaction: all of them, or (a used seq among them) none. */
  appendAll(entries: readonly AuditEntry[]): Promise<void>;
  /** Every entry, by seq. */
  entries(): Promise<AuditEntry[]>;
  /**
   * The newest `limit` entries that match the filter (and come before `before`), and how many
   * entries match the filter in all, `before` aside.
   */
  page(filter: AuditFilter): Promise<{ entries: AuditEntry[]; matching: number }>;
  /** How many entries the log holds. */
  size(): Promise<number>;
  addTreeHead(head: SignedTreeHead): Promise<void>;
  /** Every tree head, in the order added. */
  treeHeads(): Promise<SignedTreeHead[]>;
}
