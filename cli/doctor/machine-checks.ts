import os from 'node:os';
import type { Check, DoctorReport } from './doctor-report.js';
import { installedVersion, type Manifest } from './installed-packages.js';

/** The packages a newcomer's problem most often lies in; all but pg are needed by the demo. */
const KEY_PACKAGES = [
  '@tensorflow/tfjs-core',
  'socket.io',
  'libsodium-wrappers',
  'better-sqlite3',
  'pg',
] as const;
const OPTIONAL_PACKAGES: ReadonlySet<string> = new Set(['pg']);

/** The machine, as the report's first lines give it. */
export function systemFacts(): DoctorReport['system'] {
  return {
    node: process.versions.node,
    platform: os.platform(),
    release: os.release(),
    arch: os.arch(),
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    memoryBytes: os.totalmem(),
    freeMemoryBytes: os.freemem(),
  };
}

/**
 * This Node against package.json `engines.node`. Only a `>=x.y.z` range is read: that is the
 * form fedistill states, and a full semver parser would be a dependency for one comparison.
 */
export function checkNode(manifest: Manifest, running = process.versions.node): Check {
  const range = manifest.engines.node;
  const base = { group: 'machine', name: 'node', required: true, version: running } as const;
  const floor = /^>=\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(range.trim());
  if (!floor) {
    return {
      ...base,
      status: 'failed',
      detail: `package.json engines.node "${range}" is not a >= range`,
    };
  }
  const want = floor.slice(1).map((part) => Number(part ?? 0));
  const have = running.split('.').map(Number);
  const differs = want.findIndex((w, i) => (have[i] ?? 0) !== w);
  const ok = differs === -1 || (have[differs] ?? 0) > want[differs]!;
  return ok
    ? { ...base, status: 'ok', detail: `${running} (package.json engines: ${range})` }
    : {
        ...base,
        status: 'failed',
        detail: `${running} is older than package.json engines ${range}`,
        hint: `install Node ${range.replace(/^>=\s*/, '')} or newer (https://nodejs.org)`,
      };
}

/** Each key package installed, at the version package.json pins. */
export function checkKeyPackages(manifest: Manifest): Check[] {
  return KEY_PACKAGES.map((name): Check => {
    const base = { group: 'machine', name, required: !OPTIONAL_PACKAGES.has(name) } as const;
    const pinned = manifest.dependencies[name];
    const installed = installedVersion(name);
    if (installed === null)
      return { ...base, status: 'missing', detail: 'not installed', hint: 'npm ci' };
    if (installed !== pinned) {
      return {
        ...base,
        status: 'failed',
        detail: `${installed}, but package.json pins ${pinned}`,
        hint: 'npm ci installs the pinned versions',
        version: installed,
      };
    }
    return { ...base, status: 'ok', detail: installed, version: installed };
  });
}
