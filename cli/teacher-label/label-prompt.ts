import { readFile } from 'node:fs/promises';
import { fail, ok, type Result } from '../../protocol/index.js';

/**
 * The built-in prompt. It ends where the answer starts, so that the first token the model
 * writes is the label, for a chat model and for a plain completion alike.
 */
export const DEFAULT_PROMPT = `Classify the text below as one of these labels: {labels}.
Answer with the label only.

Text:
{text}

Label:`;

/** A prompt template and how much of each text goes into it. */
export interface LabelPrompt {
  readonly template: string;
  /** Texts longer than this many characters are cut to it; undefined keeps them whole. */
  readonly maxTextChars?: number;
}

/** Reads a template; it must hold `{text}` (`{labels}` is optional: the names may be written in). */
export async function readPromptTemplate(file: string): Promise<Result<string>> {
  let template: string;
  try {
    template = await readFile(file, 'utf8');
  } catch (error) {
    return fail(
      'file.unreadable',
      `--prompt-file: cannot read ${file}: ${(error as Error).message}`,
    );
  }
  if (!template.includes('{text}')) {
    return fail('config.invalid', `--prompt-file ${file}: the template has no {text} placeholder`);
  }
  return ok(template);
}

/** A text cut to at most `max` characters, never inside a surrogate pair. */
export function cutText(text: string, max: number | undefined): string {
  if (max === undefined || text.length <= max) return text;
  return Array.from(text).slice(0, max).join('');
}

/**
 * The prompt for one text. One pass over the template, so that a text which itself contains
 * "{labels}" is left as written; a function replacer, so that "$&" in a text is not a pattern.
 */
export function renderPrompt(
  prompt: LabelPrompt,
  text: string,
  classNames: readonly string[],
): string {
  const values = { text: cutText(text, prompt.maxTextChars), labels: classNames.join(', ') };
  return prompt.template.replace(/\{(text|labels)\}/g, (_, key: 'text' | 'labels') => values[key]);
}
