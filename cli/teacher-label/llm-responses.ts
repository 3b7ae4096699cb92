import { z } from 'zod';
import { fail, ok, type Result } from '../../protocol/index.js';
import type { TokenLogprob } from './token-classes.js';

/** Which OpenAI-compatible endpoint is asked: chat completions, or legacy text completions. */
export const LLM_APIS = ['chat', 'completions'] as const;
export type LlmApi = (typeof LLM_APIS)[number];

/**
 * Chat completions (OpenAI API reference, "The chat completion object"; vLLM, llama.cpp's
 * server and Ollama answer alike): choices[0].logprobs.content is one entry per generated token,
 * each with top_logprobs: [{token, logprob, bytes}], the most likely tokens at that position.
 * `logprobs` is null when the server ignored the request for them.
 */
const chatSchema = z.object({
  choices: z
    .array(
      z.object({
        logprobs: z.object({
          content: z.array(
            z.object({
              top_logprobs: z.array(z.object({ token: z.string(), logprob: z.number() })),
            }),
          ),
        }),
      }),
    )
    .min(1),
});

/**
 * Legacy completions (OpenAI API reference, "The completion object"): choices[0].logprobs has
 * tokens, token_logprobs, text_offset and top_logprobs, one {token: logprob} object per
 * generated token with up to `logprobs` (+1: the sampled token) entries. Some servers write null
 * for a value they have no number for.
 */
const completionsSchema = z.object({
  choices: z
    .array(
      z.object({
        logprobs: z.object({ top_logprobs: z.array(z.record(z.string(), z.number().nullable())) }),
      }),
    )
    .min(1),
});

/**
 * The most likely first tokens of the answer, from a 2xx response body. A body that does not
 * have the documented shape fails: the server does not speak the API, or returned no logprobs.
 * An answer with no first token succeeds with an empty list (the model stopped at once).
 */
export function firstTokenLogprobs(api: LlmApi, body: unknown): Result<TokenLogprob[]> {
  if (api === 'chat') {
    const parsed = chatSchema.safeParse(body);
    if (!parsed.success) return noLogprobs('choices[0].logprobs.content[0].top_logprobs');
    return ok(parsed.data.choices[0]!.logprobs.content[0]?.top_logprobs ?? []);
  }
  const parsed = completionsSchema.safeParse(body);
  if (!parsed.success) return noLogprobs('choices[0].logprobs.top_logprobs[0]');
  const first = parsed.data.choices[0]!.logprobs.top_logprobs[0] ?? {};
  return ok(
    Object.entries(first).flatMap(([token, logprob]) =>
      logprob === null ? [] : [{ token, logprob }],
    ),
  );
}

function noLogprobs(where: string): Result<never> {
  return fail(
    'data.invalid',
    `the answer has no ${where}: does the server return log-probabilities for this model and API?`,
  );
}
