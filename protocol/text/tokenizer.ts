import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Tokenizer } from 'tokenizers';
import { FedistillError } from '../errors.js';
import { MAX_VOCABULARY, PAD_ID, UNK_ID } from './token-ids.js';

/**
 * The tokenizer is Hugging Face's (`tokenizers`, its Rust library through Node-API; every
 * platform's binary is inside the npm package, nothing is downloaded): NFKC and lower case, BERT's
 * split on whitespace and punctuation, then byte-pair merges. It is learned by the coordinator
 * and shipped to the sites as the JSON both load, so both sides encode with the same merges.
 * Only the processes that encode text load it (it is not part of protocol/index.ts).
 */
const SPECIALS = ['[PAD]', '[UNK]'] as const;

export class TextTokenizer {
  private constructor(
    private readonly tokenizer: Tokenizer,
    /** The tokenizer's JSON as shipped; its hash names it. */
    readonly blob: Uint8Array,
    readonly vocabulary: number,
  ) {}

  /** Loads a tokenizer blob (Hugging Face tokenizer.json); `source` names it in errors. */
  static fromBlob(blob: Uint8Array, source: string): TextTokenizer {
    let tokenizer: Tokenizer;
    try {
      tokenizer = Tokenizer.fromString(Buffer.from(blob).toString('utf8'));
    } catch (error) {
      throw new FedistillError({
        code: 'data.invalid',
        message: `${source} is not a tokenizer.json that the tokenizers library loads: ${(error as Error).message}`,
      });
    }
    const vocabulary = tokenizer.getVocabSize(true);
    const pad = tokenizer.tokenToId(SPECIALS[PAD_ID]);
    const unk = tokenizer.tokenToId(SPECIALS[UNK_ID]);
    if (pad !== PAD_ID || unk !== UNK_ID || vocabulary > MAX_VOCABULARY) {
      throw new FedistillError({
        code: 'data.invalid',
        message: `${source} must have [PAD] as id 0, [UNK] as id 1 and at most ${MAX_VOCABULARY} ids; it has [PAD] ${pad}, [UNK] ${unk} and ${vocabulary} ids`,
      });
    }
    return new TextTokenizer(tokenizer, blob, vocabulary);
  }

  /**
   * Each text's first `length` token ids, padded with PAD_ID: rows x length, row-major, as
   * float32 so that the rows are a feature table.
   */
  async encode(texts: readonly string[], length: number): Promise<Float32Array> {
    const rows = new Float32Array(texts.length * length);
    // Batches keep one call's native memory bounded on a large corpus.
    const batch = 512;
    for (let start = 0; start < texts.length; start += batch) {
      const encodings = await this.tokenizer.encodeBatch(texts.slice(start, start + batch));
      encodings.forEach((encoding, i) => {
        const ids = encoding.getIds();
        rows.set(ids.slice(0, length), (start + i) * length);
      });
    }
    return rows;
  }

  /** The tokens of a text, for people reading what the student sees. */
  async tokens(text: string): Promise<string[]> {
    return (await this.tokenizer.encode(text)).getTokens();
  }
}

interface BpeJson {
  added_tokens: unknown[];
  model: {
    type: string;
    unk_token: string | null;
    vocab: Record<string, number>;
    merges: Array<[string, string]>;
  };
}

/**
 * Keeps the `vocabulary` - 2 first ids of a trained byte-pair model behind [PAD] and [UNK]. A
 * trained model numbers its alphabet first, then each merge's result in the order merges apply,
 * so the first ids are the most frequent merges and every kept merge's parts are kept too.
 */
export function capVocabulary(trained: BpeJson, vocabulary: number): BpeJson {
  if (trained.model.type !== 'BPE')
    throw new Error(`expected a BPE model, got ${trained.model.type}`);
  const kept = Object.entries(trained.model.vocab)
    .filter(([, id]) => id < vocabulary - SPECIALS.length)
    .sort((a, b) => a[1] - b[1]);
  // No prototype: a token such as `constructor` must not count as kept when it was cut.
  const vocab = Object.create(null) as Record<string, number>;
  SPECIALS.forEach((token, id) => (vocab[token] = id));
  for (const [token, id] of kept) vocab[token] = id + SPECIALS.length;
  const has = (token: string): boolean => Object.hasOwn(vocab, token);
  const merges = trained.model.merges.filter(([a, b]) => has(a) && has(b) && has(`${a}${b}`));
  return {
    ...trained,
    added_tokens: SPECIALS.map((content, id) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    model: { ...trained.model, unk_token: SPECIALS[UNK_ID], vocab, merges },
  };
}

const run = promisify(execFile);

/**
 * Learns a tokenizer of at most `vocabulary` ids from `texts` and gives its blob. The library
 * trains from files only and writes its progress to standard output, so a child process trains
 * it on a temporary file: the caller's output (a JSON line, a table) stays clean. Byte-pair
 * training is deterministic, so the same texts give the same blob (and hash) on a restart.
 */
export async function trainTokenizer(
  texts: readonly string[],
  vocabulary: number,
): Promise<Uint8Array> {
  if (vocabulary < SPECIALS.length + 1 || vocabulary > MAX_VOCABULARY) {
    throw new RangeError(`a vocabulary holds 3 to ${MAX_VOCABULARY} ids, not ${vocabulary}`);
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'fedistill-tokenizer-'));
  try {
    const corpus = path.join(dir, 'corpus.txt');
    const trained = path.join(dir, 'trained.json');
    await writeFile(corpus, texts.join('\n'));
    const child = fileURLToPath(new URL('./tokenizer-training.js', import.meta.url));
    await run(process.execPath, [child, corpus, trained]);
    const json = JSON.parse(await readFile(trained, 'utf8')) as BpeJson;
    return new TextEncoder().encode(JSON.stringify(capVocabulary(json, vocabulary)));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
