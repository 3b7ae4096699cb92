import { button, el } from './dom.js';
import type { RunHeader } from '../protocol/operator-feed.js';
import type { ApiClient } from './session.js';
import { ApiError } from './session.js';

/** The coordinator says which of these the run's state allows (RunHeader.controls). */
type Action = keyof RunHeader['controls'];

/**
 * Pause / Resume / Cancel for operators. Only ever constructed for the operator role, so an
 * auditor's page has no such buttons at all.
 */
export class RunControls {
  readonly root: HTMLElement;
  private readonly buttons: Record<Action, HTMLButtonElement>;
  private readonly error: HTMLElement;
  private run: RunHeader | undefined;
  private busy = false;

  constructor(
    private readonly api: ApiClient,
    private readonly onUnauthorized: (message: string) => void,
  ) {
    this.buttons = {
      pause: button('Pause', 'pause', () => void this.act('pause')),
      resume: button('Resume', 'resume', () => void this.act('resume')),
      cancel: button('Cancel run', 'cancel', () => void this.act('cancel')),
    };
    this.buttons.cancel.classList.add('danger');
    this.error = el('div', {
      className: 'error',
      attrs: { role: 'alert', 'data-test': 'control-error' },
    });
    this.error.hidden = true;
    this.root = el('div', { className: 'controls', attrs: { 'data-test': 'controls' } }, [
      el('div', { className: 'button-row' }, Object.values(this.buttons)),
      this.error,
    ]);
  }

  update(run: RunHeader): void {
    if (this.run?.id !== run.id) this.showError(undefined);
    this.run = run;
    this.refresh();
  }

  private refresh(): void {
    for (const [action, node] of Object.entries(this.buttons) as [Action, HTMLButtonElement][]) {
      node.disabled = this.busy || !this.run || !this.run.controls[action];
    }
  }

  private async act(action: Action): Promise<void> {
    const run = this.run;
    if (!run) return;
    if (action === 'cancel' && !confirm(`Cancel run ${run.id}? A cancelled run cannot resume.`)) {
      return;
    }
    this.busy = true;
    this.refresh();
    this.showError(undefined);
    try {
      await this.api.post(`/api/runs/${encodeURIComponent(run.id)}/${action}`);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        this.onUnauthorized(error.message);
        return;
      }
      this.showError(error instanceof Error ? error.message : String(error));
    } finally {
      // The new state arrives on the feed; until then the old controls decide.
      this.busy = false;
      this.refresh();
    }
  }

  private showError(message: string | undefined): void {
    this.error.hidden = message === undefined;
    this.error.textContent = message ?? '';
  }
}
