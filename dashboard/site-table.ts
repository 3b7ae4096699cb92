import { button, el, frameScheduler, setText } from './dom.js';
import type { SiteRow } from '../protocol/operator-feed.js';
import { formatBytes } from './format.js';

interface Column {
  readonly key: string;
  readonly label: string;
  readonly numeric?: boolean;
  readonly text: (row: SiteRow) => string;
  readonly sortValue: (row: SiteRow) => string | number;
}

const COLUMNS: readonly Column[] = [
  { key: 'site', label: 'Site', text: (r) => r.site, sortValue: (r) => r.site },
  { key: 'state', label: 'State', text: (r) => r.state, sortValue: (r) => r.state },
  {
    key: 'connected',
    label: 'Connected',
    text: (r) => (r.connected ? 'yes' : 'no'),
    sortValue: (r) => (r.connected ? 1 : 0),
  },
  {
    key: 'backend',
    label: 'Backend',
    text: (r) => r.backend ?? '–',
    sortValue: (r) => r.backend ?? '',
  },
  {
    key: 'lastRound',
    label: 'Last round',
    numeric: true,
    text: (r) => (r.lastRound === undefined ? '–' : String(r.lastRound)),
    sortValue: (r) => r.lastRound ?? -1,
  },
  {
    key: 'bytesUp',
    label: 'Bytes up',
    numeric: true,
    text: (r) => formatBytes(r.bytesUp),
    sortValue: (r) => r.bytesUp,
  },
  {
    key: 'bytesDown',
    label: 'Bytes down',
    numeric: true,
    text: (r) => formatBytes(r.bytesDown),
    sortValue: (r) => r.bytesDown,
  },
  { key: 'enrolment', label: 'Enrolment', text: (r) => r.enrolment, sortValue: (r) => r.enrolment },
];

const PAGE_SIZE = 50;

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

/**
 * The sites of the watched run: rows kept by site, filtered and sorted on demand, and only the
 * visible page in the DOM (a fixed pool of rows whose cells are rewritten in place).
 */
export class SiteTable {
  readonly root: HTMLElement;
  private readonly rows = new Map<string, SiteRow>();
  private readonly body: HTMLTableSectionElement;
  private readonly headers = new Map<string, HTMLTableCellElement>();
  private readonly pageLabel: HTMLElement;
  private readonly totals: HTMLElement;
  private readonly prev: HTMLButtonElement;
  private readonly next: HTMLButtonElement;
  private readonly filterBox: HTMLInputElement;
  private readonly empty: HTMLElement;
  private sortKey = 'site';
  private descending = false;
  private page = 0;
  private readonly render = frameScheduler(() => this.draw());

  constructor() {
    this.filterBox = el('input', {
      className: 'filter',
      attrs: {
        type: 'search',
        placeholder: 'Filter by site or state',
        'aria-label': 'Filter sites',
        'data-test': 'sites-filter',
      },
    });
    this.filterBox.addEventListener('input', () => {
      this.page = 0;
      this.render();
    });
    this.totals = el('span', { className: 'muted', attrs: { 'data-test': 'sites-totals' } });
    this.pageLabel = el('span', { className: 'muted', attrs: { 'data-test': 'sites-page' } });
    this.prev = button('‹ Prev', 'sites-prev', () => this.turn(-1));
    this.next = button('Next ›', 'sites-next', () => this.turn(1));

    const headRow = el('tr');
    for (const column of COLUMNS) {
      const sortButton = button(column.label, `sort-${column.key}`, () => this.sortBy(column.key));
      const th = el(
        'th',
        { className: column.numeric ? 'num' : undefined, attrs: { scope: 'col' } },
        [sortButton],
      );
      this.headers.set(column.key, th);
      headRow.appendChild(th);
    }
    this.body = el('tbody');
    this.empty = el('p', { className: 'empty muted' });
    this.root = el('section', { className: 'card sites', attrs: { 'data-test': 'sites' } }, [
      el('div', { className: 'card-head' }, [
        el('h3', { className: 'card-title', text: 'Sites' }),
        this.totals,
        el('div', { className: 'spacer' }),
        this.filterBox,
      ]),
      el('div', { className: 'table-wrap' }, [
        el('table', { className: 'data-table' }, [el('thead', {}, [headRow]), this.body]),
      ]),
      this.empty,
      el('div', { className: 'pager' }, [this.prev, this.pageLabel, this.next]),
    ]);
    this.draw();
  }

  reset(rows: readonly SiteRow[]): void {
    this.rows.clear();
    this.page = 0;
    this.upsert(rows);
  }

  upsert(rows: readonly SiteRow[]): void {
    for (const row of rows) this.rows.set(row.site, row);
    if (rows.length > 0 || this.rows.size === 0) this.render();
  }

  private sortBy(key: string): void {
    this.descending = this.sortKey === key ? !this.descending : false;
    this.sortKey = key;
    this.render();
  }

  private turn(step: number): void {
    this.page += step;
    this.render();
  }

  private visibleRows(): SiteRow[] {
    const query = this.filterBox.value.trim().toLowerCase();
    const all = [...this.rows.values()];
    const matching = query
      ? all.filter(
          (row) =>
            row.site.toLowerCase().includes(query) ||
            row.state.startsWith(query) ||
            row.enrolment.startsWith(query),
        )
      : all;
    const column = COLUMNS.find((c) => c.key === this.sortKey) ?? COLUMNS[0]!;
    const sign = this.descending ? -1 : 1;
    return matching.sort((a, b) => {
      const x = column.sortValue(a);
      const y = column.sortValue(b);
      const order =
        typeof x === 'number' && typeof y === 'number'
          ? x - y
          : collator.compare(String(x), String(y));
      // Ties by site name, so rows do not jump between pages on unrelated updates.
      return sign * order || collator.compare(a.site, b.site);
    });
  }

  private draw(): void {
    const rows = this.visibleRows();
    const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
    this.page = Math.min(Math.max(this.page, 0), pages - 1);
    const shown = rows.slice(this.page * PAGE_SIZE, (this.page + 1) * PAGE_SIZE);

    while (this.body.rows.length > shown.length) this.body.lastElementChild?.remove();
    while (this.body.rows.length < shown.length) {
      this.body.appendChild(
        el(
          'tr',
          {},
          COLUMNS.map((c) => el('td', { className: c.numeric ? 'num' : undefined })),
        ),
      );
    }
    shown.forEach((row, i) => {
      const tr = this.body.rows[i]!;
      tr.dataset['site'] = row.site;
      tr.className = `site-${row.state}${row.enrolment === 'revoked' ? ' revoked' : ''}`;
      COLUMNS.forEach((column, j) => setText(tr.cells[j]!, column.text(row)));
    });
    this.empty.hidden = shown.length > 0;
    setText(
      this.empty,
      this.rows.size === 0 ? 'No site is enrolled.' : 'No site matches the filter.',
    );

    for (const [key, th] of this.headers) {
      const sorted = key === this.sortKey ? (this.descending ? 'descending' : 'ascending') : 'none';
      th.setAttribute('aria-sort', sorted);
    }
    let connected = 0;
    for (const row of this.rows.values()) if (row.connected) connected += 1;
    setText(this.totals, `${connected} connected of ${this.rows.size}`);
    const first = rows.length === 0 ? 0 : this.page * PAGE_SIZE + 1;
    setText(
      this.pageLabel,
      `${first}–${this.page * PAGE_SIZE + shown.length} of ${rows.length} · page ${this.page + 1} of ${pages}`,
    );
    this.prev.disabled = this.page === 0;
    this.next.disabled = this.page >= pages - 1;
  }
}
