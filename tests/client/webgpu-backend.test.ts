import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { firstJsonLine } from '../../cli/doctor/backend-checks.js';

/**
 * The webgpu backend trains the same student as the cpu reference, to float32 rounding. On a
 * machine without a GPU it runs on Mesa's lavapipe (a software Vulkan driver), which .ci/run
 * installs together with the webgpu packages and then sets FEDISTILL_REQUIRE_WEBGPU, so that
 * in CI this test runs or fails, never skips.
 */
const TRAINING = fileURLToPath(new URL('../support/webgpu-training.js', import.meta.url));
const LIMIT_MS = 180_000;

type Outcome =
  | { readonly unavailable: string }
  | { readonly worst: Readonly<Record<string, number>> }
  /** No answer: it stopped answering (killed at LIMIT_MS), or the driver killed it (a signal). */
  | { readonly failed: string };

/**
 * Trains in a process of its own, which is killed once it has answered (Dawn can keep a process
 * alive after its work) or when it passes LIMIT_MS without answering.
 */
function trainInChild(): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [TRAINING], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve({ failed: `gave no answer in ${LIMIT_MS / 1000} s` });
    }, LIMIT_MS);
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = firstJsonLine(out);
      if (!line) return;
      clearTimeout(timer);
      child.kill('SIGKILL');
      resolve(JSON.parse(line) as Outcome);
    });
    child.once('exit', (code, signal) => {
      if (signal === 'SIGKILL') return;
      clearTimeout(timer);
      // Killed by a signal of its own (Dawn on lavapipe has been seen to crash so): retried;
      // an exit code is the training script's own failure.
      if (signal) resolve({ failed: `was killed by ${signal}` });
      else reject(new Error(`the webgpu training process exited with ${code} before answering`));
    });
  });
}

describe('the webgpu backend', () => {
  it('trains an MLP, a CNN and a text bag to the same weights as the cpu backend, and gives a text encoder the same gradients (differences below 1e-4)', async (t) => {
    let outcome = await trainInChild();
    if ('failed' in outcome) {
      // A software adapter under load has been seen to stop answering, and to crash; one retry
      // tells that from a broken path, and the diagnostic keeps it on record.
      t.diagnostic(`webgpu training ${outcome.failed}; retried once`);
      outcome = await trainInChild();
    }
    if ('failed' in outcome)
      assert.fail(`webgpu training failed twice; the second ${outcome.failed}`);
    if ('unavailable' in outcome) {
      if (process.env.FEDISTILL_REQUIRE_WEBGPU) assert.fail(outcome.unavailable);
      t.skip(outcome.unavailable);
      return;
    }
    for (const [kind, worst] of Object.entries(outcome.worst)) {
      t.diagnostic(
        `${kind}: ${kind === 'encoder' ? 'relative gradient' : 'max abs weight'} difference webgpu vs cpu ${worst.toExponential(2)}`,
      );
      assert.ok(worst < 1e-4, `${kind}: ${worst}`);
    }
    assert.deepEqual(Object.keys(outcome.worst), ['mlp', 'cnn', 'bag', 'encoder']);
  });
});
