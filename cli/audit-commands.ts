import { readFile, writeFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import {
  auditEntrySchema,
  auditLeaf,
  decodeKey,
  FedistillError,
  hashLeaf,
  loadSodium,
  MerkleTree,
  parseWith,
  publicKeyFileSchema,
  readJsonFile,
  signedTreeHeadSchema,
  unwrap,
  verifyAuditLog,
  verifyInclusion,
  verifyTreeHead,
  type AuditEntry,
  type AuditLogExport,
  type SignedTreeHead,
} from '../protocol/index.js';
import { z } from 'zod';
import { withCoordinatorStore } from './coordinator-store.js';

/** The store's log and heads, read from the coordinator's store on this machine. */
export async function readAuditLog(
  configFile: string,
): Promise<{ entries: AuditEntry[]; treeHeads: SignedTreeHead[] }> {
  return withCoordinatorStore(configFile, async (store) => ({
    entries: await store.audit.entries(),
    treeHeads: await store.audit.treeHeads(),
  }));
}

/** One JSON object per line: `{"entry": {seq, event}}` or `{"treeHead": {...}}`. */
export function formatJsonl(log: AuditLogExport): string {
  return [
    ...log.entries.map((entry) => JSON.stringify({ entry })),
    ...log.treeHeads.map((treeHead) => JSON.stringify({ treeHead })),
  ]
    .map((line) => line + '\n')
    .join('');
}

const jsonlLineSchema = z.union([
  z.object({ entry: z.unknown() }).strict(),
  z.object({ treeHead: z.unknown() }).strict(),
]);

function parseJsonl(text: string, file: string): AuditLogExport {
  const log: { entries: AuditEntry[]; treeHeads: unknown[] } = { entries: [], treeHeads: [] };
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch (error) {
      throw new FedistillError({
        code: 'audit.malformed',
        message: `${file} line ${i + 1}: ${(error as Error).message}`,
      });
    }
    const parsed = unwrap(
      parseWith(jsonlLineSchema, raw, 'audit.malformed', `${file} line ${i + 1}`),
    );
    if ('entry' in parsed) {
      log.entries.push(
        unwrap(
          parseWith(auditEntrySchema, parsed.entry, 'audit.malformed', `${file} line ${i + 1}`),
        ),
      );
    } else log.treeHeads.push(parsed.treeHead);
  });
  return log;
}

/**
 * An export in either shape PROTOCOL.md section 10.5 allows: the `{entries, treeHeads}` document,
 * or the JSONL that `audit export` writes. A file that parses whole as a JSON object with either
 * key is the document (a one-line JSONL file parses whole too, but holds `entry` or `treeHead`).
 */
export function parseAuditExport(text: string, file: string): unknown {
  let whole: unknown;
  try {
    whole = JSON.parse(text);
  } catch {
    return parseJsonl(text, file);
  }
  const isDocument =
    typeof whole === 'object' &&
    whole !== null &&
    !Array.isArray(whole) &&
    ('entries' in whole || 'treeHeads' in whole);
  return isDocument ? whole : parseJsonl(text, file);
}

const CSV_COLUMNS = ['seq', 'at', 'event', 'run', 'round', 'site', 'code'] as const;

