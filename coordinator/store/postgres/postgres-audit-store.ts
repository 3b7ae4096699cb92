import type { SignedTreeHead } from '../../../protocol/index.js';
import type { AuditEntry, AuditFilter, AuditStore } from '../audit-store.js';
import type { PostgresDatabase } from './postgres-database.js';

/** The log in `audit_log` (seq is the primary key) and its heads in `tree_heads`. */
export class PostgresAuditStore implements AuditStore {
  constructor(private readonly db: PostgresDatabase) {}

  append(entry: AuditEntry): Promise<void> {
    return this.appendAll([entry]);
  }

  async appendAll(entries: readonly AuditEntry[]): Promise<void> {
    if (entries.length === 0) return;
    // One statement for the batch: the primary key refuses a used seq, and with it the batch.
    await this.db.fencedQuery(
      `appending audit entries ${entries[0]!.seq}..${entries.at(-1)!.seq}`,
      'INSERT INTO audit_log (seq, event) SELECT * FROM unnest($1::int8[], $2::json[])',
      [entries.map((e) => e.seq), entries.map((e) => JSON.stringify(e.event))],
    );
  }

  entries(): Promise<AuditEntry[]> {
    return this.db.query<AuditEntry>(
      'reading the audit log',
      'SELECT seq, event FROM audit_log ORDER BY seq',
    );
  }

  async page(filter: AuditFilter): Promise<{ entries: AuditEntry[]; matching: number }> {
    const where: string[] = [];
    const args: (string | number)[] = [];
    const match = (condition: (placeholder: string) => string, value: string | number) => {
      args.push(value);
      where.push(condition(`$${args.length}`));
    };
    if (filter.event?.endsWith('.')) {
      // A prefix: LIKE with the prefix's own wildcards escaped.
      const prefix = filter.event.replace(/[\\%_]/g, (c) => '\\' + c) + '%';
      match((p) => `event->>'event' LIKE ${p} ESCAPE '\\'`, prefix);
    } else if (filter.event !== undefined) {
      match((p) => `event->>'event' = ${p}`, filter.event);
    }
    for (const key of ['site', 'run', 'round'] as const) {
      const value = filter[key];
      // ->> reads a number as its JSON text, which is how the value is compared.
      if (value !== undefined) match((p) => `event->>'${key}' = ${p}`, String(value));
    }
    const matchingWhere = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const what = 'reading a page of the audit log';
    const [counted] = await this.db.query<{ count: number }>(
      what,
      `SELECT COUNT(*)::int8 AS count FROM audit_log ${matchingWhere}`,
      args,
    );
    if (filter.before !== undefined) match((p) => `seq < ${p}`, filter.before);
    args.push(filter.limit);
    const entries = await this.db.query<AuditEntry>(
      what,
      `SELECT seq, event FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY seq DESC LIMIT $${args.length}`,
      args,
    );
    return { entries, matching: counted?.count ?? 0 };
  }

  async size(): Promise<number> {
    const [row] = await this.db.query<{ count: number }>(
      'counting the audit log',
      'SELECT COUNT(*)::int8 AS count FROM audit_log',
    );
    return row?.count ?? 0;
  }

  async addTreeHead(head: SignedTreeHead): Promise<void> {
    await this.db.fencedQuery(
      `adding the tree head of size ${head.size}`,
      'INSERT INTO tree_heads (size, head) VALUES ($1, $2)',
      [head.size, JSON.stringify(head)],
    );
  }

  async treeHeads(): Promise<SignedTreeHead[]> {
    const rows = await this.db.query<{ head: SignedTreeHead }>(
      'reading the tree heads',
      'SELECT head FROM tree_heads ORDER BY ordinal',
    );
    return rows.map((r) => r.head);
  }
}
