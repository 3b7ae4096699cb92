import { RunCharts } from './charts.js';
import { el, setText } from './dom.js';
import type { RunDelta, RunHeader, RunSnapshot } from '../protocol/operator-feed.js';
import type { RunControls } from './run-controls.js';
import { RunHeaderView } from './run-header.js';
import { SiteTable } from './site-table.js';
import { Timeline } from './timeline.js';

/**
 * The watched run: header (with controls for operators), charts, timeline and sites. Built
 * once; a snapshot resets each part and a delta updates only what it carries.
 */
export class RunView {
  readonly root: HTMLElement;
  private readonly header = new RunHeaderView();
  private readonly charts = new RunCharts();
  private readonly timeline = new Timeline();
  private readonly sites = new SiteTable();
  private readonly notice: HTMLElement;
  private readonly body: HTMLElement;

  constructor(private readonly controls: RunControls | undefined) {
    if (controls) this.header.actions.appendChild(controls.root);
    this.notice = el('div', {
      className: 'card notice muted',
      attrs: { 'data-test': 'run-notice' },
    });
    this.body = el('div', { className: 'run-body' }, [
      this.header.root,
      this.charts.root,
      this.timeline.root,
      this.sites.root,
    ]);
    this.root = el('div', { className: 'run-view', attrs: { 'data-test': 'run-view' } }, [
      this.notice,
      this.body,
    ]);
    this.showNotice('Waiting for the run list…');
  }

  /** A message instead of the run (no run yet, loading, subscription refused). */
  showNotice(message: string): void {
    setText(this.notice, message);
    this.notice.hidden = false;
    this.body.hidden = true;
  }

  showSnapshot(snapshot: RunSnapshot): void {
    this.notice.hidden = true;
    this.body.hidden = false;
    this.updateHeader(snapshot.run);
    this.charts.reset(snapshot.points);
    this.timeline.reset(snapshot.timeline);
    this.sites.reset(snapshot.sites);
  }

  applyDelta(delta: RunDelta): void {
    this.updateHeader(delta.run);
    this.charts.append(delta.points);
    this.timeline.upsert(delta.timeline);
    this.sites.upsert(delta.sites);
  }

  private updateHeader(run: RunHeader): void {
    this.header.update(run);
    this.controls?.update(run);
  }
}
