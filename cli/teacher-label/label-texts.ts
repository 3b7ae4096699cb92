import { unwrap } from '../../protocol/index.js';
import { LabelsWriter, resumeLabels } from './labels-file.js';
import { cutText, renderPrompt, type LabelPrompt } from './label-prompt.js';
import { requestFirstTokens, type LlmEndpoint } from './llm-request.js';
import { withRetries, type RetryPolicy } from './retry.js';
import { classLogprobs } from './token-classes.js';

/** A labelling run: the public texts in id order, the classes, the model, and the file. */
export interface LabelJob {
  readonly texts: readonly string[];
  /** Class names in class-number order (parseClassNames checked them). */
  readonly classNames: readonly string[];
  /** The JSONL file rows are appended to, and resumed from. */
  readonly out: string;
  readonly endpoint: LlmEndpoint;
  readonly prompt: LabelPrompt;
  /** Requests in flight at once. */
  readonly concurrency: number;
  readonly retry: RetryPolicy;
  /** Called as each row finishes: rows finished (labelled or failed) and failed this run. */
  readonly onRow?: (finished: number, failed: number) => void;
  /** Called once the resumed rows are known: the rows this run will ask for. */
  readonly onStart?: (toLabel: number) => void;
}

export interface LabelSummary {
  readonly rows: number;
  /** Rows already in the file, not asked again. */
  readonly resumed: number;
  /** An unterminated last line was cut off (and its row asked again). */
  readonly droppedTail: boolean;
  /** Rows labelled and written by this run. */
  readonly labelled: number;
  /** Rows that failed this run, with why, in id order. */
  readonly failed: readonly { readonly id: number; readonly reason: string }[];
  /** Rows neither labelled nor failed because the run stopped early. */
  readonly notLabelled: number;
  /** Why the run stopped early: an answer that every row would get (a 4xx, no logprobs). */
  readonly stoppedBy?: string;
  /** The mean over this run's rows of the mass the model gave to no class. */
  readonly meanMissingMass: number;
  /** Texts cut to maxTextChars this run. */
  readonly cutTexts: number;
}

/**
 * Asks the model for each row not yet in `out`, maps its first-token log-probabilities to
 * classes, and appends the row. Rows run `concurrency` at a time from one shared queue. A row
 * whose tries are spent, or whose tokens name no class, fails alone; an answer that is wrong for
 * every row (a 4xx other than 408 and 429, or no logprobs) stops the run after the rows in
 * flight. A file that is not this command's output is refused (a FedistillError).
 */
export async function labelTexts(job: LabelJob): Promise<LabelSummary> {
  const rows = job.texts.length;
  const resumed = unwrap(await resumeLabels(job.out, { rows, classes: job.classNames.length }));
  const pending = [...job.texts.keys()].filter((id) => !resumed.done.has(id));
  job.onStart?.(pending.length);
  const failed: { id: number; reason: string }[] = [];
  let labelled = 0;
  let missingMass = 0;
  let cutTexts = 0;
  let stoppedBy: string | undefined;
  const writer = pending.length > 0 ? unwrap(await LabelsWriter.open(job.out)) : undefined;

  const labelRow = async (id: number): Promise<void> => {
    const text = job.texts[id]!;
    if (cutText(text, job.prompt.maxTextChars) !== text) cutTexts++;
    const prompt = renderPrompt(job.prompt, text, job.classNames);
    const outcome = await withRetries(
      () => requestFirstTokens(job.endpoint, prompt),
      job.retry,
      () => stoppedBy !== undefined,
    );
    if (!outcome.ok) {
      if (outcome.fatal) stoppedBy ??= `id ${id}: ${outcome.reason}`;
      else failed.push({ id, reason: outcome.reason });
      return;
    }
    const classes = classLogprobs(outcome.value, job.classNames);
    if (!classes.ok) {
      failed.push({ id, reason: classes.error.message });
      return;
    }
    writer!.write({ id, topk: classes.value.topk });
    labelled++;
    missingMass += classes.value.missingMass;
  };

  // One iterator shared by every worker: each takes the next id when it is free.
  const queue = pending.values();
  let finished = 0;
  const worker = async (): Promise<void> => {
    try {
      for (const id of queue) {
        if (stoppedBy !== undefined) return;
        await labelRow(id);
        job.onRow?.(++finished, failed.length);
      }
    } catch (error) {
      // A write that failed (a full disk): the others stop too, and the file is closed after
      // the last of them rather than under their feet.
      stoppedBy ??= (error as Error).message;
      throw error;
    }
  };
  const workers = Array.from({ length: Math.min(job.concurrency, pending.length) }, worker);
  const settled = await Promise.allSettled(workers);
  writer?.close();
  const crashed = settled.find((result) => result.status === 'rejected');
  if (crashed) throw crashed.reason;
  failed.sort((a, b) => a.id - b.id);
  return {
    rows,
    resumed: resumed.done.size,
    droppedTail: resumed.droppedTail,
    labelled,
    failed,
    notLabelled: pending.length - labelled - failed.length,
    ...(stoppedBy === undefined ? {} : { stoppedBy }),
    meanMissingMass: labelled > 0 ? missingMass / labelled : 0,
    cutTexts,
  };
}
