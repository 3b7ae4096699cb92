import { AuditView } from './audit-view.js';
import { button, el, setText } from './dom.js';
import type {
  DashboardSession,
  OperatorRole as Role,
  RunListItem,
} from '../protocol/operator-feed.js';
import { FeedClient, type ConnectionState } from './feed-client.js';
import { RunControls } from './run-controls.js';
import { defaultRun, RunList } from './run-list.js';
import { RunView } from './run-view.js';
import { apiClient } from './session.js';

type Tab = 'runs' | 'audit';

const CONNECTION_LABELS: Record<ConnectionState, string> = {
  connecting: 'connecting…',
  live: 'live',
  reconnecting: 'reconnecting…',
  disconnected: 'disconnected',
};

export interface ShellCallbacks {
  /** The user pressed Logout. */
  readonly logout: () => void;
  /** The server no longer accepts the session: back to the login form with this message. */
  readonly expired: (message: string) => void;
}

/**
 * The signed-in page: top bar (connection, who, logout), the Runs tab (run list and the watched
 * run) and the Audit tab. Operators land on Runs, auditors on Audit; only operators get controls.
 */
export class DashboardShell {
  readonly root: HTMLElement;
  private readonly feed: FeedClient;
  private readonly runList: RunList;
  private readonly runView: RunView;
  private readonly auditView: AuditView;
  private readonly connection: HTMLElement;
  private readonly who: HTMLElement;
  private readonly role: HTMLElement;
  private readonly tabs: Record<Tab, { button: HTMLButtonElement; panel: HTMLElement }>;
  private selected: string | undefined;
  /** Once the user picks a run, the page stops following the newest live one. */
  private userPicked = false;

  constructor(session: DashboardSession, callbacks: ShellCallbacks) {
    const api = apiClient(session);
    const expired = (message: string) => callbacks.expired(message);
    this.runList = new RunList((runId) => this.select(runId, true));
    this.runView = new RunView(
      session.role === 'operator' ? new RunControls(api, expired) : undefined,
    );
    this.auditView = new AuditView(api, expired);

    this.connection = el('span', { className: 'connection', attrs: { 'data-test': 'connection' } });
    this.who = el('span', { className: 'who', attrs: { 'data-test': 'whoami' } });
    this.role = el('span', { className: 'badge role', attrs: { 'data-test': 'role' } });
    this.showUser(session.name, session.role);

    const tab = (name: Tab, label: string, panel: HTMLElement) => {
      const node = button(label, `tab-${name}`, () => this.showTab(name));
      node.setAttribute('role', 'tab');
      panel.setAttribute('role', 'tabpanel');
      panel.dataset['test'] = `panel-${name}`;
      return { button: node, panel };
    };
    this.tabs = {
      runs: tab(
        'runs',
        'Runs',
        el('div', { className: 'runs-panel' }, [this.runList.root, this.runView.root]),
      ),
      audit: tab('audit', 'Audit', el('div', { className: 'audit-panel' }, [this.auditView.root])),
    };

    this.root = el('div', { className: 'shell' }, [
      el('header', { className: 'topbar' }, [
        el('div', { className: 'brand' }, [
          'fedistill',
          el('span', { className: 'brand-sub', text: 'dashboard' }),
        ]),
        el(
          'nav',
          { className: 'tabs', attrs: { role: 'tablist' } },
          Object.values(this.tabs).map((t) => t.button),
        ),
        el('div', { className: 'spacer' }),
        this.connection,
        el('div', { className: 'user' }, [this.who, this.role]),
        button('Log out', 'logout', callbacks.logout),
      ]),
      el(
        'main',
        { className: 'content' },
        Object.values(this.tabs).map((t) => t.panel),
      ),
    ]);
    this.showTab(session.role === 'auditor' ? 'audit' : 'runs');

    this.feed = new FeedClient(session.token, {
      connection: (state) => this.showConnection(state),
      hello: (hello) => this.showUser(hello.name, hello.role),
      runs: (runs) => this.showRuns(runs),
      snapshot: (snapshot) => this.runView.showSnapshot(snapshot),
      delta: (delta) => this.runView.applyDelta(delta),
      refused: expired,
      subscribeFailed: (message) => this.runView.showNotice(`Cannot watch this run: ${message}`),
    });
  }

  close(): void {
    this.feed.close();
  }

  private showTab(name: Tab): void {
    for (const [key, { button: node, panel }] of Object.entries(this.tabs)) {
      const active = key === name;
      node.setAttribute('aria-selected', String(active));
      node.classList.toggle('active', active);
      panel.hidden = !active;
    }
    if (name === 'audit') this.auditView.show();
  }

  private showUser(name: string, role: Role): void {
    setText(this.who, name);
    setText(this.role, role);
    this.role.className = `badge role role-${role}`;
  }

  private showConnection(state: ConnectionState): void {
    setText(this.connection, CONNECTION_LABELS[state]);
    this.connection.className = `connection connection-${state}`;
    this.connection.dataset['state'] = state;
  }

  private showRuns(runs: readonly RunListItem[]): void {
    this.runList.update(runs);
    if (runs.length === 0) {
      this.selected = undefined;
      this.runView.showNotice('No run yet. Create one with fedistill run create.');
      return;
    }
    const stillThere = runs.some((run) => run.id === this.selected);
    if (!this.userPicked || !stillThere) {
      const pick = defaultRun(runs);
      if (pick && pick.id !== this.selected) this.select(pick.id, false);
    }
  }

  private select(runId: string, byUser: boolean): void {
    this.userPicked ||= byUser;
    if (runId === this.selected) return;
    this.selected = runId;
    this.runList.select(runId);
    this.runView.showNotice(`Loading run ${runId}…`);
    this.feed.subscribe(runId);
  }
}
