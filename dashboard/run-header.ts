import { el, setText, stat } from './dom.js';
import type { RunHeader } from '../protocol/operator-feed.js';
import { formatPercent, formatTime } from './format.js';

/** The watched run at a glance: state, round, sites, quorum, aggregation. */
export class RunHeaderView {
  readonly root: HTMLElement;
  /** Where the run's controls go (operators only). */
  readonly actions: HTMLElement;
  private readonly title: HTMLElement;
  private readonly subtitle: HTMLElement;
  private readonly badge: HTMLElement;
  private readonly values: Record<
    'round' | 'progress' | 'sites' | 'minSites' | 'aggregation' | 'model' | 'accuracy',
    HTMLElement
  >;

  constructor() {
    const round = stat('Round / attempt', 'round');
    const progress = stat('Rounds closed', 'rounds-closed');
    const sites = stat('Connected / enrolled', 'sites-connected');
    const minSites = stat('Min sites', 'min-sites');
    const aggregation = stat('Aggregation', 'aggregation');
    const model = stat('Model', 'model-version');
    const accuracy = stat('Accuracy', 'accuracy');
    this.values = {
      round: round.value,
      progress: progress.value,
      sites: sites.value,
      minSites: minSites.value,
      aggregation: aggregation.value,
      model: model.value,
      accuracy: accuracy.value,
    };
    this.title = el('h2', { className: 'run-title', attrs: { 'data-test': 'run-id' } });
    this.badge = el('span', { className: 'badge', attrs: { 'data-test': 'run-state' } });
    this.subtitle = el('div', { className: 'muted run-subtitle' });
    this.actions = el('div', { className: 'run-actions' });
    this.root = el(
      'section',
      { className: 'card run-header', attrs: { 'data-test': 'run-header' } },
      [
        el('div', { className: 'run-heading' }, [
          el('div', {}, [
            el('div', { className: 'run-title-line' }, [this.title, this.badge]),
            this.subtitle,
          ]),
          this.actions,
        ]),
        el(
          'div',
          { className: 'stats' },
          [round, progress, sites, minSites, aggregation, model, accuracy].map((s) => s.root),
        ),
      ],
    );
  }

  update(run: RunHeader): void {
    setText(this.title, run.id);
    setText(this.badge, run.state);
    this.badge.className = `badge state-${run.state}`;
    setText(
      this.subtitle,
      `${run.dataset} · created ${formatTime(run.createdAt)} · updated ${formatTime(run.updatedAt)}`,
    );
    setText(this.values.round, `${run.round} / ${run.attempt}`);
    setText(this.values.progress, `${run.roundsClosed} of ${run.rounds}`);
    const short = run.sitesConnected < run.minSites;
    setText(this.values.sites, `${run.sitesConnected} / ${run.sitesEnrolled}`);
    this.values.sites.classList.toggle('warn', short);
    setText(this.values.minSites, String(run.minSites));
    setText(this.values.aggregation, run.aggregation);
    setText(this.values.model, `v${run.modelVersion}`);
    setText(this.values.accuracy, formatPercent(run.accuracy, 2));
  }
}
