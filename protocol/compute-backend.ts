import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { z } from 'zod';
import { fail, ok, type Result } from './errors.js';
import { registerWasmConv2DBackpropFilter } from './wasm-conv-backprop.js';
import { registerTileGradient } from './tile-gradient.js';
import { registerWasmUnsortedSegmentSum } from './wasm-segment-sum.js';

/**
 * Both the sites (student training) and the coordinator (teacher, evaluation) compute with tfjs.
 *
 * - `tensorflow-gpu`, `tensorflow`: libtensorflow through @tensorflow/tfjs-node(-gpu), optional
 *   dependencies whose install downloads libtensorflow (it fails, harmlessly, where that is
 *   impossible, and the package is then absent).
 * - `webgpu`: @tensorflow/tfjs-backend-webgpu on the `webgpu` package (Dawn over Vulkan), which a
 *   GPU site installs itself (large; the GPU image has it).
 * - `wasm`: the embedded default that installs and trains everywhere.
 * - `cpu`: the slow pure-JS reference.
 *
 * `auto` takes the first that initialises in that order. The chosen name is logged and sent to
 * the coordinator in site.ready.
 */
export const BACKEND_NAMES = ['tensorflow-gpu', 'webgpu', 'tensorflow', 'wasm', 'cpu'] as const;
export const backendChoiceSchema = z.enum(['auto', ...BACKEND_NAMES]);
export type BackendChoice = z.infer<typeof backendChoiceSchema>;
type BackendName = (typeof BACKEND_NAMES)[number];

let active: BackendName | undefined;

/** Loads the wasm binaries from the installed package, never from a network address. */
function pointWasmAtInstalledPackage(): void {
  const require = createRequire(import.meta.url);
  const packageDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  setWasmPaths(path.join(packageDir, 'dist') + path.sep);
}

/** Imports an optional package by name; absent, it says how to get it. */
async function importOptional(name: string, why: string): Promise<Result<Record<string, unknown>>> {
  try {
    return ok((await import(name)) as Record<string, unknown>);
  } catch (error) {
    const code = (error as { code?: string }).code;
    const message =
      code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND'
        ? `${name} is not installed (${why})`
        : `${name} failed to load: ${(error as Error).message}`;
    return fail('backend.unavailable', message);
  }
}

/**
 * Installs Dawn's WebGPU into this process and checks that it finds an adapter. A software
 * adapter (Mesa lavapipe: isFallbackAdapter) is slower than wasm, so `auto` does not take it;
 * naming `webgpu` explicitly does (that is how the webgpu path is tested without a GPU).
 */
async function prepareWebGpu(allowSoftware: boolean): Promise<Result<true>> {
  const dawn = await importOptional(
    'webgpu',
    'a GPU site installs webgpu and @tensorflow/tfjs-backend-webgpu',
  );
  if (!dawn.ok) return dawn;
  const { create, globals } = dawn.value as {
    create: (flags: string[]) => unknown;
    globals: object;
  };
  Object.assign(globalThis, globals);
  Object.defineProperty(globalThis, 'navigator', {
    value: { gpu: create([]) },
    configurable: true,
    writable: true,
  });
  const gpu = (
    globalThis as unknown as { navigator: { gpu: { requestAdapter(): Promise<unknown> } } }
  ).navigator.gpu;
  const adapter = (await gpu.requestAdapter()) as { info?: { isFallbackAdapter?: boolean } } | null;
  if (adapter === null) {
    return fail(
      'backend.unavailable',
      'WebGPU found no adapter: no Vulkan driver (libvulkan1 and a GPU ICD, or Mesa lavapipe) is visible',
    );
  }
  if (adapter.info?.isFallbackAdapter && !allowSoftware) {
    return fail('backend.unavailable', 'WebGPU found only a software adapter, slower than wasm');
  }
  const backend = await importOptional(
    '@tensorflow/tfjs-backend-webgpu',
    'a GPU site installs it with webgpu',
  );
  return backend.ok ? ok(true) : backend;
}

/** Makes a backend's tfjs registration available; returns the tfjs backend name to set. */
async function register(name: BackendName, auto: boolean): Promise<Result<string>> {
  switch (name) {
    case 'tensorflow-gpu': {
      const loaded = await importOptional(
        '@tensorflow/tfjs-node-gpu',
        'its install downloads libtensorflow with CUDA',
      );
      return loaded.ok ? ok('tensorflow') : loaded;
    }
    case 'tensorflow': {
      const loaded = await importOptional(
        '@tensorflow/tfjs-node',
        'its install downloads libtensorflow',
      );
      return loaded.ok ? ok('tensorflow') : loaded;
    }
    case 'webgpu': {
      const prepared = await prepareWebGpu(!auto);
      return prepared.ok ? ok('webgpu') : prepared;
    }
    case 'wasm':
      pointWasmAtInstalledPackage();
      registerWasmConv2DBackpropFilter();
      registerWasmUnsortedSegmentSum();
      return ok('wasm');
    case 'cpu':
      return ok('cpu');
    default: {
      const unreachable: never = name;
      return unreachable;
    }
  }
}

/**
 * Activates one backend. tfjs falls back to cpu silently when a backend fails to initialise
 * (setBackend returns false); that is reported here as an error instead, because a run ten
 * times slower than configured is a failure, not a detail.
 */
async function activate(name: BackendName, auto = false): Promise<Result<BackendName>> {
  if (active === name) return ok(name);
  const registered = await register(name, auto);
  if (!registered.ok) return registered;
  let activated: boolean;
  try {
    activated = await tf.setBackend(registered.value);
  } catch (error) {
    return fail('backend.unavailable', `tfjs backend ${name} failed: ${(error as Error).message}`);
  }
  if (!activated) {
    return fail(
      'backend.unavailable',
      `tfjs backend ${name} did not initialise (setBackend returned false); refusing to fall back to another backend`,
    );
  }
  await tf.ready();
  active = name;
  return ok(name);
}

/** Activates the chosen backend, or for `auto` the first of BACKEND_NAMES that works. */
export function selectBackend(choice: BackendChoice): Promise<Result<BackendName>> {
  // tfjs has one global engine: two selections at once (sites in one process) would race.
  const selected = selection.then(() => select(choice));
  selection = selected.catch(() => undefined);
  return selected;
}

let selection: Promise<unknown> = Promise.resolve();

async function select(choice: BackendChoice): Promise<Result<BackendName>> {
  // Gradients are global to tfjs, whatever the backend.
  registerTileGradient();
  if (choice !== 'auto') return activate(choice);
  const reasons: string[] = [];
  for (const name of BACKEND_NAMES) {
    const activated = await activate(name, true);
    if (activated.ok) return activated;
    reasons.push(`${name}: ${activated.error.message}`);
  }
  return fail('backend.unavailable', `no backend initialised: ${reasons.join('; ')}`);
}
