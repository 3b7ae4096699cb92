import type { DashboardSession } from '../protocol/operator-feed.js';

/**
 * The browser's session: exchanged once from a login or API token, then kept in sessionStorage
 * (per tab, gone with it) so a reload does not ask again. Only the short-lived session token is
 * stored, never the token that was typed or came in the link.
 */

const STORAGE_KEY = 'fedistill.dashboard.session';

/** An error answer of the REST API (`{code, message}`), or a network failure. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export function loadSession(): DashboardSession | undefined {
  const raw = sessionStorage.getItem(STORAGE_KEY);
  if (!raw) return undefined;
  try {
    const session = JSON.parse(raw) as DashboardSession;
    if (typeof session.token === 'string' && Date.parse(session.expiresAt) > Date.now()) {
      return session;
    }
  } catch {
    // A corrupt entry is the same as none.
  }
  sessionStorage.removeItem(STORAGE_KEY);
  return undefined;
}

export function saveSession(session: DashboardSession): void {
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session));
}

export function forgetSession(): void {
  sessionStorage.removeItem(STORAGE_KEY);
}

/**
 * Takes a one-time `?token=` off the address bar before anything else, so it never stays in
 * history or reaches a screenshot; returns it for the exchange.
 */
export function takeTokenFromUrl(): string | undefined {
  const url = new URL(window.location.href);
  const token = url.searchParams.get('token');
  if (token === null) return undefined;
  url.searchParams.delete('token');
  history.replaceState(history.state, '', url.pathname + url.search + url.hash);
  return token.trim() || undefined;
}

/** Trades a login token or an API token for a session; 401 means refused. */
export async function exchangeToken(token: string): Promise<DashboardSession> {
  return request<DashboardSession>('POST', '/api/sessions', undefined, { token });
}

export async function endSession(session: DashboardSession): Promise<void> {
  await request<void>('DELETE', '/api/sessions/current', session.token);
}

/** Bearer-authenticated calls for the rest of the page. */
export function apiClient(session: DashboardSession) {
  return {
    get: <T>(path: string) => request<T>('GET', path, session.token),
    post: <T>(path: string) => request<T>('POST', path, session.token),
    /** The raw response, for downloads. */
    fetchBlob: async (path: string): Promise<Blob> => {
      const response = await send('GET', path, session.token);
      return response.blob();
    },
  };
}

export type ApiClient = ReturnType<typeof apiClient>;

async function request<T>(
  method: string,
  path: string,
  bearer: string | undefined,
  body?: unknown,
): Promise<T> {
  const response = await send(method, path, bearer, body);
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

async function send(
  method: string,
  path: string,
  bearer: string | undefined,
  body?: unknown,
): Promise<Response> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (bearer) headers['Authorization'] = `Bearer ${bearer}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
  } catch (error) {
    throw new ApiError(0, 'network', `The coordinator cannot be reached (${String(error)}).`);
  }
  if (response.ok) return response;
  throw await errorOf(response);
}

async function errorOf(response: Response): Promise<ApiError> {
  try {
    const body = (await response.json()) as { code?: unknown; message?: unknown };
    // Coded errors carry a string; framework errors may carry a list of messages.
    const message =
      typeof body.message === 'string'
        ? body.message
        : Array.isArray(body.message)
          ? body.message.join('; ')
          : response.statusText;
    const code = typeof body.code === 'string' ? body.code : `http.${response.status}`;
    return new ApiError(response.status, code, message);
  } catch {
    return new ApiError(response.status, `http.${response.status}`, response.statusText);
  }
}
