import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { BACKEND_NAMES, type BackendChoice } from '../../protocol/index.js';
import { adapterSchema, type Adapter, type Check } from './doctor-report.js';
import { installedVersion, type Manifest } from './installed-packages.js';

type BackendName = (typeof BACKEND_NAMES)[number];

const PROBE = fileURLToPath(new URL('./backend-probe.js', import.meta.url));

/**
 * How long one backend may take to initialise before doctor calls it failed. Loading tfjs and a
 * backend takes about a second; libtensorflow or Dawn on a software adapter a few more.
 */
const BACKEND_PROBE_TIMEOUT_MS = 30_000;

/** The one line backend-probe.js prints. */
const probeAnswerSchema = z.discriminatedUnion('ok', [
  z.object({
    ok: z.literal(true),
    backend: z.enum(BACKEND_NAMES),
    adapter: adapterSchema.optional(),
  }),
  z.object({ ok: z.literal(false), message: z.string() }),
]);
export type ProbeAnswer = z.infer<typeof probeAnswerSchema>;

/** The Dawn build measured in /work/shared/research/gpu.md and installed by .ci/run. */
const DAWN_PACKAGE = 'webgpu@0.6.2';

/**
 * A Vulkan driver for Dawn. Debian 12's own Mesa is too old for Dawn, hence backports for the
 * software one; an NVIDIA GPU also needs the glvnd EGL library (research/gpu.md, run 2).
 */
const VULKAN_HINT =
  'a Vulkan driver: Debian `apt-get install libvulkan1 mesa-vulkan-drivers` (on Debian 12 from bookworm-backports), plus `libegl1` for an NVIDIA GPU';

/** What each backend needs installed, and the hints. */
interface BackendNeeds {
  /** The packages it loads; the last is its tfjs backend, whose version the check reports. */
  readonly packages: readonly string[];
  /** How to install them. */
  readonly install: string;
  /** What to do when it is installed but does not initialise. */
  readonly repair: string;
}

function needsOf(name: BackendName, manifest: Manifest): BackendNeeds {
  const tfjs = manifest.dependencies['@tensorflow/tfjs-core'];
  const pinned = (pkg: string): string => `${pkg}@${manifest.optionalDependencies[pkg]}`;
  switch (name) {
    case 'tensorflow-gpu': {
      const install = `npm install ${pinned('@tensorflow/tfjs-node-gpu')} (it downloads libtensorflow for CUDA; needs an NVIDIA GPU with CUDA and cuDNN)`;
      return { packages: ['@tensorflow/tfjs-node-gpu'], install, repair: install };
    }
    case 'tensorflow': {
      const install = `npm install ${pinned('@tensorflow/tfjs-node')} (it downloads libtensorflow)`;
      return { packages: ['@tensorflow/tfjs-node'], install, repair: install };
    }
    case 'webgpu':
      return {
        packages: ['webgpu', '@tensorflow/tfjs-backend-webgpu'],
        install: `npm install ${DAWN_PACKAGE} @tensorflow/tfjs-backend-webgpu@${tfjs}, and ${VULKAN_HINT}`,
        repair: `install ${VULKAN_HINT}`,
      };
    case 'wasm':
      return { packages: ['@tensorflow/tfjs-backend-wasm'], install: 'npm ci', repair: 'npm ci' };
    case 'cpu':
      return { packages: ['@tensorflow/tfjs-backend-cpu'], install: 'npm ci', repair: 'npm ci' };
    default: {
      const unreachable: never = name;
      return unreachable;
    }
  }
}

/**
 * Initialises each backend, and `auto`, in a process of its own (backend-probe.ts), all at once.
 * A backend whose packages are absent is reported missing without a try.
 */
