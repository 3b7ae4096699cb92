import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { formatBytes, formatDuration, formatPercent } from '../../dashboard/format.js';
import type { DemoReport } from './demo-report.js';

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

function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/**
 * JSON for a `<script type="application/json">` block: with no `<` left, no value can close the
 * script (`</script>`) or open a comment in it; `JSON.parse` reads `\u003c` back as `<`.
 */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

/** uPlot's browser build and styles, from the installed package (as the dashboard serves them). */
async function uplotAssets(): Promise<{ js: string; css: string }> {
  const require = createRequire(import.meta.url);
  const [js, css] = await Promise.all(
    ['uplot/dist/uPlot.iife.min.js', 'uplot/dist/uPlot.min.css'].map((file) =>
      readFile(require.resolve(file), 'utf8'),
    ),
  );
  // Inlined verbatim, so neither may end its own element early.
  if (/<\/script/i.test(js!) || /<\/style/i.test(css!)) {
    throw new Error('uPlot build contains a closing script or style tag; it cannot be inlined');
  }
  return { js: js!, css: css! };
}

const accuracy = (share: number | null | undefined): string => formatPercent(share ?? undefined, 2);
const auc = (value: number | null | undefined): string =>
  value === null || value === undefined ? '–' : value.toFixed(3);

/** A table from already escaped cells; `numeric` columns are right-aligned. */
function table(
  test: string,
  head: readonly string[],
  rows: readonly (readonly string[])[],
  numeric: (column: number) => boolean = (column) => column > 0,
): string {
  const cell = (tag: 'th' | 'td', text: string, column: number) =>
    `<${tag}${numeric(column) ? ' class="num"' : ''}>${text}</${tag}>`;
  return (
    `<table data-test="${test}"><thead><tr>${head.map((h, i) => cell('th', escapeHtml(h), i)).join('')}</tr></thead>` +
    `<tbody>${rows.map((row) => `<tr>${row.map((c, i) => cell('td', c, i)).join('')}</tr>`).join('')}</tbody></table>`
  );
}

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
    `<p>A teacher trained on a public split distilled into a small student, trained by ` +
    `${report.sites} sites on rows that never left them.</p>` +
    `<dl><dt>Data</dt><dd>${escapeHtml(scenario.data)}</dd>` +
    `<dt>Split</dt><dd>${escapeHtml(scenario.split)}</dd>` +
    `<dt>Run</dt><dd><ul>${facts.map((f) => `<li>${escapeHtml(f)}</li>`).join('')}</ul></dd></dl></header>`
  );
}

/** Two panels of two bars: size (weight bytes) and held-out accuracy, teacher beside student. */
function teacherStudentSvg(report: DemoReport): string {
  const teacher = report.baselines.teacher;
  const teacherBytes = teacher.params === null ? null : teacher.params * 4;
  const studentBytes = report.compression.exports.tfjs.int8.weights_bytes;
  const studentAccuracy = report.compression.accuracy.student_int8;
  const width = 560;
  const height = 240;
  const top = 40;
  const base = 200;
  const barWidth = 70;
  const colors = { teacher: '#7c3aed', student: '#2563eb' };
  const bar = (x: number, share: number | null, color: string, label: string, value: string) => {
    const h = share === null ? 0 : Math.max(1, share * (base - top));
    return (
      `<rect x="${x}" y="${base - h}" width="${barWidth}" height="${h}" fill="${color}"/>` +
      `<text x="${x + barWidth / 2}" y="${base - h - 6}" text-anchor="middle">${escapeHtml(value)}</text>` +
      `<text x="${x + barWidth / 2}" y="${base + 16}" text-anchor="middle">${escapeHtml(label)}</text>`
    );
  };
  const maxBytes = Math.max(studentBytes, teacherBytes ?? 0);
  const panel = (x: number, title: string, bars: string) =>
    `<text x="${x + barWidth + 10}" y="20" text-anchor="middle" font-weight="600">${escapeHtml(title)}</text>` +
    `<line x1="${x - 10}" y1="${base}" x2="${x + 2 * barWidth + 30}" y2="${base}" stroke="#94a3b8"/>` +
    bars;
  const sizeBars =
    bar(
      40,
      teacherBytes === null ? null : teacherBytes / maxBytes,
      colors.teacher,
      'teacher fp32',
      teacherBytes === null ? 'no model' : formatBytes(teacherBytes),
    ) +
    bar(130, studentBytes / maxBytes, colors.student, 'student int8', formatBytes(studentBytes));
  const accuracyBars =
    bar(320, teacher.accuracy, colors.teacher, 'teacher', accuracy(teacher.accuracy)) +
    bar(410, studentAccuracy, colors.student, 'student int8', accuracy(studentAccuracy));
  return (
    `<svg data-test="chart-teacher-student" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" ` +
    `role="img" aria-label="Teacher and exported student: weight bytes and held-out accuracy" ` +
    `font-family="system-ui, sans-serif" font-size="12" fill="#1e293b">` +
    panel(40, 'Weights (bytes)', sizeBars) +
    panel(320, 'Held-out accuracy', accuracyBars) +
    `<text x="10" y="${height - 4}" font-size="11" fill="#64748b">` +
    `Teacher: parameters × 4 B (float32); student: its exported int8 weight shards.</text></svg>`
  );
}

