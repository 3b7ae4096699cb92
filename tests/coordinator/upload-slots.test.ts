import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UploadSlots } from '../../coordinator/transfer/upload-slots.js';

/** Which of `slots` have been granted, once the grants already due have run. */
async function granted(slots: { granted: Promise<void> }[]): Promise<boolean[]> {
  const seen = slots.map(() => false);
  slots.forEach((slot, i) => void slot.granted.then(() => (seen[i] = true)));
  await new Promise((resolve) => setImmediate(resolve));
  return seen;
}

describe('upload slots', () => {
  it('grants at most `size` at once, the rest in order as slots are freed', async () => {
    const slots = new UploadSlots(2);
    const taken = [slots.take(), slots.take(), slots.take(), slots.take()];
    assert.deepEqual(await granted(taken), [true, true, false, false]);
    taken[0]!.release();
    assert.deepEqual(await granted(taken), [true, true, true, false]);
  });

  it('a pull given up while it waits leaves the queue: it never takes a slot, and the next one does', async () => {
    const slots = new UploadSlots(1);
    const [holder, givenUp, next] = [slots.take(), slots.take(), slots.take()];
    givenUp.release();
    holder.release();
    assert.deepEqual(await granted([holder, givenUp, next]), [true, false, true]);
    // The slot is next's alone: a newcomer waits.
    const later = slots.take();
    assert.deepEqual(await granted([later]), [false]);
  });

  it('releasing twice frees one slot, not two', async () => {
    const slots = new UploadSlots(1);
    const first = slots.take();
    first.release();
    first.release();
    const [a, b] = [slots.take(), slots.take()];
    assert.deepEqual(await granted([a, b]), [true, false]);
  });
});
