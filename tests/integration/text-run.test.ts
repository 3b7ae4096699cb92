import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tfjs from '@tensorflow/tfjs';
import { splitMail } from '../../cli/demo/mail-split.js';
import { loadSpamAssassin, type MailCorpus } from '../../cli/demo/spam-assassin.js';
import { prepareWorkspace, type DemoWorkspace } from '../../cli/demo/workspace.js';
import type { SiteConfig } from '../../client/site-config.js';
import type { SiteMessageEvent } from '../../coordinator/events/coordinator-events.js';
import {
  loadCoordinatorConfig,
  type CoordinatorConfig,
} from '../../coordinator/config/coordinator-config.js';
import { startCoordinator, type CoordinatorHandle } from '../../coordinator/coordinator.js';
import { runWorkspaceSites } from '../../harness/run-fixture.js';
import { contentHash, loadSodium, toHex } from '../../protocol/index.js';
import { TextTokenizer, trainTokenizer } from '../../protocol/text/tokenizer.js';
import { loadExportedModel } from '../support/exported-model.js';

const LENGTH = 64;
const VOCABULARY = 2000;

/**
 * `rows` emails of a part, evenly spaced so that the run stays short: a part holds its emails in
 * id order, which is by group (ham groups, then spam), so its first rows would be one class.
 */
const first = (mail: MailCorpus, rows: number) => {
  const picked = Array.from({ length: Math.min(rows, mail.texts.length) }, (_, i) =>
    Math.floor((i * mail.texts.length) / rows),
  );
  return {
    texts: picked.map((i) => mail.texts[i]!),
    labels: Int32Array.from(picked, (i) => mail.labels[i]!),
  };
};
type Mail = ReturnType<typeof first>;

const quote = (text: string) => `"${text.replace(/"/g, '""')}"`;
const csv = (mail: Mail) =>
  `text,label\n${mail.texts.map((t, i) => `${quote(t)},${mail.labels[i]}`).join('\n')}\n`;
const jsonl = (mail: Mail) =>
  mail.texts.map((text, i) => JSON.stringify({ text, label: mail.labels[i] })).join('\n');

async function writeFolder(dir: string, mail: Mail): Promise<void> {
  for (const label of [0, 1]) await mkdir(path.join(dir, String(label)), { recursive: true });
  await Promise.all(
    mail.texts.map((text, i) =>
      writeFile(path.join(dir, String(mail.labels[i]), `${String(i).padStart(4, '0')}.txt`), text),
    ),
  );
}

