import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** How the fake answers one request: canned top first tokens, an HTTP error, or silence. */
export type FakeAnswer =
  | { readonly top: readonly (readonly [string, number])[] }
  | {
      readonly status: number;
      readonly message: string;
      readonly headers?: Readonly<Record<string, string>>;
    }
  | { readonly hang: true };

/** One request as the fake received it. */
export interface FakeRequest {
  readonly path: string;
  readonly authorization: string | undefined;
  readonly body: Record<string, unknown>;
  /** The index of the known text the prompt holds (the longest that matches), or -1. */
  readonly text: number;
  /** ms since the fake started. */
  readonly at: number;
}

export interface FakeLlm {
  /** The base URL, as --url takes it: http://127.0.0.1:PORT/v1. */
  readonly url: string;
  readonly requests: FakeRequest[];
  /** The most requests that were in flight at once. */
  readonly maxInFlight: () => number;
  close(): Promise<void>;
}

/** The prompt of a chat or completions request. */
function promptOf(body: Record<string, unknown>): string {
  const messages = body['messages'];
  if (Array.isArray(messages)) {
    return messages.map((m: { content?: unknown }) => String(m.content)).join('\n');
  }
  return String(body['prompt'] ?? '');
}

/**
 * The documented answers (OpenAI API reference): "The chat completion object" with
 * choices[0].logprobs.content[0].top_logprobs [{token, logprob, bytes}], and "The completion
 * object" with choices[0].logprobs.top_logprobs[0] {token: logprob}. The answer's one token is
 * the most likely.
 */
function completion(path: string, model: string, top: readonly (readonly [string, number])[]) {
  const [token, logprob] = top[0] ?? ['', 0];
  const bytes = (text: string) => [...Buffer.from(text, 'utf8')];
  const usage = { prompt_tokens: 10, completion_tokens: 1, total_tokens: 11 };
  if (path.endsWith('/chat/completions')) {
    return {
      id: 'chatcmpl-fake',
      object: 'chat.completion',
      created: 1_700_000_000,
      model,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: token },
          logprobs: {
            content: top.length
              ? [
                  {
                    token,
                    logprob,
                    bytes: bytes(token),
                    top_logprobs: top.map(([t, l]) => ({ token: t, logprob: l, bytes: bytes(t) })),
                  },
                ]
              : [],
          },
          finish_reason: 'length',
        },
      ],
      usage,
    };
  }
  return {
    id: 'cmpl-fake',
    object: 'text_completion',
    created: 1_700_000_000,
    model,
    choices: [
      {
        text: token,
        index: 0,
        logprobs: {
          tokens: [token],
          token_logprobs: [logprob],
          top_logprobs: [Object.fromEntries(top)],
          text_offset: [0],
        },
        finish_reason: 'length',
      },
    ],
    usage,
  };
}

/**
 * An OpenAI-compatible server on loopback for the texts given: `answer(text, attempt)` says how
 * to answer the attempt-th request (0-based) for that text. Each answer waits `delayMs` first,
 * so that concurrent requests overlap.
 */
export async function startFakeLlm({
  texts,
  answer,
  delayMs = 0,
}: {
  readonly texts: readonly string[];
  readonly answer: (text: number, attempt: number) => FakeAnswer;
  readonly delayMs?: number;
}): Promise<FakeLlm> {
  const requests: FakeRequest[] = [];
  const started = Date.now();
  let inFlight = 0;
  let maxInFlight = 0;
  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    let raw = '';
    for await (const chunk of request) raw += String(chunk);
    const body = JSON.parse(raw) as Record<string, unknown>;
    const prompt = promptOf(body);
    let text = -1;
    texts.forEach((candidate, i) => {
      if (prompt.includes(candidate) && (text < 0 || candidate.length > texts[text]!.length)) {
        text = i;
      }
    });
    const attempt = requests.filter((r) => r.text === text).length;
    requests.push({
      path: request.url ?? '',
      authorization: request.headers.authorization,
      body,
      text,
      at: Date.now() - started,
    });
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    try {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      const reply = answer(text, attempt);
      if ('hang' in reply) return;
      const path = request.url ?? '';
      if (!path.endsWith('/v1/chat/completions') && !path.endsWith('/v1/completions')) {
        response.writeHead(404, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ error: { message: `no route ${path}`, type: 'not_found' } }));
        return;
      }
      if ('status' in reply) {
        response.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
        response.end(
          JSON.stringify({ error: { message: reply.message, type: 'error', code: reply.status } }),
        );
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify(completion(path, String(body['model']), reply.top)));
    } finally {
      inFlight--;
    }
  };
  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      response.writeHead(500);
      response.end(String(error));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    maxInFlight: () => maxInFlight,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}
