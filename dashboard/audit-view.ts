import { button, el, setText } from './dom.js';
import type { AuditPage, AuditQuery, TreeHeadsView } from '../protocol/operator-feed.js';
import { abbreviate, formatTime } from './format.js';
import { ApiError, type ApiClient } from './session.js';

const PAGE_LIMIT = 100;
/** Fields with their own column; the rest are shown compactly in "details". */
const COLUMN_FIELDS = new Set(['event', 'at', 'run', 'round', 'site']);

type Entry = AuditPage['entries'][number];
type Field = Entry['event'][string];

function fieldText(value: Field | undefined): string {
  return value === undefined || value === null ? '' : String(value);
}

/** The other fields as `key=value` chips; hashes are shortened, with the full value as title. */
function details(event: Entry['event']): HTMLElement {
  const cell = el('td', { className: 'details' });
  for (const [key, value] of Object.entries(event)) {
    if (COLUMN_FIELDS.has(key)) continue;
    const full = fieldText(value);
    const chip = el('span', { className: 'chip' }, [
      el('span', { className: 'chip-key', text: `${key}=` }),
      abbreviate(full, 16),
    ]);
    if (full.length > 17) chip.title = `${key}=${full}`;
    cell.appendChild(chip);
  }
  return cell;
}

/**
 * The auditor's view: the protocol log (filtered, newest first, paged back with `before`), the
 * signed tree heads with the server's verdict on the stored log, the coordinator key's
 * fingerprint, and the export that `fedistill audit verify` checks offline.
 */
export class AuditView {
  readonly root: HTMLElement;
  private readonly filters: Record<'event' | 'site' | 'run' | 'round', HTMLInputElement>;
  private readonly rows: HTMLTableSectionElement;
  private readonly summary: HTMLElement;
  private readonly older: HTMLButtonElement;
  private readonly error: HTMLElement;
  private readonly verdict: HTMLElement;
  private readonly fingerprint: HTMLElement;
  private readonly heads: HTMLTableSectionElement;
  private readonly headCount: HTMLElement;
  private query: AuditQuery = {};
  private oldestSeq: number | undefined;
  private shown = 0;
  /** Answers to a superseded query are dropped. */
  private generation = 0;
  private loaded = false;

