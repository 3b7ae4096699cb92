import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { selectBackend } from '../../protocol/index.js';

describe('compute backend selection', () => {
  it('a backend whose package is absent is refused with the reason, never replaced silently', async (t) => {
    for (const choice of ['tensorflow', 'tensorflow-gpu'] as const) {
      const selected = await selectBackend(choice);
      if (selected.ok) {
        t.diagnostic(`${choice} is installed here; nothing to refuse`);
        continue;
      }
      assert.equal(selected.error.code, 'backend.unavailable');
      assert.match(
        selected.error.message,
        /@tensorflow\/tfjs-node(-gpu)? is not installed \(its install downloads libtensorflow/,
      );
    }
  });

  it('auto settles on the fastest backend that initialises here, and says which', async () => {
    const selected = await selectBackend('auto');
    assert.ok(selected.ok, !selected.ok ? selected.error.message : '');
    assert.ok(
      ['tensorflow-gpu', 'webgpu', 'tensorflow', 'wasm'].includes(selected.value),
      selected.value,
    );
  });
});
