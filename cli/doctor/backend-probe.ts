import { backendChoiceSchema, selectBackend, type BackendChoice } from '../../protocol/index.js';
import type { ProbeAnswer } from './backend-checks.js';
import type { Adapter } from './doctor-report.js';

/**
 * Run by `fedistill doctor` as a process of its own, once for each backend and once for `auto`:
 * initialises the backend named in argv with the project's own selectBackend and prints one JSON
 * line (a ProbeAnswer). A process of its own because tfjs has one global backend, and because
 * a native backend can hang (Dawn on a software adapter) or kill its process, which doctor then
 * reports instead of dying with it.
 */
const choice = backendChoiceSchema.parse(process.argv[2]);
console.log(JSON.stringify(await answerFor(choice)));

async function answerFor(choice: BackendChoice): Promise<ProbeAnswer> {
  try {
    const selected = await selectBackend(choice);
    if (!selected.ok) return { ok: false, message: selected.error.message };
    const adapter = selected.value === 'webgpu' ? await webGpuAdapter() : undefined;
    return { ok: true, backend: selected.value, ...(adapter ? { adapter } : {}) };
  } catch (error) {
    // selectBackend returns its expected failures; a native module can still throw past it.
    return { ok: false, message: `threw: ${(error as Error).message}` };
  }
}

/**
 * The adapter the webgpu backend runs on: selectBackend has put Dawn's navigator.gpu on
 * globalThis, the same one it asked, so asking again finds the same adapter.
 */
async function webGpuAdapter(): Promise<Adapter | undefined> {
  const { gpu } = (
    globalThis as unknown as {
      navigator: { gpu: { requestAdapter(): Promise<{ info: GpuAdapterInfo } | null> } };
    }
  ).navigator;
  const adapter = await gpu.requestAdapter();
  if (adapter === null) return undefined;
  const { vendor, architecture, device, description, isFallbackAdapter } = adapter.info;
  return { vendor, architecture, device, description, software: isFallbackAdapter === true };
}

/** The fields of WebGPU's GPUAdapterInfo that doctor reports (lib.dom is not in this build). */
interface GpuAdapterInfo {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  readonly isFallbackAdapter?: boolean;
}
