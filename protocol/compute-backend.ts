import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { z } from 'zod';
import { fail, ok, type Result } from './errors.js';
import { registerWasmConv2DBackpropFilter } from './wasm-conv-backprop.js';

/**
 * Both the sites (student training) and the coordinator (teacher, evaluation) compute with tfjs.
 * `wasm` is the embedded default that installs and trains everywhere; `cpu` is the slow pure-JS
 * reference. `auto` picks the fastest one that initialises.
 */
export const backendChoiceSchema = z.enum(['auto', 'wasm', 'cpu']);
export type BackendChoice = z.infer<typeof backendChoiceSchema>;

let wasmPathsSet = false;
let active: string | undefined;

/** Loads the wasm binaries from the installed package, never from a network address. */
function pointWasmAtInstalledPackage(): void {
  if (wasmPathsSet) return;
  const require = createRequire(import.meta.url);
  const packageDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  setWasmPaths(path.join(packageDir, 'dist') + path.sep);
  wasmPathsSet = true;
}

/**
 * Activates a backend and returns its name. tfjs falls back to cpu silently when a backend
 * fails to initialise (setBackend returns false); that is reported here as an error instead,
 * because a run ten times slower than configured is a failure, not a detail.
 */
export async function selectBackend(choice: BackendChoice): Promise<Result<string>> {
  const wanted = choice === 'auto' ? 'wasm' : choice;
  if (wanted === 'wasm') {
    pointWasmAtInstalledPackage();
    registerWasmConv2DBackpropFilter();
  }
  if (active === wanted) return ok(wanted);
  let activated: boolean;
  try {
    activated = await tf.setBackend(wanted);
  } catch (error) {
    return fail(
      'backend.unavailable',
      `tfjs backend ${wanted} failed: ${(error as Error).message}`,
    );
  }
  if (!activated) {
    return fail(
      'backend.unavailable',
      `tfjs backend ${wanted} did not initialise (setBackend returned false); refusing to fall back to another backend`,
    );
  }
  await tf.ready();
  active = wanted;
  return ok(wanted);
}
