import { z } from 'zod';
import { BACKEND_NAMES } from '../../protocol/index.js';

/**
 * What `fedistill doctor --json` prints: one object whose keys are a contract for scripts
 * (docs/doctor.md lists them), so it is a schema, and the tests parse the output with it.
 */

export const CHECK_GROUPS = ['machine', 'backend', 'browser', 'store'] as const;

/** ok: works here; missing: an optional part is not installed; failed: installed but broken. */
const CHECK_STATUSES = ['ok', 'missing', 'failed'] as const;

/** The GPU adapter Dawn offers the webgpu backend (GPUAdapterInfo). */
export const adapterSchema = z
  .object({
    vendor: z.string(),
    architecture: z.string(),
    device: z.string(),
    description: z.string(),
    /** A software rasteriser (Mesa lavapipe): `backend: auto` passes it over for wasm. */
    software: z.boolean(),
  })
  .strict();
export type Adapter = z.infer<typeof adapterSchema>;

const checkSchema = z
  .object({
    group: z.enum(CHECK_GROUPS),
    name: z.string(),
    status: z.enum(CHECK_STATUSES),
    /** Whether `npm run demo` needs it: a required check that is not ok makes doctor exit 1. */
    required: z.boolean(),
    detail: z.string(),
    /** What to install or do, where the status is not ok (or ok with a caveat). */
    hint: z.string().optional(),
    /** The installed version of the package behind the check. */
    version: z.string().optional(),
    adapter: adapterSchema.optional(),
  })
  .strict();
export type Check = z.infer<typeof checkSchema>;

export const doctorReportSchema = z
  .object({
    /** Everything `npm run demo` needs works here; the exit code is 0 exactly then. */
    ok: z.boolean(),
    /** One line for each required check that is not ok. */
    problems: z.array(z.string()),
    fedistill: z.string(),
    system: z
      .object({
        node: z.string(),
        platform: z.string(),
        release: z.string(),
        arch: z.string(),
        cpus: z.number().int(),
        cpuModel: z.string(),
        memoryBytes: z.number().int(),
        freeMemoryBytes: z.number().int(),
      })
      .strict(),
    /** The backend that `backend: auto` (the default) picks here, or null if none initialises. */
    autoBackend: z.enum(BACKEND_NAMES).nullable(),
    checks: z.array(checkSchema),
  })
  .strict();
export type DoctorReport = z.infer<typeof doctorReportSchema>;

/** The verdict on a set of checks: ok unless a required one is missing or failed. */
export function verdictOf(checks: readonly Check[]): Pick<DoctorReport, 'ok' | 'problems'> {
  const problems = checks
    .filter((check) => check.required && check.status !== 'ok')
    .map((check) => `${check.group} ${check.name} ${check.status}: ${check.detail}`);
  return { ok: problems.length === 0, problems };
}