function teacherStudentTable(report: DemoReport): string {
  const c = report.compression;
  const t = report.baselines.teacher;
  const binary = report.scenario.classes === 2;
  const size = (bytes: number | null) => (bytes === null ? '–' : escapeHtml(formatBytes(bytes)));
  const latency = (ms: number | undefined) => (ms === undefined ? '–' : `${ms.toFixed(3)} ms`);
  const row = (
    name: string,
    params: number | null,
    bytes: number | null,
    gzip: number | null,
    acc: number | null,
    area: number | null | undefined,
    ms: number | undefined,
  ) => [
    escapeHtml(name),
    params === null ? '–' : String(params),
    size(bytes),
    size(gzip),
    accuracy(acc),
    ...(binary ? [auc(area)] : []),
    latency(ms),
  ];
  const { float32, int8 } = c.exports.tfjs;
  return table(
    'teacher-student',
    [
      'model',
      'parameters',
      'weights',
      'weights gzip',
      'accuracy',
      ...(binary ? ['AUC'] : []),
      'latency, batch 1',
    ],
    [
      row(
        'teacher (float32, not exported)',
        t.params,
        t.params === null ? null : t.params * 4,
        null,
        t.accuracy,
        t.auc,
        c.latency_ms_per_example.teacher?.batch_1,
      ),
      row(
        'student float32 export',
        c.parameters.student,
        float32.weights_bytes,
        float32.weights_gzip_bytes,
        c.accuracy.student_fp32,
        c.auc?.student_fp32,
        c.latency_ms_per_example.student.batch_1,
      ),
      row(
        'student int8 export',
        c.parameters.student,
        int8.weights_bytes,
        int8.weights_gzip_bytes,
        c.accuracy.student_int8,
        c.auc?.student_int8,
        undefined,
      ),
    ],
  );
}

function sitesTable(report: DemoReport): string {
  const { scenario, baselines } = report;
  const binary = scenario.classes === 2;
  const local = new Map(baselines.local_only.per_site.map((s) => [s.site, s]));
  return table(
    'sites',
    [
      'site',
      'rows',
      ...scenario.class_names.map((name) => `label ${name}`),
      ...(binary ? ['positive share'] : []),
      'local-only accuracy',
      ...(binary ? ['local-only AUC'] : []),
    ],
    scenario.sites.map((site) => {
      const alone = local.get(site.name);
      return [
        escapeHtml(site.name),
        String(site.rows),
        ...scenario.class_names.map((_, i) => String(site.label_counts[i] ?? 0)),
        ...(binary ? [formatPercent(site.positive_share, 1)] : []),
        accuracy(alone?.accuracy),
        ...(binary ? [auc(alone?.auc)] : []),
      ];
    }),
  );
}

function roundsTable(report: DemoReport): string {
  const fedavg = report.baselines.fedavg_no_teacher.per_round;
  return table(
    'rounds',
    [
      'round',
      'student accuracy',
      'FedAvg, no teacher',
      'loss (nats)',
      'bytes received',
      'bytes sent',
      'temperature',
      'alpha',
      'sites',
    ],
    report.per_round.map((r) => [
      String(r.round),
      accuracy(r.student_accuracy),
      accuracy(fedavg[r.round - 1]),
      r.student_loss.toFixed(4),
      escapeHtml(formatBytes(r.bytes_up)),
      escapeHtml(formatBytes(r.bytes_down)),
      r.temperature.toFixed(2),
      r.alpha.toFixed(2),
      `${r.participants} / ${r.selected}`,
    ]),
  );
}

