import type Database from 'better-sqlite3';
import type { GroupCommit } from './group-commit.js';
import type { SignedTreeHead } from '../../../protocol/index.js';
import type { AuditEntry, AuditFilter, AuditStore } from '../audit-store.js';

const toEntry = (row: { seq: number; event: string }): AuditEntry => ({
  seq: row.seq,
  event: JSON.parse(row.event) as Record<string, unknown>,
});

/** The log in `audit_log` (seq is the primary key) and its heads in `tree_heads`. */
export class SqliteAuditStore implements AuditStore {
  constructor(
    private readonly db: Database.Database,
    private readonly commits: GroupCommit,
  ) {}

  append(entry: AuditEntry): Promise<void> {
    return this.appendAll([entry]);
  }

  appendAll(entries: readonly AuditEntry[]): Promise<void> {
    // The primary key refuses a seq used before: nothing is overwritten.
    const insert = this.db.prepare('INSERT INTO audit_log (seq, event) VALUES (?, ?)');
    return this.commits.change(
      () => {
        for (const { seq, event } of entries) insert.run(seq, JSON.stringify(event));
      },
      { fenced: true },
    );
  }

  entries(): Promise<AuditEntry[]> {
    return this.commits.read(() => {
      const rows = this.db.prepare('SELECT seq, event FROM audit_log ORDER BY seq').all() as {
        seq: number;
        event: string;
      }[];
      return rows.map(toEntry);
    });
  }

  page(filter: AuditFilter): Promise<{ entries: AuditEntry[]; matching: number }> {
    return this.commits.read(() => {
      const where: string[] = [];
      const args: (string | number)[] = [];
      if (filter.event?.endsWith('.')) {
        // A prefix: LIKE with the prefix's own wildcards escaped.
        where.push(`json_extract(event, '$.event') LIKE ? ESCAPE '\\'`);
        args.push(filter.event.replace(/[\\%_]/g, (c) => '\\' + c) + '%');
      } else if (filter.event !== undefined) {
        where.push(`json_extract(event, '$.event') = ?`);
        args.push(filter.event);
      }
      for (const key of ['site', 'run', 'round'] as const) {
        const value = filter[key];
        if (value === undefined) continue;
        where.push(`json_extract(event, '$.${key}') = ?`);
        args.push(value);
      }
      const matchingWhere = where.length ? `WHERE ${where.join(' AND ')}` : '';
      const { count } = this.db
        .prepare(`SELECT COUNT(*) AS count FROM audit_log ${matchingWhere}`)
        .get(...args) as { count: number };
      if (filter.before !== undefined) {
        where.push('seq < ?');
        args.push(filter.before);
      }
      const rows = this.db
        .prepare(
          `SELECT seq, event FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
           ORDER BY seq DESC LIMIT ?`,
        )
        .all(...args, filter.limit) as { seq: number; event: string }[];
      return { entries: rows.map(toEntry), matching: count };
    });
  }

  size(): Promise<number> {
    return this.commits.read(() => {
      return (this.db.prepare('SELECT COUNT(*) AS count FROM audit_log').get() as { count: number })
        .count;
    });
  }

  addTreeHead(head: SignedTreeHead): Promise<void> {
    return this.commits.change(
      () => {
        this.db
          .prepare('INSERT INTO tree_heads (size, head) VALUES (?, ?)')
          .run(head.size, JSON.stringify(head));
      },
      { fenced: true },
    );
  }

  treeHeads(): Promise<SignedTreeHead[]> {
    return this.commits.read(() => {
      const rows = this.db.prepare('SELECT head FROM tree_heads ORDER BY rowid').all() as {
        head: string;
      }[];
      return rows.map((r) => JSON.parse(r.head) as SignedTreeHead);
    });
  }
}