  constructor(
    private readonly api: ApiClient,
    private readonly onUnauthorized: (message: string) => void,
  ) {
    const input = (name: string, placeholder: string, type = 'text') =>
      el('input', {
        attrs: {
          type,
          name,
          placeholder,
          'aria-label': placeholder,
          'data-test': `audit-filter-${name}`,
          ...(type === 'number' ? { min: '0', step: '1' } : {}),
        },
      });
    this.filters = {
      event: input('event', 'Event (e.g. round.)'),
      site: input('site', 'Site'),
      run: input('run', 'Run'),
      round: input('round', 'Round', 'number'),
    };
    const form = el('form', { className: 'filters', attrs: { 'data-test': 'audit-filters' } }, [
      ...Object.values(this.filters),
      el('button', { text: 'Apply', attrs: { type: 'submit', 'data-test': 'audit-apply' } }),
      button('Clear', 'audit-clear', () => {
        form.reset();
        void this.applyFilters();
      }),
    ]);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.applyFilters();
    });

    this.summary = el('span', { className: 'muted', attrs: { 'data-test': 'audit-summary' } });
    this.rows = el('tbody');
    this.older = button('Older entries', 'audit-older', () => void this.loadPage(true));
    this.error = el('div', {
      className: 'error',
      attrs: { role: 'alert', 'data-test': 'audit-error' },
    });
    this.error.hidden = true;

    this.verdict = el('div', { className: 'verdict', attrs: { 'data-test': 'log-verdict' } });
    this.fingerprint = el('code', {
      className: 'fingerprint',
      attrs: { 'data-test': 'fingerprint' },
    });
    this.heads = el('tbody');
    this.headCount = el('span', { className: 'muted' });

    const headsCard = el('section', { className: 'card', attrs: { 'data-test': 'tree-heads' } }, [
      el('div', { className: 'card-head' }, [
        el('h3', { className: 'card-title', text: 'Signed tree heads' }),
        this.headCount,
      ]),
      this.verdict,
      el('div', { className: 'key-line' }, [
        el('span', { className: 'stat-label', text: 'Coordinator key fingerprint' }),
        this.fingerprint,
        el('span', {
          className: 'muted hint',
          text: 'compare with coordinator.pub, or run fedistill audit verify on the export',
        }),
      ]),
      el('div', { className: 'table-wrap heads-wrap' }, [
        el('table', { className: 'data-table' }, [
          el('thead', {}, [
            el('tr', {}, [
              el('th', { className: 'num', text: 'Size', attrs: { scope: 'col' } }),
              el('th', { text: 'Time', attrs: { scope: 'col' } }),
              el('th', { text: 'Root', attrs: { scope: 'col' } }),
              el('th', { text: 'Signature', attrs: { scope: 'col' } }),
            ]),
          ]),
          this.heads,
        ]),
      ]),
    ]);

    const logCard = el('section', { className: 'card', attrs: { 'data-test': 'audit-log' } }, [
      el('div', { className: 'card-head' }, [
        el('h3', { className: 'card-title', text: 'Audit log' }),
        this.summary,
        el('div', { className: 'spacer' }),
        button('Refresh', 'audit-refresh', () => void this.refresh()),
        button('Export', 'export', () => void this.export()),
      ]),
      form,
      el('div', { className: 'table-wrap' }, [
        el('table', { className: 'data-table audit-table' }, [
          el('thead', {}, [
            el(
              'tr',
              {},
              ['Seq', 'Time', 'Event', 'Run', 'Round', 'Site', 'Details'].map((label) =>
                el('th', {
                  text: label,
                  className: label === 'Seq' || label === 'Round' ? 'num' : undefined,
                  attrs: { scope: 'col' },
                }),
              ),
            ),
          ]),
          this.rows,
        ]),
      ]),
      el('div', { className: 'pager' }, [this.older]),
    ]);

    this.root = el('div', { className: 'audit-view', attrs: { 'data-test': 'audit-view' } }, [
      this.error,
      headsCard,
      logCard,
    ]);
  }

  /** Loads on first show; later shows keep what is there until Refresh. */
  show(): void {
    if (!this.loaded) void this.refresh();
  }

  async refresh(): Promise<void> {
    this.loaded = true;
    this.showError(undefined);
    await Promise.all([this.loadHeads(), this.loadPage(false)]);
  }

  private async applyFilters(): Promise<void> {
    const round = this.filters.round.value.trim();
    const text = (input: HTMLInputElement) => input.value.trim() || undefined;
    this.query = {
      event: text(this.filters.event),
      site: text(this.filters.site),
      run: text(this.filters.run),
      round: round === '' ? undefined : Number(round),
    };
    this.showError(undefined);
    await this.loadPage(false);
  }

  private async loadPage(older: boolean): Promise<void> {
    const generation = older ? this.generation : ++this.generation;
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(this.query)) {
      if (value !== undefined) params.set(key, String(value));
    }
    if (older && this.oldestSeq !== undefined) params.set('before', String(this.oldestSeq));
    params.set('limit', String(PAGE_LIMIT));
    this.older.disabled = true;
    try {
      const page = await this.api.get<AuditPage>(`/api/audit/entries?${params.toString()}`);
      if (generation !== this.generation) return;
      if (!older) {
        this.rows.replaceChildren();
        this.shown = 0;
      }
      this.appendEntries(page);
    } catch (error) {
      if (generation !== this.generation) return;
      this.older.disabled = false;
      this.fail(error);
    }
  }

  private appendEntries(page: AuditPage): void {
    const fragment = document.createDocumentFragment();
    for (const entry of page.entries) {
      const event = entry.event;
      const at = fieldText(event['at']);
      fragment.appendChild(
        el('tr', { attrs: { 'data-seq': String(entry.seq) } }, [
          el('td', { className: 'num', text: String(entry.seq) }),
          el('td', { className: 'nowrap', text: formatTime(at), attrs: { title: at } }),
          el('td', { className: 'event-name', text: fieldText(event['event']) }),
          el('td', {
            className: 'run-id',
            text: fieldText(event['run']),
            attrs: { title: fieldText(event['run']) },
          }),
          el('td', { className: 'num', text: fieldText(event['round']) }),
          el('td', { className: 'nowrap', text: fieldText(event['site']) }),
          details(event),
        ]),
      );
    }
    this.rows.appendChild(fragment);
    this.shown += page.entries.length;
    const last = page.entries[page.entries.length - 1];
    if (last) this.oldestSeq = last.seq;
    setText(
      this.summary,
      `${this.shown} of ${page.matching} matching · ${page.size} entries in the log`,
    );
    this.older.disabled = this.shown >= page.matching || page.entries.length === 0;
  }

  private async loadHeads(): Promise<void> {
    try {
      const view = await this.api.get<TreeHeadsView>('/api/audit/tree-heads');
      this.renderHeads(view);
    } catch (error) {
      this.fail(error);
    }
  }

  private renderHeads(view: TreeHeadsView): void {
    const log = view.log;
    this.verdict.className = `verdict ${log.verified ? 'ok' : 'bad'}`;
    this.verdict.dataset['verified'] = String(log.verified);
    setText(
      this.verdict,
      log.verified
        ? '✓ The stored log matches every signed tree head.'
        : `✗ Log verification failed: ${log.message}`,
    );
    setText(this.fingerprint, view.fingerprint);
    this.fingerprint.title = `Ed25519 public key (base64): ${view.coordinatorKey}`;
    const invalid = view.heads.filter((head) => !head.signatureValid).length;
    setText(
      this.headCount,
      `${view.heads.length} heads${invalid > 0 ? ` · ${invalid} with an invalid signature` : ''}`,
    );
    // Newest first, like the log.
    this.heads.replaceChildren(
      ...[...view.heads].reverse().map((head) =>
        el('tr', { className: head.signatureValid ? undefined : 'bad-row' }, [
          el('td', { className: 'num', text: String(head.size) }),
          el('td', {
            className: 'nowrap',
            text: formatTime(head.time),
            attrs: { title: head.time },
          }),
          el('td', {}, [
            el('code', { text: abbreviate(head.root, 16), attrs: { title: head.root } }),
          ]),
          el('td', {
            className: head.signatureValid ? 'sig-ok' : 'sig-bad',
            text: head.signatureValid ? '✓ valid' : '✗ invalid',
          }),
        ]),
      ),
    );
  }

  private async export(): Promise<void> {
    try {
      const blob = await this.api.fetchBlob('/api/audit');
      const url = URL.createObjectURL(blob);
      const link = el('a', { attrs: { href: url, download: 'audit.json' } });
      link.hidden = true;
      document.body.appendChild(link);
      link.click();
      link.remove();
      // Give the browser time to start reading the blob before it is released.
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (error) {
      this.fail(error);
    }
  }

  private fail(error: unknown): void {
    if (error instanceof ApiError && error.status === 401) {
      this.onUnauthorized(error.message);
      return;
    }
    this.showError(error instanceof Error ? error.message : String(error));
  }

  private showError(message: string | undefined): void {
    this.error.hidden = message === undefined;
    this.error.textContent = message ?? '';
  }
}
