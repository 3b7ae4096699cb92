import { stat } from 'node:fs/promises';
import { FedistillError, unwrap } from '../../protocol/index.js';
import {
  readTextTable,
  textFormatByExtension,
  type TextFormat,
} from '../../protocol/text/text-table.js';
import { labelProgress } from './label-progress.js';
import { DEFAULT_PROMPT, readPromptTemplate } from './label-prompt.js';
import { labelTexts, type LabelSummary } from './label-texts.js';
import type { LlmApi } from './llm-responses.js';
import type { RetryPolicy } from './retry.js';
import { parseClassNames } from './token-classes.js';

/** `fedistill teacher label`'s options, as commander parsed them. */
export interface TeacherLabelOptions {
  readonly input: string;
  readonly format?: TextFormat;
  readonly textColumn: string;
  readonly labelled?: boolean;
  readonly labelColumn: string;
  readonly classes: string;
  readonly url: string;
  readonly model: string;
  readonly api: LlmApi;
  readonly promptFile?: string;
  readonly topLogprobs: number;
  readonly concurrency: number;
  readonly retries: number;
  readonly timeoutMs: number;
  readonly maxTextChars?: number;
  readonly out: string;
}

/** Where the API key is read from, first set first: never a flag, which shell history keeps. */
export const API_KEY_VARIABLES = ['FEDISTILL_LLM_API_KEY', 'OPENAI_API_KEY'] as const;

/** A second, doubling per retry, up to a minute (Retry-After may ask for longer). */
const RETRY_DELAYS = { baseDelayMs: 1000, maxDelayMs: 60_000 } as const;

/** Failed rows whose reasons are printed, and failed ids listed; the rest are counted. */
const FAILURES_SHOWN = 10;
const FAILED_IDS_SHOWN = 100;

const invalid = (message: string): FedistillError =>
  new FedistillError({ code: 'config.invalid', message });

/** The input's format: a folder, or a file's extension; --format overrides. */
async function inputFormat(input: string, given: TextFormat | undefined): Promise<TextFormat> {
  if (given) return given;
  let isFolder: boolean;
  try {
    isFolder = (await stat(input)).isDirectory();
  } catch (error) {
    throw new FedistillError({
      code: 'file.unreadable',
      message: `--input: cannot read ${input}: ${(error as Error).message}`,
    });
  }
  if (isFolder) return 'folder';
  const byExtension = textFormatByExtension(input);
  if (byExtension) return byExtension;
  throw invalid(
    `--input: cannot tell the format of ${input} from its extension (.csv, .jsonl, .ndjson, or a folder); give --format`,
  );
}

/** The public texts, in the order that gives their ids; labels, if any, are checked and unused. */
async function readTexts(options: TeacherLabelOptions): Promise<readonly string[]> {
  const format = await inputFormat(options.input, options.format);
  const table = await readTextTable(format, options.input, {
    text: options.textColumn,
    label: options.labelled ? options.labelColumn : null,
    source: options.input,
  });
  if (!table.ok && !options.labelled && table.error.path?.includes('label')) {
    throw invalid(`${table.error.message} (give --labelled to read the labels and ignore them)`);
  }
  return unwrap(table).texts;
}

function endpointUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalid(`--url: ${url} is not a URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw invalid(`--url: ${url} is not an http or https URL`);
  }
  return url;
}

/**
 * Labels the public texts with the model and writes the top-k JSONL the coordinator imports;
 * resumes a file an earlier run left. False when a row failed or the run stopped early (the
 * caller exits non-zero); running it again asks only for the rows still missing.
 */
export async function teacherLabel(
  options: TeacherLabelOptions,
  io: {
    readonly print: (line: string) => void;
    readonly warn: (line: string) => void;
    readonly interactive: boolean;
    readonly env: NodeJS.ProcessEnv;
  },
): Promise<boolean> {
  const classNames = unwrap(parseClassNames(options.classes));
  const url = endpointUrl(options.url);
  const template = options.promptFile
    ? unwrap(await readPromptTemplate(options.promptFile))
    : DEFAULT_PROMPT;
  const texts = await readTexts(options);
  const apiKey = API_KEY_VARIABLES.map((name) => io.env[name]).find(Boolean);
  const retry: RetryPolicy = { retries: options.retries, ...RETRY_DELAYS };
  let bar: ReturnType<typeof labelProgress> | undefined;
  let summary: LabelSummary;
  try {
    summary = await labelTexts({
      texts,
      classNames,
      out: options.out,
      endpoint: {
        url,
        model: options.model,
        api: options.api,
        ...(apiKey ? { apiKey } : {}),
        topLogprobs: options.topLogprobs,
        timeoutMs: options.timeoutMs,
      },
      prompt: {
        template,
        ...(options.maxTextChars === undefined ? {} : { maxTextChars: options.maxTextChars }),
      },
      concurrency: options.concurrency,
      retry,
      onStart: (total) => {
        if (total > 0) bar = labelProgress({ total, print: io.print, interactive: io.interactive });
      },
      onRow: (finished, failed) => bar?.row(finished, failed),
    });
  } finally {
    bar?.stop();
  }
  return report(summary, options, io);
}

/** The summary on stdout; failures, and why the run stopped, on stderr. */
function report(
  summary: LabelSummary,
  options: TeacherLabelOptions,
  io: { readonly print: (line: string) => void; readonly warn: (line: string) => void },
): boolean {
  const { rows, resumed, labelled, failed } = summary;
  if (summary.droppedTail) {
    io.print(
      `${options.out}: cut off an unfinished last line (a run stopped mid-write) and asked its row again`,
    );
  }
  if (resumed === rows) {
    io.print(`${options.out} already holds all ${rows} rows; nothing to ask`);
    return true;
  }
  io.print(
    `${options.out}: ${resumed + labelled} of ${rows} rows (${labelled} labelled now, ${resumed} resumed); ${failed.length} failed`,
  );
  if (labelled > 0) {
    io.print(
      `mean missing mass ${summary.meanMissingMass.toFixed(4)} (probability on tokens that name no class, spread over the classes a row does not list)`,
    );
  }
  if (summary.cutTexts > 0) {
    io.print(`${summary.cutTexts} texts were cut to ${options.maxTextChars} characters`);
  }
  for (const { id, reason } of failed.slice(0, FAILURES_SHOWN))
    io.warn(`id ${id} failed: ${reason}`);
  if (failed.length > FAILURES_SHOWN) {
    io.warn(`... and ${failed.length - FAILURES_SHOWN} more failed rows`);
  }
  if (failed.length > 0) {
    const ids = failed.slice(0, FAILED_IDS_SHOWN).map(({ id }) => id);
    const more = failed.length > FAILED_IDS_SHOWN ? `, ... (${failed.length} in all)` : '';
    io.warn(`failed ids: ${ids.join(', ')}${more}; run the same command again to retry them`);
  }
  if (summary.stoppedBy !== undefined) {
    io.warn(
      `stopped: ${summary.stoppedBy}; ${summary.notLabelled} rows not labelled; run the same command again once fixed`,
    );
  }
  return failed.length === 0 && summary.stoppedBy === undefined;
}
