import { formatDuration } from '../../dashboard/format.js';
import type { DemoReport } from './demo-report.js';
import { CHART_SCRIPT, teacherStudentSvg, uplotAssets } from './html-charts.js';
import { guardLanguage } from '../../dashboard/browser-locale.js';
import { accuracy, escapeHtml, scriptJson } from './html-markup.js';
import { baselinesTable, roundsTable, sitesTable, teacherStudentTable } from './html-tables.js';

/**
 * The page may fetch nothing: uPlot, its styles and the data are all inline, so the file can be
 * mailed or archived and still show the same figures, and opening it tells no server anything.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'unsafe-inline'",
  "style-src 'unsafe-inline'",
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

/** The page header: the scenario, its data and split, and the run in a few facts. */
function header(report: DemoReport): string {
  const { scenario, privacy } = report;
  const facts = [
    `${report.sites} sites, ${report.rounds} rounds, ${report.aggregation} aggregation`,
    report.secure_aggregation
      ? 'secure aggregation (SecAgg+): the coordinator saw only each round’s sum'
      : 'no secure aggregation',
    privacy
      ? `differential privacy: epsilon ${privacy.epsilon.toFixed(3)} of ${privacy.epsilon_budget} at delta ${privacy.delta}` +
        (privacy.stopped_by_budget ? ', stopped by the budget' : '')
      : 'no differential privacy',
    `${report.held_out_rows} held-out rows (majority class ${accuracy(report.majority_class_rate)})`,
    `student of ${report.student_params} parameters; coordinator backend ${report.backend}`,
    `wall time ${formatDuration(report.wall_seconds)}; run ${report.run_id}`,
  ];
  return (
    `<header><h1>${escapeHtml(scenario.title)}</h1>` +
    `<p>A teacher's soft labels distilled into a small student, trained by ` +
    `${report.sites} sites on rows that never left them.</p>` +
    `<dl><dt>Data</dt><dd>${escapeHtml(scenario.data)}</dd>` +
    `<dt>Split</dt><dd>${escapeHtml(scenario.split)}</dd>` +
    `<dt>Premise</dt><dd data-test="premise">${escapeHtml(scenario.premise)}</dd>` +
    `<dt>Run</dt><dd><ul>${facts.map((f) => `<li>${escapeHtml(f)}</li>`).join('')}</ul></dd></dl></header>`
  );
}

const PAGE_CSS = `
body { font: 14px/1.45 system-ui, sans-serif; color: #1e293b; margin: 0 auto; padding: 24px; max-width: 1100px; }
h1 { font-size: 24px; margin: 0 0 8px; }
h2 { font-size: 17px; margin: 28px 0 8px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; }
dt { font-weight: 600; }
dd { margin: 0; }
dd ul { margin: 0; padding-left: 18px; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 16px; }
.card { border: 1px solid #e2e8f0; border-radius: 6px; padding: 12px; overflow-x: auto; }
.card h3 { font-size: 14px; margin: 0 0 8px; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 10px; border-bottom: 1px solid #e2e8f0; text-align: left; }
th { background: #f8fafc; }
.num { text-align: right; }
.note { color: #64748b; }
`;

/**
 * The demo's report as one self-contained HTML page: accuracy and bytes per round (uPlot), the
 * teacher against the exported student (SVG), and tables of the sites, the rounds and the
 * baselines. Nothing is fetched when it is opened; the report itself travels in the page.
 */
export async function renderHtmlReport(report: DemoReport): Promise<string> {
  const uplot = await uplotAssets();
  const title = escapeHtml(report.scenario.title);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${CONTENT_SECURITY_POLICY}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title} – fedistill report</title>
<style>${uplot.css}</style>
<style>${PAGE_CSS}</style>
</head>
<body>
${header(report)}
<h2>Per round</h2>
<div class="grid">
<section class="card" data-test="chart-accuracy"><h3>Held-out accuracy by round</h3><div class="chart-body"></div></section>
<section class="card" data-test="chart-bytes"><h3>Protocol bytes by round (decimal units)</h3><div class="chart-body"></div></section>
</div>
<h2>Teacher and exported student</h2>
<div class="card">${teacherStudentSvg(report)}${teacherStudentTable(report)}</div>
<h2>Sites</h2>
<div class="card">${sitesTable(report)}</div>
<h2>Rounds</h2>
<div class="card">${roundsTable(report)}</div>
<h2>Distilled student against the baselines</h2>
<div class="card">${baselinesTable(report)}<p class="note">${escapeHtml(report.baselines.method)}</p></div>
<script type="application/json" id="report-data">${scriptJson(report)}</script>
<script>(${guardLanguage.toString()})(navigator);</script>
<script>${uplot.js}</script>
<script>${CHART_SCRIPT}</script>
</body>
</html>
`;
}