function baselinesTable(report: DemoReport): string {
  const b = report.baselines;
  const binary = report.scenario.classes === 2;
  const row = (name: string, acc: number, area: number | undefined) => [
    escapeHtml(name),
    accuracy(acc),
    ...(binary ? [auc(area)] : []),
  ];
  return table(
    'baselines',
    ['model', 'held-out accuracy', ...(binary ? ['AUC'] : [])],
    [
      row('local only, mean over sites', b.local_only.mean, b.local_only.auc?.mean),
      row(
        `local only, best site (${b.local_only.best_site})`,
        b.local_only.best,
        b.local_only.auc?.best,
      ),
      row('FedAvg without teacher', b.fedavg_no_teacher.accuracy, b.fedavg_no_teacher.auc),
      row('centralized (all rows pooled)', b.centralized.accuracy, b.centralized.auc),
      row('teacher', b.teacher.accuracy, b.teacher.auc),
      row('distilled student', report.student_accuracy, report.compression.auc?.student_fp32),
    ],
  );
}

/**
 * Draws the two uPlot charts from the report-data block. Plain browser JavaScript, run once the
 * inline uPlot build has defined `uPlot`.
 */
const CHART_SCRIPT = `(() => {
  'use strict';
  const report = JSON.parse(document.getElementById('report-data').textContent);
  const HEIGHT = 260;
  const pct = (v) => (v * 100).toFixed(1) + '%';
  const axis = { stroke: '#64748b', grid: { stroke: '#e2e8f0', width: 1 }, ticks: { stroke: '#cbd5e1', width: 1 } };
  // Rounds are whole numbers: only whole-number ticks.
  const roundAxis = { ...axis, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000] };
  const plots = [];
  // Room for the widest tick label, so "450.0 kB" is not clipped.
  const axisSize = (u, values) => Math.ceil(Math.max(3, ...(values || []).map((v) => v.length)) * 7) + 24;
  // The hovered value, or the last round's when the cursor is off the chart.
  const legendValue = (format) => (u, v, series) => {
    if (v == null && u.cursor.idx == null) v = u.data[series].at(-1);
    return v == null ? '–' : format(v);
  };
  function chart(name, series, data, format) {
    const host = document.querySelector('[data-test="chart-' + name + '"] .chart-body');
    const width = () => Math.max(320, host.clientWidth);
    plots.push([width, new uPlot({
      width: width(),
      height: HEIGHT,
      scales: { x: { time: false } },
      cursor: { drag: { x: false, y: false } },
      axes: [roundAxis, { ...axis, size: axisSize, values: (u, splits) => splits.map(format) }],
      series: [
        { label: 'round', value: legendValue(String) },
        ...series.map((s) => ({ width: 2, points: { size: 5 }, value: legendValue(format), ...s })),
      ],
    }, data, host)]);
    host.parentElement.dataset.points = String(data[0].length);
  }

  const student = new Map(report.per_round.map((r) => [r.round, r.student_accuracy]));
  const fedavg = report.baselines.fedavg_no_teacher.per_round;
  const last = Math.max(0, ...student.keys(), fedavg.length);
  const rounds = Array.from({ length: last }, (_, i) => i + 1);
  const flat = (v) => rounds.map(() => v);
  const accuracy = [{ label: 'distilled student', stroke: '#2563eb' }];
  const accuracyData = [rounds, rounds.map((r) => student.get(r) ?? null)];
  if (fedavg.length > 0) {
    accuracy.push({ label: 'FedAvg, no teacher', stroke: '#d97706' });
    accuracyData.push(rounds.map((r) => fedavg[r - 1] ?? null));
  }
  const b = report.baselines;
  const references = [
    ['centralized', b.centralized.accuracy, '#16a34a'],
    ['local-only mean', b.local_only.mean, '#64748b'],
    ['teacher', b.teacher.accuracy, '#7c3aed'],
  ];
  for (const [label, value, stroke] of references) {
    accuracy.push({ label, stroke, dash: [6, 4], points: { show: false } });
    accuracyData.push(flat(value));
  }
  chart('accuracy', accuracy, accuracyData, pct);

  const up = report.per_round.map((r) => r.bytes_up);
  const down = report.per_round.map((r) => r.bytes_down);
  // Decimal units, as network traffic is counted; one unit for the whole axis.
  const [unit, size] = Math.max(0, ...up, ...down) >= 1e6 ? ['MB', 1e6] : ['kB', 1e3];
  chart(
    'bytes',
    [
      { label: 'received by the coordinator', stroke: '#16a34a' },
      { label: 'sent by the coordinator', stroke: '#dc2626' },
    ],
    [report.per_round.map((r) => r.round), up.map((v) => v / size), down.map((v) => v / size)],
    (v) => v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0) + ' ' + unit,
  );

  window.addEventListener('resize', () => {
    for (const [width, plot] of plots) plot.setSize({ width: width(), height: HEIGHT });
  });
})();`;

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
<script>${uplot.js}</script>
<script>${CHART_SCRIPT}</script>
</body>
</html>
`;
}
