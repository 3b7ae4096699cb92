import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import {
  EDUCATION_BRANCHES,
  readCreditDefault,
  splitByEducation,
  type CreditDefaultTable,
} from '../../cli/demo/credit-default.js';
import { DATASETS_DIR } from '../../cli/demo/demo-data.js';

const PLAN = { seed: 42, heldOutFraction: 0.2, publicFraction: 0.1 };

describe('credit default data set', () => {
  let table: CreditDefaultTable;

  before(async () => {
    table = await readCreditDefault();
  });

  it('has 30,000 clients and 23 features, ID and the label left out', () => {
    assert.equal(table.rows, 30_000);
    assert.equal(table.features, 23);
    assert.equal(table.inputs.length, 30_000 * 23);
    assert.equal(table.featureNames[0], 'LIMIT_BAL');
    assert.equal(table.featureNames[22], 'PAY_AMT6');
    assert.ok(table.featureNames.includes('EDUCATION'));
    assert.ok(!table.featureNames.includes('ID'));
  });

  it('reads R-style numbers such as 5e+05', () => {
    // Line 8 of the file is client 7: "7,5e+05,1,1,2,29,...".
    assert.equal(table.inputs[6 * table.features], 500_000);
  });

  it('counts as many defaults as CSV lines ending in ",1" (6,636 of 30,000, 22.12 %)', async () => {
    const text = await readFile(`${DATASETS_DIR}credit_default.csv`, 'utf8');
    const endingInOne = text.split('\n').filter((line) => line.endsWith(',1')).length;
    const defaults = table.labels.reduce((a, b) => a + b, 0);
    assert.equal(defaults, endingInOne);
    assert.equal(defaults, 6_636);
    assert.equal((defaults / table.rows).toFixed(4), '0.2212');
  });

  it('puts every client outside held-out and public in the branch of its EDUCATION code', () => {
    const split = splitByEducation(table, PLAN);
    assert.equal(split.heldOut.rows, 6_000);
    assert.equal(split.publicSplit.rows, 3_000);
    assert.equal(split.sites.length, EDUCATION_BRANCHES.length);
    const branchTotal = split.sites.reduce((sum, site) => sum + site.rows, 0);
    assert.equal(branchTotal, table.rows - split.heldOut.rows - split.publicSplit.rows);
    const education = table.featureNames.indexOf('EDUCATION');
    split.sites.forEach((site, i) => {
      const { codes, name } = EDUCATION_BRANCHES[i]!;
      for (let r = 0; r < site.rows; r++) {
        const code = site.inputs[r * site.features + education]!;
        assert.ok(codes.includes(code), `${name} holds a client with EDUCATION ${code}`);
      }
    });
  });

  it('repeats a split for the same seed and draws another held-out set for another', () => {
    const first = splitByEducation(table, PLAN);
    const again = splitByEducation(table, PLAN);
    assert.deepEqual(again.heldOut.inputs, first.heldOut.inputs);
    assert.deepEqual(
      again.sites.map((s) => s.labels),
      first.sites.map((s) => s.labels),
    );
    const other = splitByEducation(table, { ...PLAN, seed: 43 });
    assert.notDeepEqual(other.heldOut.inputs, first.heldOut.inputs);
  });

  it('names the file, line and column of a value that is not a finite number', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fedistill-credit-'));
    try {
      const lines = (await readFile(`${DATASETS_DIR}credit_default.csv`, 'utf8')).split('\n');
      const file = path.join(dir, 'bad.csv');
      const bad = lines[2]!.split(',');
      bad[12] = '3e+0x5';
      await writeFile(file, [lines[0], lines[1], bad.join(','), ''].join('\n'));
      await assert.rejects(readCreditDefault(file), (error: Error) => {
        assert.match(error.message, /bad\.csv: line 3, column BILL_AMT1: "3e\+0x5"/);
        return true;
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
