import { el, frameScheduler, setText } from './dom.js';
import type { TimelineEntry } from '../protocol/operator-feed.js';
import { formatDuration, formatTime } from './format.js';

const STATES: readonly TimelineEntry['state'][] = ['open', 'closed', 'failed', 'abandoned'];

/** Orders keys as the rounds ran: by round, then attempt. */
function compare(a: TimelineEntry, b: TimelineEntry): number {
  return a.round - b.round || a.attempt - b.attempt;
}

function keyOf(entry: Pick<TimelineEntry, 'round' | 'attempt'>): string {
  return `${entry.round}:${entry.attempt}`;
}

function describe(entry: TimelineEntry): string {
  const lines = [
    `Round ${entry.round}, attempt ${entry.attempt}: ${entry.state}`,
    `selected ${entry.selected} · answered ${entry.answered}`,
    `stragglers ${entry.stragglers} · dropped ${entry.dropped}`,
    `opened ${formatTime(entry.openedAt)}`,
  ];
  if (entry.closedAt) {
    const seconds = (Date.parse(entry.closedAt) - Date.parse(entry.openedAt)) / 1000;
    lines.push(`ended ${formatTime(entry.closedAt)} (${formatDuration(seconds)})`);
  }
  return lines.join('\n');
}

/**
 * One small cell per (round, attempt), coloured by state, with the details in its title.
 * Cells are kept by key and updated in place, so a delta touches one or two elements even
 * with hundreds of rounds on screen.
 */
export class Timeline {
  readonly root: HTMLElement;
  private readonly cells: HTMLElement;
  private readonly summary: HTMLElement;
  private readonly counts: HTMLElement;
  /** Entries in (round, attempt) order, and their cells by key. */
  private readonly entries: TimelineEntry[] = [];
  private readonly byKey = new Map<string, { entry: TimelineEntry; cell: HTMLElement }>();
  private readonly refreshSummary = frameScheduler(() => this.renderSummary());

  constructor() {
    this.summary = el('div', {
      className: 'timeline-summary',
      attrs: { 'data-test': 'timeline-summary' },
    });
    this.counts = el('div', { className: 'timeline-counts' });
    this.cells = el('div', { className: 'timeline-cells', attrs: { role: 'list' } });
    const legend = el(
      'div',
      { className: 'timeline-legend' },
      STATES.map((state) =>
        el('span', { className: 'legend-item' }, [
          el('span', { className: `timeline-cell state-${state}` }),
          state,
        ]),
      ),
    );
    this.root = el('section', { className: 'card timeline', attrs: { 'data-test': 'timeline' } }, [
      el('div', { className: 'card-head' }, [
        el('h3', { className: 'card-title', text: 'Round timeline' }),
        legend,
      ]),
      this.summary,
      this.cells,
      this.counts,
    ]);
    this.renderSummary();
  }

  reset(entries: readonly TimelineEntry[]): void {
    this.entries.length = 0;
    this.byKey.clear();
    this.cells.replaceChildren();
    this.upsert(entries);
  }

  upsert(entries: readonly TimelineEntry[]): void {
    for (const entry of entries) {
      const known = this.byKey.get(keyOf(entry));
      if (known) {
        known.entry = entry;
        const index = this.indexOf(entry);
        this.entries[index] = entry;
        this.paint(known.cell, entry);
      } else {
        this.insert(entry);
      }
    }
    this.root.dataset['entries'] = String(this.entries.length);
    this.refreshSummary();
  }

  private insert(entry: TimelineEntry): void {
    const cell = el('span', { className: 'timeline-cell', attrs: { role: 'listitem' } });
    this.paint(cell, entry);
    const index = this.indexOf(entry);
    // New attempts nearly always come last; the search keeps late arrivals in order too.
    const next = this.entries[index];
    this.cells.insertBefore(cell, next ? (this.byKey.get(keyOf(next))?.cell ?? null) : null);
    this.entries.splice(index, 0, entry);
    this.byKey.set(keyOf(entry), { entry, cell });
  }

  /** The index of the entry with this key, or where it would go. */
  private indexOf(entry: TimelineEntry): number {
    let low = 0;
    let high = this.entries.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (compare(this.entries[mid]!, entry) < 0) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  private paint(cell: HTMLElement, entry: TimelineEntry): void {
    const className = `timeline-cell state-${entry.state}${entry.attempt > 1 ? ' retry' : ''}`;
    if (cell.className !== className) cell.className = className;
    cell.title = describe(entry);
    cell.dataset['round'] = String(entry.round);
    cell.dataset['attempt'] = String(entry.attempt);
    cell.dataset['state'] = entry.state;
  }

  private renderSummary(): void {
    const current = this.entries[this.entries.length - 1];
    if (!current) {
      setText(this.summary, 'No round has opened yet.');
      setText(this.counts, '');
      return;
    }
    const parts = [
      `Round ${current.round}`,
      `attempt ${current.attempt}`,
      current.state,
      `${current.answered}/${current.selected} answered`,
      `${current.stragglers} straggler${current.stragglers === 1 ? '' : 's'}`,
      `${current.dropped} dropped`,
      current.closedAt
        ? `took ${formatDuration((Date.parse(current.closedAt) - Date.parse(current.openedAt)) / 1000)}`
        : `opened ${formatTime(current.openedAt)}`,
    ];
    setText(this.summary, parts.join(' · '));
    const tally = new Map<string, number>();
    for (const entry of this.entries) tally.set(entry.state, (tally.get(entry.state) ?? 0) + 1);
    setText(
      this.counts,
      STATES.filter((state) => tally.has(state))
        .map((state) => `${tally.get(state)} ${state}`)
        .join(' · ') + ` — ${this.entries.length} attempts`,
    );
  }
}
