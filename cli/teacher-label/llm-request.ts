import { firstTokenLogprobs, type LlmApi } from './llm-responses.js';
import { retryAfterMs, type Attempt } from './retry.js';
import type { TokenLogprob } from './token-classes.js';

/** The server and model asked, and how. */
export interface LlmEndpoint {
  /** The API's base URL, e.g. http://127.0.0.1:8000/v1. */
  readonly url: string;
  readonly model: string;
  readonly api: LlmApi;
  /** Sent as a bearer token when set; read from the environment, never from the command line. */
  readonly apiKey?: string;
  /** How many of the most likely first tokens the server lists. */
  readonly topLogprobs: number;
  readonly timeoutMs: number;
}

/** The longest server message quoted in an error. */
const MAX_MESSAGE_CHARS = 500;

/**
 * One generated token (all that is read), greedy: the most likely first tokens are what the
 * model would answer. `max_tokens` rather than `max_completion_tokens`, which not every
 * compatible server reads.
 */
function requestBody(endpoint: LlmEndpoint, prompt: string): object {
  const common = { model: endpoint.model, max_tokens: 1, temperature: 0 };
  return endpoint.api === 'chat'
    ? {
        ...common,
        messages: [{ role: 'user', content: prompt }],
        logprobs: true,
        top_logprobs: endpoint.topLogprobs,
      }
    : { ...common, prompt, logprobs: endpoint.topLogprobs };
}

function endpointUrl(endpoint: LlmEndpoint): string {
  const base = endpoint.url.replace(/\/+$/, '');
  return `${base}/${endpoint.api === 'chat' ? 'chat/completions' : 'completions'}`;
}

/**
 * What an error body says: OpenAI, llama.cpp and Ollama write {error: {message}}, older vLLM
 * {message}, some servers {error: "..."}; otherwise the start of the body.
 */
function serverMessage(text: string): string {
  let message = text;
  try {
    const body = JSON.parse(text) as { error?: { message?: unknown } | string; message?: unknown };
    const found =
      typeof body.error === 'string'
        ? body.error
        : typeof body.error?.message === 'string'
          ? body.error.message
          : body.message;
    if (typeof found === 'string') message = found;
  } catch {
    // Not JSON: the text itself.
  }
  message = message.trim();
  return message.length > MAX_MESSAGE_CHARS ? `${message.slice(0, MAX_MESSAGE_CHARS)}...` : message;
}

/** Too many requests, a timeout answered by the server, or the server's own failure. */
const retryable = (status: number): boolean => status === 429 || status === 408 || status >= 500;

/**
 * Asks for the answer's most likely first tokens. Unreachable, timed out, 408, 429 and 5xx may
 * pass (retry: true); another 4xx or an answer without logprobs will not: the request or the
 * server is wrong for every row alike.
 */
export async function requestFirstTokens(
  endpoint: LlmEndpoint,
  prompt: string,
): Promise<Attempt<TokenLogprob[]>> {
  const url = endpointUrl(endpoint);
  let response: Response;
  let text: string;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(endpoint.apiKey ? { authorization: `Bearer ${endpoint.apiKey}` } : {}),
      },
      body: JSON.stringify(requestBody(endpoint, prompt)),
      signal: AbortSignal.timeout(endpoint.timeoutMs),
    });
    text = await response.text();
  } catch (error) {
    const timedOut = (error as Error).name === 'TimeoutError';
    const cause = (error as { cause?: Error }).cause?.message ?? (error as Error).message;
    return {
      ok: false,
      retry: true,
      reason: timedOut
        ? `no answer from ${url} within ${endpoint.timeoutMs} ms`
        : `${url}: ${cause}`,
    };
  }
  if (!response.ok) {
    const reason = `${url} answered HTTP ${response.status}: ${serverMessage(text) || response.statusText}`;
    const after = retryAfterMs(response.headers.get('retry-after'));
    return retryable(response.status)
      ? { ok: false, retry: true, reason, ...(after === undefined ? {} : { retryAfterMs: after }) }
      : { ok: false, retry: false, reason };
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return {
      ok: false,
      retry: false,
      reason: `${url} answered HTTP ${response.status} with no JSON`,
    };
  }
  const tokens = firstTokenLogprobs(endpoint.api, body);
  return tokens.ok
    ? tokens
    : { ok: false, retry: false, reason: `${url}: ${tokens.error.message}` };
}