export async function checkBackends(
  manifest: Manifest,
): Promise<{ checks: Check[]; auto: BackendName | null }> {
  const [auto, ...checks] = await Promise.all([
    probe('auto'),
    ...BACKEND_NAMES.map((name) => checkBackend(name, needsOf(name, manifest))),
  ]);
  const base = { group: 'backend', name: 'auto', required: true } as const;
  const autoCheck: Check = auto.ok
    ? { ...base, status: 'ok', detail: `picks ${auto.backend}` }
    : {
        ...base,
        status: 'failed',
        detail: auto.message,
        hint: 'npm ci: wasm initialises everywhere',
      };
  return { checks: [...checks, autoCheck], auto: auto.ok ? auto.backend : null };
}

async function checkBackend(name: BackendName, needs: BackendNeeds): Promise<Check> {
  // The wasm backend is the embedded default that the demo falls back on.
  const base = { group: 'backend', name, required: name === 'wasm' } as const;
  const versions = needs.packages.map((pkg) => ({ pkg, version: installedVersion(pkg) }));
  const absent = versions.filter((v) => v.version === null).map((v) => v.pkg);
  if (absent.length > 0)
    return {
      ...base,
      status: 'missing',
      detail: `${absent.join(', ')} not installed`,
      hint: needs.install,
    };
  const answer = await probe(name);
  if (!answer.ok) return { ...base, status: 'failed', detail: answer.message, hint: needs.repair };
  const installed = versions.map((v) => `${v.pkg} ${v.version}`).join(', ');
  const version = versions.at(-1)?.version;
  return {
    ...base,
    status: 'ok',
    detail: answer.adapter ? `${installed}; ${adapterLine(answer.adapter)}` : installed,
    ...(version ? { version } : {}),
    ...(answer.adapter ? { adapter: answer.adapter } : {}),
  };
}

/**
 * Names the adapter. A software one is slower than wasm, so auto passes it over; Mesa's
 * lavapipe, the usual one on a machine without a GPU, describes itself as llvmpipe.
 */
function adapterLine(adapter: Adapter): string {
  const named = `${adapter.device} (vendor ${adapter.vendor}${adapter.description ? `; ${adapter.description}` : ''})`;
  if (!adapter.software) return `GPU adapter ${named}`;
  const lavapipe = /llvmpipe/i.test(`${adapter.device} ${adapter.description}`)
    ? 'Mesa lavapipe, '
    : '';
  return `software adapter ${named}: ${lavapipe}slower than wasm, so auto passes it over`;
}

/**
 * Runs the probe for one choice. The process is killed once it has answered (Dawn can keep a
 * process alive after its work) or when it passes the timeout; no answer is a failed probe.
 */
function probe(choice: BackendChoice): Promise<ProbeAnswer> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [PROBE, choice], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const settle = (answer: ProbeAnswer): void => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      resolve(answer);
    };
    const timer = setTimeout(
      () =>
        settle({ ok: false, message: `gave no answer in ${BACKEND_PROBE_TIMEOUT_MS / 1000} s` }),
      BACKEND_PROBE_TIMEOUT_MS,
    );
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = firstJsonLine(out);
      if (line === undefined) return;
      settle(readAnswer(line));
    });
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.once('error', (error) => settle({ ok: false, message: error.message }));
    // 'close', not 'exit': a probe that exits on its own has its answer read by then.
    child.once('close', (code, signal) => {
      const last = err.trim().split('\n').at(-1);
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      settle({ ok: false, message: `the probe ${how} before answering${last ? `: ${last}` : ''}` });
    });
  });
}

/**
 * The first whole line of a child's output that holds a JSON object: the answer may arrive in
 * pieces, and a native library may print lines of its own before it.
 */
export function firstJsonLine(output: string): string | undefined {
  return output
    .split('\n')
    .slice(0, -1)
    .find((l) => l.startsWith('{'));
}

function readAnswer(line: string): ProbeAnswer {
  try {
    return probeAnswerSchema.parse(JSON.parse(line));
  } catch {
    return { ok: false, message: `unreadable answer: ${line}` };
  }
}
