import './locale-guard.js';
import { DashboardShell } from './dashboard-shell.js';
import type { DashboardSession } from '../protocol/operator-feed.js';
import { loginView } from './login-view.js';
import {
  ApiError,
  endSession,
  exchangeToken,
  forgetSession,
  loadSession,
  saveSession,
  takeTokenFromUrl,
} from './session.js';

/**
 * Entry point: a session from the one-time `?token=` link, from this tab's storage, or from the
 * login form; then the dashboard until logout or until the server stops accepting the session.
 */

const root = document.getElementById('app') ?? document.body;
let shell: DashboardShell | undefined;

function refusal(error: unknown): string {
  if (error instanceof ApiError && error.status === 401) {
    return `Token refused: ${error.message || 'it is unknown, revoked, expired or already used'}.`;
  }
  return error instanceof Error ? error.message : String(error);
}

/** Trades a token for a session and opens the dashboard; the error message otherwise. */
async function signIn(token: string): Promise<string | undefined> {
  try {
    const session = await exchangeToken(token);
    saveSession(session);
    showDashboard(session);
    return undefined;
  } catch (error) {
    return refusal(error);
  }
}

function showLogin(message?: string): void {
  shell?.close();
  shell = undefined;
  root.replaceChildren(loginView(signIn, message));
}

function showDashboard(session: DashboardSession): void {
  shell?.close();
  shell = new DashboardShell(session, {
    logout: () => {
      forgetSession();
      showLogin();
      // The server forgets the session too; the page does not wait for it.
      endSession(session).catch(() => undefined);
    },
    expired: (message) => {
      forgetSession();
      showLogin(`Signed out: ${message}`);
    },
  });
  root.replaceChildren(shell.root);
}

async function start(): Promise<void> {
  const linkToken = takeTokenFromUrl();
  if (linkToken !== undefined) {
    const message = await signIn(linkToken);
    if (message !== undefined) showLogin(message);
    return;
  }
  const stored = loadSession();
  if (stored) showDashboard(stored);
  else showLogin();
}

void start();