describe('a run over text: real mail at three banks, a tokenizer the coordinator learns', () => {
  let dir: string;
  let workspace: DemoWorkspace;
  let coordinator: CoordinatorHandle;
  let publicMail: Mail;
  let heldOutMail: Mail;
  let exportDir: string;
  /** Each site's private mail, to look for in what the sites sent. */
  const privateMail: Mail[] = [];
  const siteData = new Map<string, SiteConfig['data']>();
  const fromSites: SiteMessageEvent['message'][] = [];

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'fedistill-text-run-'));
    workspace = await prepareWorkspace(dir, {
      sites: 3,
      rounds: 3,
      seed: 7,
      cacheDir: path.join(dir, 'cache'),
    });
    const mail = splitMail(await loadSpamAssassin(), 7);
    publicMail = first(mail.publicSplit, 500);
    const files = path.join(dir, 'mail');
    await mkdir(files, { recursive: true });
    await writeFile(path.join(files, 'public.csv'), csv(publicMail));
    heldOutMail = first(mail.heldOut, 400);
    await writeFile(path.join(files, 'held-out.jsonl'), jsonl(heldOutMail));
    const [csvSite, jsonlSite, folderSite] = workspace.siteNames;
    privateMail.push(...[0, 1, 2].map((bank) => first(mail.sites[bank]!, 300)));
    await writeFile(path.join(files, 'bank-1.csv'), csv(privateMail[0]!));
    siteData.set(csvSite!, {
      kind: 'csv',
      path: path.join(files, 'bank-1.csv'),
      label: 'label',
      text: 'text',
    });
    await writeFile(path.join(files, 'bank-2.jsonl'), jsonl(privateMail[1]!));
    siteData.set(jsonlSite!, {
      kind: 'jsonl',
      path: path.join(files, 'bank-2.jsonl'),
      label: 'label',
      text: 'text',
    });
    await writeFolder(path.join(files, 'bank-3'), privateMail[2]!);
    siteData.set(folderSite!, { kind: 'folder', path: path.join(files, 'bank-3') });
    const loaded = await loadCoordinatorConfig(workspace.coordinatorConfigFile);
    const config: CoordinatorConfig = {
      ...loaded,
      data: {
        ...loaded.data,
        name: 'mail',
        classes: 2,
        publicSplit: path.join(files, 'public.csv'),
        heldOut: path.join(files, 'held-out.jsonl'),
        normalize: 'none',
        text: { column: 'text', length: LENGTH, vocabulary: VOCABULARY },
      },
      run: {
        ...loaded.run!,
        studentText: { kind: 'bag', embedding: 16, hidden: [] },
        // The student's pooled embedding regressed on the teacher's hidden layer (16 wide).
        distillation: { mode: 'transfer-set', hiddenState: { studentLayer: 'pool', weight: 0.1 } },
        compression: {
          ...loaded.run!.compression,
          pruning: { schedule: { kind: 'constant', sparsity: 0.5 }, structure: 'weights' },
        },
        teacher: {
          source: 'model',
          hidden: [],
          text: { kind: 'bag', embedding: 48, hidden: [16] },
          epochs: 20,
          batchSize: 32,
          learningRate: 0.01,
        },
      },
    };
    exportDir = config.exportDir!;
    coordinator = await startCoordinator(config, { logLevels: false });
    coordinator.events.on('siteMessage', (event) => fromSites.push(event.message));
  });

  after(async () => {
    await coordinator?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('trains the text student from CSV, JSONL and a folder, every site on the same tokenizer, distilling hidden states', async (t) => {
    const lines: string[] = [];
    const { sites, report } = await runWorkspaceSites(workspace, coordinator, {
      adjust: (config) => {
        const site = [...siteData.keys()].find(
          (name) => workspace.keys.siteIdentities[name] === config.identityFile,
        );
        return { ...config, data: siteData.get(site!)! };
      },
      log: (line) => lines.push(line),
    });
    assert.equal(sites.length, 3);
    assert.equal(report.rounds, 3);
    // The coordinator learns its tokenizer from the public texts alone, deterministically: the
    // same texts give the blob whose hash every site checked its download against.
    const sodium = await loadSodium();
    const expected = toHex(
      contentHash(sodium, await trainTokenizer(publicMail.texts, VOCABULARY)),
    ).slice(0, 16);
    const tokenizerLines = lines.filter((line) => line.includes(': tokenizer '));
    assert.equal(tokenizerLines.length, 3, lines.join('\n'));
    for (const line of tokenizerLines) {
      assert.match(line, new RegExp(`tokenizer ${expected}: texts encoded to ${LENGTH} token ids`));
    }
    t.diagnostic(
      `held-out accuracy: student ${report.student_accuracy}, teacher ${report.teacher_accuracy}, majority ${report.majority_class_rate}`,
    );
    // Most held-out mail is ham: the student must do better than always saying so.
    assert.ok(
      report.student_accuracy > report.majority_class_rate + 0.1,
      `student ${report.student_accuracy}, majority ${report.majority_class_rate}`,
    );
    assert.equal(report.student_params, 2000 * 16 + 16 * 2 + 2);
    assert.ok(report.per_round.every((round) => round.sparsity >= 0.5));
  });

  it('exports a pruned int8 student that stock tf.loadLayersModel loads and runs on token ids', async () => {
    const student = await loadExportedModel(path.join(exportDir, 'student'));
    const embeddings = student.getLayer('embedding').getWeights()[0]!;
    const values = await embeddings.data();
    const zeros = values.filter((v) => v === 0).length / values.length;
    assert.ok(zeros > 0.3, `${zeros} of the embeddings are zero`);
    const tokenizer = TextTokenizer.fromBlob(
      await trainTokenizer(publicMail.texts, VOCABULARY),
      'test',
    );
    const rows = await tokenizer.encode(heldOutMail.texts, LENGTH);
    const logits = student.predict(tfjs.tensor2d(rows, [heldOutMail.texts.length, LENGTH]));
    const predicted = await tfjs.argMax(logits as tfjs.Tensor, -1).data();
    const right = heldOutMail.labels.filter((label, i) => predicted[i] === label).length;
    const accuracy = right / heldOutMail.labels.length;
    const report = await coordinator.finished;
    // The same int8 model the report measured, on the same rows, read back by stock tfjs.
    assert.ok(Math.abs(accuracy - report.student_accuracy) < 0.01, `${accuracy}`);
  });

  it('sent no byte of any private text: only token-free updates and metrics left the banks', () => {
    assert.ok(fromSites.length > 0);
    // Every binary field of every message the sites sent, as bytes, and every string.
    const parts: Buffer[] = [];
    const strings = new Set<string>();
    const collect = (value: unknown): void => {
      if (value instanceof Uint8Array) parts.push(Buffer.from(value));
      else if (typeof value === 'string') strings.add(value);
      else if (value && typeof value === 'object') Object.values(value).forEach(collect);
    };
    fromSites.forEach(collect);
    // Strings are the protocol's own: message types, codes, the run id, the backend.
    for (const string of strings) assert.match(string, /^[A-Za-z0-9._-]{1,64}$/);
    const sent = Buffer.concat(parts);
    // The longest word of each private email (at least 8 letters), as UTF-8.
    let probes = 0;
    for (const text of privateMail.flatMap((mail) => mail.texts)) {
      const word = text.split(/[^A-Za-z]+/).reduce((a, b) => (b.length > a.length ? b : a), '');
      if (word.length < 8) continue;
      probes++;
      assert.equal(sent.includes(Buffer.from(word)), false, `"${word}" left a site`);
    }
    assert.ok(probes > 500, `${probes} probes`);
  });
});
