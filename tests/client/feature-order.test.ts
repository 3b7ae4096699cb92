import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { orderFeatures, orderSplit } from '../../client/data-sources/feature-order.js';
import { parseCsvTable, unwrap } from '../../protocol/index.js';

/** Two rows; the site's file orders its columns c, a, b and has an extra one, d. */
const site = unwrap(
  parseCsvTable('c,a,label,b,d\n3,1,0,2,9\n30,10,1,20,90\n', { label: 'label', source: 'site' }),
);

describe("a site's columns, mapped by name to the run's feature order", () => {
  it('reorders them to the order run.welcome names and drops the columns the run does not read', () => {
    const ordered = unwrap(orderFeatures(site, ['a', 'b', 'c']));
    assert.deepEqual(ordered.featureNames, ['a', 'b', 'c']);
    assert.equal(ordered.features, 3);
    assert.deepEqual([...ordered.inputs], [1, 2, 3, 10, 20, 30]);
    assert.deepEqual([...ordered.labels], [0, 1]);
  });

  it('refuses a feature the site lacks, naming it', () => {
    const missing = orderFeatures(site, ['a', 'e', 'b']);
    assert.equal(!missing.ok && missing.error.code, 'data.invalid');
    assert.match(!missing.ok ? missing.error.message : '', /feature "e"/);
  });

  it('orders the training and the validation part alike', () => {
    const split = unwrap(orderSplit({ train: site, validation: site }, ['d', 'a']));
    assert.deepEqual([...split.train.inputs], [9, 1, 90, 10]);
    assert.deepEqual([...split.validation!.inputs], [9, 1, 90, 10]);
  });
});