function csvCell(value: unknown): string {
  const text =
    value === undefined || value === null
      ? ''
      : typeof value === 'string'
        ? value
        : JSON.stringify(value);
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** For reading, not verifying: one row per entry, the usual fields in columns, the rest as JSON. */
export function formatCsv(entries: readonly AuditEntry[]): string {
  const rows = entries.map((entry) => {
    const { at, event, run, round, site, code, ...rest } = entry.event;
    return [entry.seq, at, event, run, round, site, code, rest].map(csvCell).join(',');
  });
  return [[...CSV_COLUMNS, 'details'].join(','), ...rows].map((r) => r + '\n').join('');
}

async function coordinatorKey(file: string): Promise<Uint8Array> {
  return decodeKey(unwrap(await readJsonFile(file, publicKeyFileSchema)).publicKey);
}

const proofSchema = z
  .object({
    entry: auditEntrySchema,
    treeHead: signedTreeHeadSchema,
    proof: z.array(z.string().regex(/^[0-9a-f]{64}$/)),
  })
  .strict();

/** `fedistill audit ...`: the auditor's tools, offline except `export` and `prove`. */
export function addAuditCommands(program: Command): void {
  const audit = program
    .command('audit')
    .description('the tamper-evident protocol log: export it, verify it offline, prove an entry');

  audit
    .command('export')
    .description(
      "the coordinator's log; jsonl holds the log from its first entry to the last one selected (verification recomputes the tree from the first leaf) with every tree head, csv just the selected entries",
    )
    .requiredOption('--config <file>', 'the coordinator config (for its store)')
    .addOption(new Option('--format <format>').choices(['jsonl', 'csv']).default('jsonl'))
    .option('--run <id>', 'entries of this run')
    .option('--from <time>', 'entries at or after this ISO time')
    .option('--to <time>', 'entries before this ISO time')
    .option('--out <file>', 'write here instead of standard output')
    .action(
      async (opts: {
        config: string;
        format: string;
        run?: string;
        from?: string;
        to?: string;
        out?: string;
      }) => {
        const log = await readAuditLog(opts.config);
        const selected = log.entries.filter(
          ({ event }) =>
            (opts.run === undefined || event.run === opts.run) &&
            (opts.from === undefined || String(event.at) >= opts.from) &&
            (opts.to === undefined || String(event.at) < opts.to),
        );
        let text: string;
        if (opts.format === 'csv') text = formatCsv(selected);
        else {
          const end = selected.length === 0 ? 0 : selected[selected.length - 1]!.seq + 1;
          text = formatJsonl({
            entries: log.entries.slice(0, end),
            treeHeads: log.treeHeads.filter((h) => h.size <= end),
          });
        }
        if (opts.out) await writeFile(opts.out, text);
        else process.stdout.write(text);
      },
    );

  audit
    .command('verify')
    .description(
      'recompute the tree, check every tree head (signature, root, consistency) and name the first bad entry; or check one inclusion proof',
    )
    .argument(
      '<file>',
      'an export: jsonl as `audit export` writes it, or one {entries, treeHeads} JSON document (PROTOCOL.md 10.5); with --proof a proof from `audit prove`',
    )
    .requiredOption('--coordinator-key <file>', "the coordinator's public key (coordinator.pub)")
    .option('--proof', 'the file is an inclusion proof')
    .option(
      '--site-heads <file>',
      "a site's tree-heads.jsonl: each head it was sent must sign a prefix of this log, or the coordinator showed it another history",
    )
    .action(
      async (
        file: string,
        opts: { coordinatorKey: string; proof?: boolean; siteHeads?: string },
      ) => {
        const sodium = await loadSodium();
        const key = await coordinatorKey(opts.coordinatorKey);
        const text = await readFile(file, 'utf8');
        if (opts.proof) {
          const claim = unwrap(parseWith(proofSchema, JSON.parse(text), 'audit.malformed', file));
          const head = unwrap(verifyTreeHead(sodium, key, claim.treeHead));
          unwrap(
            verifyInclusion({
              index: claim.entry.seq,
              size: head.size,
              leafHash: hashLeaf(unwrap(auditLeaf(claim.entry))),
              proof: claim.proof.map((p) => Buffer.from(p, 'hex')),
              root: Buffer.from(head.root, 'hex'),
            }),
          );
          console.log(
            `entry ${claim.entry.seq} is in the log of ${head.size} entries signed at ${head.time}`,
          );
          return;
        }
        const report = unwrap(verifyAuditLog(sodium, key, parseAuditExport(text, file)));
        console.log(
          `verified: ${report.entries} entries, ${report.treeHeads} signed tree heads; the last head covers ${report.coveredSize}`,
        );
        if (opts.siteHeads) {
          const heads = (await readFile(opts.siteHeads, 'utf8'))
            .split('\n')
            .filter((l) => l.trim());
          heads.forEach((line, i) => {
            const head = unwrap(verifyTreeHead(sodium, key, JSON.parse(line)));
            if (report.prefixRoots[head.size] !== head.root) {
              throw new FedistillError({
                code: 'audit.root_mismatch',
                message: `${opts.siteHeads} line ${i + 1}: the site was sent a head of ${head.size} entries (${head.time}) that this log does not have: the coordinator showed it another history`,
              });
            }
          });
          console.log(`the site's ${heads.length} heads all sign prefixes of this log`);
        }
      },
    );

  audit
    .command('prove')
    .description('an inclusion proof of one entry under the first tree head that covers it')
    .requiredOption('--config <file>', 'the coordinator config (for its store)')
    .requiredOption('--seq <n>', 'the entry', (v) => Number(v))
    .action(async (opts: { config: string; seq: number }) => {
      const log = await readAuditLog(opts.config);
      const entry = log.entries[opts.seq];
      const treeHead = log.treeHeads.find((h) => h.size > opts.seq);
      if (!entry || !treeHead) {
        throw new FedistillError({
          code: 'audit.bad_range',
          message: `no entry ${opts.seq} under a signed tree head (${log.entries.length} entries)`,
        });
      }
      const tree = new MerkleTree();
      for (const e of log.entries.slice(0, treeHead.size)) tree.append(unwrap(auditLeaf(e)));
      const proof = unwrap(tree.inclusionProof(opts.seq, treeHead.size));
      console.log(
        JSON.stringify(
          { entry, treeHead, proof: proof.map((p) => Buffer.from(p).toString('hex')) },
          null,
          2,
        ),
      );
    });
}
