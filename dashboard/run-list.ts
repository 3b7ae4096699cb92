import { el, setText } from './dom.js';
import type { RunListItem } from '../protocol/operator-feed.js';
import { formatPercent } from './format.js';

/** The run to show when the user has not picked one: the newest live run, else the newest. */
export function defaultRun(runs: readonly RunListItem[]): RunListItem | undefined {
  return runs.find((run) => run.active) ?? runs[0];
}

interface Item {
  readonly root: HTMLLIElement;
  readonly badge: HTMLElement;
  readonly dataset: HTMLElement;
  readonly rounds: HTMLElement;
  readonly accuracy: HTMLElement;
}

/**
 * Every run, newest first (as the server sends them); a click selects one. Items are kept by
 * run id and updated in place, so the list the pointer or keyboard is on does not flicker.
 */
export class RunList {
  readonly root: HTMLElement;
  private readonly list: HTMLElement;
  private readonly empty: HTMLElement;
  private readonly items = new Map<string, Item>();
  private selected: string | undefined;

  constructor(private readonly onSelect: (runId: string) => void) {
    this.list = el('ul', { className: 'run-list', attrs: { 'data-test': 'runs' } });
    this.empty = el('p', { className: 'muted empty', text: 'No run yet.' });
    this.root = el('nav', { className: 'card run-list-card', attrs: { 'aria-label': 'Runs' } }, [
      el('h3', { className: 'card-title', text: 'Runs' }),
      this.list,
      this.empty,
    ]);
  }

  update(runs: readonly RunListItem[]): void {
    const ids = new Set(runs.map((run) => run.id));
    for (const [id, item] of this.items) {
      if (!ids.has(id)) {
        item.root.remove();
        this.items.delete(id);
      }
    }
    runs.forEach((run, index) => {
      const item = this.items.get(run.id) ?? this.create(run.id);
      this.fill(item, run);
      // Keep the server's order (newest first) without re-inserting what is already in place.
      if (this.list.children[index] !== item.root) {
        this.list.insertBefore(item.root, this.list.children[index] ?? null);
      }
    });
    this.empty.hidden = runs.length > 0;
  }

  select(runId: string | undefined): void {
    this.selected = runId;
    for (const [id, item] of this.items) item.root.classList.toggle('selected', id === runId);
  }

  private create(runId: string): Item {
    const badge = el('span', { className: 'badge' });
    const dataset = el('span');
    const rounds = el('span');
    const accuracy = el('span');
    const choose = el('button', { className: 'run-item-button', attrs: { type: 'button' } }, [
      el('div', { className: 'run-item-top' }, [
        el('span', { className: 'run-item-id', text: runId }),
        badge,
      ]),
      el('div', { className: 'run-item-meta muted' }, [dataset, rounds, accuracy]),
    ]);
    choose.addEventListener('click', () => this.onSelect(runId));
    const root = el(
      'li',
      {
        className: `run-item${runId === this.selected ? ' selected' : ''}`,
        attrs: { 'data-test': 'run-item', 'data-run-id': runId },
      },
      [choose],
    );
    const item = { root, badge, dataset, rounds, accuracy };
    this.items.set(runId, item);
    return item;
  }

  private fill(item: Item, run: RunListItem): void {
    item.root.dataset['state'] = run.state;
    item.root.title = `${run.id} (${run.dataset})`;
    setText(item.badge, run.state);
    item.badge.className = `badge state-${run.state}`;
    setText(item.dataset, run.dataset);
    setText(item.rounds, `${run.roundsClosed}/${run.rounds} rounds`);
    setText(item.accuracy, formatPercent(run.accuracy));
  }
}
