import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { formatBytes } from '../../dashboard/format.js';
import type { DemoReport } from './demo-report.js';
import { accuracy, escapeHtml } from './html-markup.js';

/** uPlot's browser build and styles, from the installed package (as the dashboard serves them). */
export async function uplotAssets(): Promise<{ js: string; css: string }> {
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

/** Two panels of two bars: size (weight bytes) and held-out accuracy, teacher beside student. */
export function teacherStudentSvg(report: DemoReport): string {
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

/**
 * Draws the two uPlot charts from the report-data block. Plain browser JavaScript, run once the
 * inline uPlot build has defined `uPlot`.
 */
export const CHART_SCRIPT = `(() => {
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
  const b = report.baselines;
  // A baseline without labels to use (an unlabelled public split) is null: no series.
  const replays = [
    ['FedAvg, no teacher', b.fedavg_no_teacher, '#d97706'],
    ['FedAvg, public labels', b.fedavg_public_labels, '#dc2626'],
    ["FedAvg, teacher's rows", b.fedavg_teacher_rows, '#db2777'],
  ].flatMap(([label, figures, stroke]) => (figures ? [[label, figures.per_round, stroke]] : []));
  const last = Math.max(0, ...student.keys(), ...replays.map(([, perRound]) => perRound.length));
  const rounds = Array.from({ length: last }, (_, i) => i + 1);
  const flat = (v) => rounds.map(() => v);
  const accuracy = [{ label: 'distilled student', stroke: '#2563eb' }];
  const accuracyData = [rounds, rounds.map((r) => student.get(r) ?? null)];
  for (const [label, perRound, stroke] of replays) {
    if (perRound.length === 0) continue;
    accuracy.push({ label, stroke });
    accuracyData.push(rounds.map((r) => perRound[r - 1] ?? null));
  }
  const references = [
    ['centralized', b.centralized, '#16a34a'],
    ['centralized, public labels', b.centralized_public_labels, '#0d9488'],
    ["centralized, teacher's rows", b.centralized_teacher_rows, '#0891b2'],
    ['local-only mean', { accuracy: b.local_only.mean }, '#64748b'],
    ['teacher', b.teacher, '#7c3aed'],
  ].flatMap(([label, figures, stroke]) => (figures ? [[label, figures.accuracy, stroke]] : []));
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
