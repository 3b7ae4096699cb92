import { checkBackends } from './backend-checks.js';
import { checkBrowser } from './browser-check.js';
import {
  CHECK_GROUPS,
  doctorReportSchema,
  verdictOf,
  type Check,
  type DoctorReport,
} from './doctor-report.js';
import { readManifest } from './installed-packages.js';
import { checkKeyPackages, checkNode, systemFacts } from './machine-checks.js';
import { checkEmbeddedPostgres, checkPostgres, checkSqlite } from './store-checks.js';

export interface DoctorOptions {
  /** A PostgreSQL URL to try connecting to, as the coordinator config's `store.url`. */
  readonly postgres?: string;
}

/** Runs every check (the slow ones, the backends, at once) and gives the verdict. */
export async function runDoctor(options: DoctorOptions): Promise<DoctorReport> {
  const manifest = readManifest();
  const [backends, browser, sqlite, postgres] = await Promise.all([
    checkBackends(manifest),
    checkBrowser(),
    checkSqlite(),
    checkPostgres(options.postgres),
  ]);
  const checks: Check[] = [
    checkNode(manifest),
    ...checkKeyPackages(manifest),
    ...backends.checks,
    browser,
    sqlite,
    postgres,
    checkEmbeddedPostgres(),
  ];
  // Parsed, so that the JSON keys come in the schema's order whichever check built them.
  return doctorReportSchema.parse({
    ...verdictOf(checks),
    fedistill: manifest.version,
    system: systemFacts(),
    autoBackend: backends.auto,
    checks,
  });
}

const GROUP_TITLES: Readonly<Record<(typeof CHECK_GROUPS)[number], string>> = {
  machine: 'Node and packages',
  backend: 'compute backends (config `backend:`)',
  browser: 'browser (for the dashboard and report browser tests)',
  store: 'store',
};

const gib = (bytes: number): string => `${(bytes / 2 ** 30).toFixed(1)} GiB`;

/** The report as aligned lines: one a check, its hint on the line below. */
export function formatDoctorReport(report: DoctorReport): string {
  const { system } = report;
  const width = Math.max(...report.checks.map((check) => check.name.length));
  const optionalAbsent = report.checks.some((c) => c.status !== 'ok' && !c.required);
  const lines = [
    `fedistill ${report.fedistill} on Node ${system.node}, ${system.platform} ${system.release} ${system.arch}`,
    `${system.cpus} CPUs (${system.cpuModel}), ${gib(system.memoryBytes)} memory, ${gib(system.freeMemoryBytes)} free`,
  ];
  for (const group of CHECK_GROUPS) {
    lines.push('', GROUP_TITLES[group]);
    for (const check of report.checks.filter((c) => c.group === group)) {
      const mark = check.status === 'ok' || check.required ? check.status : `${check.status}*`;
      lines.push(`  ${mark.padEnd(8)} ${check.name.padEnd(width)}  ${check.detail}`);
      if (check.hint) lines.push(`  ${''.padEnd(8)} ${''.padEnd(width)}  -> ${check.hint}`);
    }
  }
  lines.push(
    '',
    ...(optionalAbsent ? ['* optional: the demo runs without it'] : []),
    report.ok
      ? `ready: what npm run demo needs works here (backend auto picks ${report.autoBackend})`
      : `not ready (exit code 1):\n${report.problems.map((p) => `  ${p}`).join('\n')}`,
  );
  return lines.join('\n');
}
