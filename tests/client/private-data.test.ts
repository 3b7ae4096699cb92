import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { labelBalance, loadPrivateData } from '../../client/data-sources/private-data.js';
import { loadSiteConfig } from '../../client/site-config.js';
import { FedistillError, unwrap } from '../../protocol/index.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fedistill-data-'));
});

async function file(name: string, text: string): Promise<string> {
  const target = path.join(dir, name);
  await writeFile(target, text);
  return target;
}

describe('private data sources', () => {
  it('CSV: quoted headers, chosen feature and label columns, R-style numbers like 5e+05', async () => {
    // The layout of the bundled credit-default file: quoted names, an ID column to leave out.
    const csv = await file(
      'credit.csv',
      '"ID","LIMIT_BAL","AGE","default.payment.next.month"\n1,5e+05,24,1\n2,1e+05,36,0\n3,120000,41,0\n',
    );
    const table = unwrap(
      await loadPrivateData({
        kind: 'csv',
        path: csv,
        label: 'default.payment.next.month',
        features: ['LIMIT_BAL', 'AGE'],
      }),
    );
    assert.deepEqual(table.featureNames, ['LIMIT_BAL', 'AGE']);
    assert.deepEqual([...table.inputs], [500000, 24, 100000, 36, 120000, 41]);
    assert.deepEqual([...table.labels], [1, 0, 0]);
    assert.deepEqual(
      [...labelBalance(table)],
      [
        [0, 2],
        [1, 1],
      ],
    );
  });

  it('CSV: without a feature list every other column is a feature', async () => {
    const csv = await file('all.csv', 'a,b,label\n1,2,0\n3,4,1\n');
    assert.deepEqual(
      unwrap(await loadPrivateData({ kind: 'csv', path: csv, label: 'label' })).featureNames,
      ['a', 'b'],
    );
  });

  it('a malformed CSV names the file, the line and the column', async () => {
    const csv = await file('bad.csv', 'a,b,label\n1,2,0\n3,x,1\n');
    const loaded = await loadPrivateData({ kind: 'csv', path: csv, label: 'label' });
    assert.equal(!loaded.ok && loaded.error.code, 'data.invalid');
    assert.match(
      !loaded.ok ? loaded.error.message : '',
      /bad\.csv: line 3, column b: "x" is not a finite number/,
    );
    const short = await loadPrivateData({
      kind: 'csv',
      path: await file('short.csv', 'a,label\n1,0\n2\n'),
      label: 'label',
    });
    assert.match(!short.ok ? short.error.message : '', /short\.csv: line 3 has 1 fields/);
    const label = await loadPrivateData({
      kind: 'csv',
      path: await file('label.csv', 'a,label\n1,0.5\n'),
      label: 'label',
    });
    assert.match(
      !label.ok ? label.error.message : '',
      /line 2, column label: "0.5" is not a class number/,
    );
    const missing = await loadPrivateData({ kind: 'csv', path: csv, label: 'outcome' });
    assert.match(!missing.ok ? missing.error.message : '', /line 1 has no column "outcome"/);
  });

  it('JSONL: one object a line; a bad line is named', async () => {
    const jsonl = await file(
      'rows.jsonl',
      '{"x": 1.5, "y": -2, "label": 1}\n{"x": 0, "y": 3e2, "label": 0}\n',
    );
    const table = unwrap(await loadPrivateData({ kind: 'jsonl', path: jsonl, label: 'label' }));
    assert.deepEqual(table.featureNames, ['x', 'y']);
    assert.deepEqual([...table.inputs], [1.5, -2, 0, 300]);
    const bad = await loadPrivateData({
      kind: 'jsonl',
      path: await file('bad.jsonl', '{"x": 1, "label": 0}\n{"x": "1", "label": 0}\n'),
      label: 'label',
    });
    assert.match(
      !bad.ok ? bad.error.message : '',
      /bad\.jsonl: line 2, field x: "1" is not a finite number/,
    );
    const broken = await loadPrivateData({
      kind: 'jsonl',
      path: await file('broken.jsonl', '{"x": 1, "label": 0}\n{oops\n'),
      label: 'label',
    });
    assert.match(!broken.ok ? broken.error.message : '', /broken\.jsonl: line 2 is not JSON/);
  });

  it('MNIST from the mnist package: 784 pixels in [0, 1], ten classes', async () => {
    const table = unwrap(await loadPrivateData({ kind: 'mnist', perDigit: 3, offset: 0 }));
    assert.equal(table.rows, 30);
    assert.equal(table.features, 784);
    assert.ok(table.inputs.every((v) => v >= 0 && v <= 1));
    assert.deepEqual([...labelBalance(table).keys()], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});

describe('the site config file', () => {
  const valid = `coordinator:
  url: http://127.0.0.1:4300
  publicKey: ${'A'.repeat(43)}=
identityFile: site-1.key
data:
  kind: csv
  path: private.csv
cacheDir: cache
`;

  it('reads YAML, fills defaults and resolves paths against its folder', async () => {
    const config = await loadSiteConfig(await file('site.yaml', valid));
    assert.equal(config.identityFile, path.join(dir, 'site-1.key'));
    assert.equal(config.data.kind === 'csv' && config.data.path, path.join(dir, 'private.csv'));
    assert.equal(config.validationFraction, 0.1);
    assert.equal(config.backend, 'auto');
    assert.equal(config.reconnect.maxAttempts, 20);
  });

  it('names the offending field', async () => {
    const broken = valid
      .replace('kind: csv', 'kind: parquet')
      .replace('http://127.0.0.1:4300', 'ftp://x');
    await assert.rejects(loadSiteConfig(await file('broken.yaml', broken)), (error: unknown) => {
      assert.ok(error instanceof FedistillError);
      assert.equal(error.code, 'config.invalid');
      assert.match(error.message, /coordinator\.url/);
      assert.match(error.message, /data\.kind/);
      return true;
    });
  });
});
