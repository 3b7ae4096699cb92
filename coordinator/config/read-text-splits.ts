import { readFile, stat } from 'node:fs/promises';
import {
  checkLabels,
  FedistillError,
  readTextTable,
  textFormatByExtension,
  tokenFeatureNames,
  unwrap,
  type FeatureTable,
  type LabelledTable,
  type TextFormat,
} from '../../protocol/index.js';
import { TextTokenizer, trainTokenizer } from '../../protocol/text/tokenizer.js';
import type { CoordinatorConfig } from './coordinator-config.js';

type TextSettings = NonNullable<CoordinatorConfig['data']['text']>;

/** A split's format: a folder of files, or a file by its extension (.jsonl, .ndjson, else CSV). */
export async function textFormatOf(file: string): Promise<TextFormat> {
  const isFolder = await stat(file).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (isFolder) return 'folder';
  return textFormatByExtension(file) ?? 'csv';
}

export interface TextSplits {
  readonly publicSplit: FeatureTable;
  readonly publicLabels: Int32Array | null;
  readonly heldOut: LabelledTable;
  /** The encoded public rows (and labels): what a teacher trains on, for cache keys. */
  readonly publicSplitBytes: Uint8Array;
  /** The tokenizer.json the sites receive, and what it gives. */
  readonly text: {
    readonly tokenizer: Uint8Array;
    readonly length: number;
    readonly vocabulary: number;
  };
}

async function readTexts(file: string, column: string, labelled: boolean, what: string) {
  return unwrap(
    await readTextTable(await textFormatOf(file), file, {
      text: column,
      label: labelled ? 'label' : null,
      source: `${what} ${file}`,
    }),
  );
}

/**
 * The public and held-out splits of a run over text, as token-id tables: the tokenizer is read
 * from `tokenizerFile` or learned from the public split's texts (never the held-out ones).
 */
export async function readTextSplits(
  data: CoordinatorConfig['data'] & { readonly text: TextSettings },
): Promise<TextSplits> {
  const { column, length, vocabulary, tokenizerFile } = data.text;
  const publicTexts = await readTexts(data.publicSplit, column, data.publicLabels, 'public split');
  const heldOutTexts = await readTexts(data.heldOut, column, true, 'held-out split');
  let blob: Uint8Array;
  if (tokenizerFile) {
    blob = await readFile(tokenizerFile).catch((error: Error) => {
      throw new FedistillError({
        code: 'config.invalid',
        message: `cannot read data.text.tokenizerFile ${tokenizerFile}: ${error.message}`,
      });
    });
  } else {
    blob = await trainTokenizer(publicTexts.texts, vocabulary);
  }
  const tokenizer = TextTokenizer.fromBlob(blob, tokenizerFile ?? 'the learned tokenizer');
  const featureNames = tokenFeatureNames(length);
  const table = async (texts: readonly string[]): Promise<FeatureTable> => ({
    featureNames,
    rows: texts.length,
    features: length,
    inputs: await tokenizer.encode(texts, length),
  });
  const publicSplit = await table(publicTexts.texts);
  const heldOut = { ...(await table(heldOutTexts.texts)), labels: heldOutTexts.labels! };
  unwrap(checkLabels(heldOut, data.classes, `held-out split ${data.heldOut}`));
  if (publicTexts.labels) {
    unwrap(
      checkLabels(
        { ...publicSplit, labels: publicTexts.labels },
        data.classes,
        `public split ${data.publicSplit}`,
      ),
    );
  }
  const labels = publicTexts.labels ?? new Int32Array(0);
  const publicSplitBytes = new Uint8Array(publicSplit.inputs.byteLength + labels.byteLength);
  publicSplitBytes.set(new Uint8Array(publicSplit.inputs.buffer), 0);
  publicSplitBytes.set(new Uint8Array(labels.buffer), publicSplit.inputs.byteLength);
  return {
    publicSplit,
    publicLabels: publicTexts.labels,
    heldOut,
    publicSplitBytes,
    text: { tokenizer: blob, length, vocabulary: tokenizer.vocabulary },
  };
}
