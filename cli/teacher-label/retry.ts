import { setTimeout as sleep } from 'node:timers/promises';

/** How often and how patiently a request is tried again. */
export interface RetryPolicy {
  /** Tries after the first. */
  readonly retries: number;
  /** The wait before the first retry; it doubles with each one, up to maxDelayMs. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

/** One try: a value, or why not and whether trying again may help. */
export type Attempt<T> =
  | { readonly ok: true; readonly value: T }
  | {
      readonly ok: false;
      readonly retry: boolean;
      readonly reason: string;
      /** The server's Retry-After, in ms. */
      readonly retryAfterMs?: number;
    };

/** The end of all tries: the value, or the last reason and whether it was final at once. */
export type Outcome<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly fatal: boolean; readonly reason: string };

/**
 * The longest Retry-After honoured: a server that asks for more is refusing, not pacing, and a
 * run should not stall for hours on one row.
 */
const MAX_RETRY_AFTER_MS = 5 * 60_000;

/**
 * A Retry-After header (RFC 9110: delay-seconds or an HTTP-date) as a wait in ms from `now`;
 * undefined when absent or unreadable.
 */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (header === null) return undefined;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * Runs `attempt` until it succeeds, fails for good, the retries are spent, or `stopped()` says
 * the run is over. Waits grow exponentially with jitter (so that workers that failed together
 * do not return together), and never fall short of the server's Retry-After.
 */
export async function withRetries<T>(
  attempt: () => Promise<Attempt<T>>,
  policy: RetryPolicy,
  stopped: () => boolean,
): Promise<Outcome<T>> {
  for (let failures = 0; ; failures++) {
    const result = await attempt();
    if (result.ok) return result;
    if (!result.retry) return { ok: false, fatal: true, reason: result.reason };
    if (failures >= policy.retries || stopped()) {
      const tries = failures + 1;
      return {
        ok: false,
        fatal: false,
        reason: `${result.reason} (${tries} ${tries === 1 ? 'try' : 'tries'})`,
      };
    }
    const backoff =
      Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** failures) * (0.5 + Math.random() / 2);
    const asked = Math.min(result.retryAfterMs ?? 0, MAX_RETRY_AFTER_MS);
    await sleep(Math.max(backoff, asked));
  }
}
