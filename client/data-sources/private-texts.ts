import { tokenFeatureNames, type LabelledTable } from '../../protocol/index.js';
import { TextTokenizer } from '../../protocol/text/tokenizer.js';
import { validationRows, type PrivateSplit } from './private-split.js';

/** A site's labelled texts: read here, encoded here, never sent. */
export interface LabelledTexts {
  readonly texts: readonly string[];
  readonly labels: Int32Array;
}

/** The private texts, split once into training and local validation (as splitPrivate does rows). */
export interface PrivateTextSplit {
  readonly train: LabelledTexts;
  readonly validation: LabelledTexts | undefined;
}

export function splitPrivateTexts(
  texts: LabelledTexts,
  fraction: number,
  seed: number,
): PrivateTextSplit {
  const rows = validationRows(texts.labels.length, fraction, seed);
  if (!rows) return { train: texts, validation: undefined };
  const take = (indices: readonly number[]): LabelledTexts => ({
    texts: indices.map((i) => texts.texts[i]!),
    labels: Int32Array.from(indices, (i) => texts.labels[i]!),
  });
  return { train: take(rows.train), validation: take(rows.validation) };
}

export const isTextSplit = (split: PrivateSplit | PrivateTextSplit): split is PrivateTextSplit =>
  'texts' in split.train;

/** Labelled texts as rows of their first `length` token ids. */
export async function encodeTexts(
  tokenizer: TextTokenizer,
  texts: LabelledTexts,
  length: number,
): Promise<LabelledTable> {
  return {
    featureNames: tokenFeatureNames(length),
    rows: texts.labels.length,
    features: length,
    inputs: await tokenizer.encode(texts.texts, length),
    labels: texts.labels,
  };
}

/**
 * The split as token-id rows, with the run's tokenizer (the blob the coordinator offered, its hash
 * already checked against the welcome's manifest): what the student trains on.
 */
export async function encodePrivateTexts(
  split: PrivateTextSplit,
  tokenizerBlob: Uint8Array,
  length: number,
): Promise<PrivateSplit> {
  const tokenizer = TextTokenizer.fromBlob(tokenizerBlob, "the run's tokenizer");
  const encode = (texts: LabelledTexts) => encodeTexts(tokenizer, texts, length);
  return {
    train: await encode(split.train),
    validation: split.validation && (await encode(split.validation)),
  };
}
