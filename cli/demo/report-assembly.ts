import { copyFile, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { RunReport } from '../../coordinator/runs/run-report.js';
import { loadSiteConfig } from '../../client/site-config.js';
import { sitePrivacyStatus } from '../../client/site-status.js';
import { unwrap, type LabelledTable } from '../../protocol/index.js';
import { formatJsonl, readAuditLog } from '../audit-commands.js';
import type { Baselines, DemoReport, ScenarioSummary, SitesOwnEpsilon } from './demo-report.js';
import { distillationGain } from './distillation-gain.js';
import { renderHtmlReport } from './html-report.js';
import { describePremise, describeSplit } from './scenario-split.js';
import type { Scenario } from './scenarios.js';
import { formatJson, siteConfigFile, type DemoWorkspace } from './workspace.js';

/** The scenario as it ran: what each site holds, for the report and the opening lines. */
export function summarizeScenario({
  scenario,
  sites,
  siteNames,
  seed,
  outside,
}: {
  readonly scenario: Scenario;
  /** Each site's private rows, in the order of `siteNames`. */
  readonly sites: readonly LabelledTable[];
  readonly siteNames: readonly string[];
  readonly seed: number;
  /** What an outside teacher learned from, where the scenario has one. */
  readonly outside?: LabelledTable | undefined;
}): ScenarioSummary {
  const classes = scenario.classNames.length;
  return {
    name: scenario.name,
    title: scenario.title,
    data: scenario.data,
    split: `${describeSplit({ scenario, sites: sites.length })}; seed ${seed}`,
    premise: describePremise(scenario, outside ? { outside } : {}),
    sites: sites.map((site, i) => {
      const counts = new Array<number>(classes).fill(0);
      for (const label of site.labels) counts[label]!++;
      return {
        name: siteNames[i]!,
        rows: site.rows,
        ...(classes === 2 ? { positive_share: counts[1]! / site.rows } : {}),
        label_counts: counts,
      };
    }),
    classes,
    class_names: scenario.classNames,
  };
}

/** The coordinator's own report of the run, as it wrote it when the run completed. */
export async function readRunReport(workspace: DemoWorkspace): Promise<RunReport> {
  return JSON.parse(await readFile(workspace.reportFile, 'utf8')) as RunReport;
}

/**
 * Each site's own ledger, read from its cache folder after the run: the epsilon it can vouch for
 * with the noise it added itself, composed over every secure attempt it masked into.
 */
export async function readSitesOwnEpsilon(workspace: DemoWorkspace): Promise<SitesOwnEpsilon> {
  const per_site = await Promise.all(
    workspace.siteNames.map(async (site) => {
      const status = unwrap(
        await sitePrivacyStatus(await loadSiteConfig(siteConfigFile(workspace, site))),
      );
      return { site, attempts: status.attempts, epsilon: status.epsilon, delta: status.delta };
    }),
  );
  return {
    meaning:
      "What each site can vouch for with its own noise alone, trusting neither the coordinator nor the other sites: every secure attempt it masked into (failed ones too) accounted as a Gaussian mechanism at q = 1 with its own noise multiplier; the run's epsilon above counts every site's noise and holds only if the coordinator and the sites are honest.",
    per_site,
  };
}

/** Where the demo left what a reader or an auditor is handed. */
export interface ReportFiles {
  readonly json: string;
  readonly html: string;
  readonly audit: string;
  readonly coordinatorKey: string;
}

/**
 * The demo's report: the coordinator's run report with the scenario and the baselines added,
 * written over the coordinator's report.json and as report.html. Beside them, what an auditor is
 * handed: the audit log with its signed heads, and the key that signed them.
 */
export async function writeReportFiles({
  workspace,
  runReport,
  scenario,
  baselines,
}: {
  readonly workspace: DemoWorkspace;
  readonly runReport: RunReport;
  readonly scenario: ScenarioSummary;
  readonly baselines: Baselines;
}): Promise<{ report: DemoReport; files: ReportFiles }> {
  const { privacy } = runReport;
  const report: DemoReport = {
    ...runReport,
    // Only masked attempts carry a site's own noise: with central DP its ledger stays empty
    // because its updates leave without noise of its own, not because it spent nothing.
    ...(privacy
      ? {
          privacy: privacy.secure_aggregation
            ? { ...privacy, sites_own: await readSitesOwnEpsilon(workspace) }
            : privacy,
        }
      : {}),
    scenario,
    baselines,
    distillation_gain: distillationGain(runReport.student_accuracy, baselines),
  };
  const files: ReportFiles = {
    json: workspace.reportFile,
    html: path.join(workspace.dir, 'report.html'),
    audit: path.join(workspace.dir, 'audit.jsonl'),
    coordinatorKey: path.join(workspace.dir, 'coordinator.pub'),
  };
  await writeFile(files.json, formatJson(report));
  await writeFile(files.html, await renderHtmlReport(report));
  await writeFile(files.audit, formatJsonl(await readAuditLog(workspace.coordinatorConfigFile)));
  await copyFile(
    path.join(path.dirname(workspace.keys.allowList), 'coordinator.pub'),
    files.coordinatorKey,
  );
  return { report, files };
}
