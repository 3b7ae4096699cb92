import uPlot from 'uplot';
import { el, frameScheduler } from './dom.js';
import type { RoundPoint } from '../protocol/operator-feed.js';
import { formatBytes, formatDuration, formatPercent } from './format.js';

/** One line of a chart: what it reads from a point and how it is drawn. */
interface LineSpec {
  readonly label: string;
  readonly color: string;
  readonly read: (point: RoundPoint) => number | undefined;
  /** A second y scale (right-hand axis) for a series of another unit. */
  readonly scale?: string;
  /** Legend values. */
  readonly format: (value: number) => string;
  /** Axis ticks, when uPlot's own numbers would not say the unit. */
  readonly tick?: (value: number) => string;
}

interface ChartSpec {
  /** `data-test="chart-<name>"`. */
  readonly name: string;
  readonly title: string;
  readonly lines: readonly LineSpec[];
  /** Shown only once some point has a value for the first line (epsilon). */
  readonly optional?: boolean;
  /** A fixed y range (shares are 0 to 1), instead of one fitted to the data. */
  readonly yRange?: [number, number];
}

const plain = (digits: number) => (value: number) => value.toFixed(digits);
const percent = (value: number) => formatPercent(value);
const wholePercent = (value: number) => formatPercent(value, 0);

const CHARTS: readonly ChartSpec[] = [
  {
    name: 'accuracy',
    title: 'Held-out accuracy',
    lines: [
      {
        label: 'accuracy',
        color: '#2563eb',
        read: (p) => p.accuracy,
        format: percent,
        tick: wholePercent,
      },
    ],
  },
  {
    name: 'loss',
    title: 'Held-out loss (nats)',
    lines: [{ label: 'loss', color: '#d97706', read: (p) => p.loss, format: plain(3) }],
  },
  {
    name: 'schedule',
    title: 'Temperature and alpha',
    lines: [
      { label: 'temperature', color: '#7c3aed', read: (p) => p.temperature, format: plain(2) },
      {
        label: 'alpha',
        color: '#0d9488',
        read: (p) => p.alpha,
        scale: 'alpha',
        format: plain(2),
      },
    ],
  },
  {
    name: 'sparsity',
    title: 'Student sparsity',
    yRange: [0, 1],
    lines: [
      {
        label: 'zero weights',
        color: '#475569',
        read: (p) => p.sparsity,
        format: percent,
        tick: wholePercent,
      },
    ],
  },
  {
    name: 'bytes',
    title: 'Bytes per round',
    lines: [
      {
        label: 'up',
        color: '#16a34a',
        read: (p) => p.bytesUp,
        format: formatBytes,
        tick: formatBytes,
      },
      {
        label: 'down',
        color: '#dc2626',
        read: (p) => p.bytesDown,
        format: formatBytes,
        tick: formatBytes,
      },
    ],
  },
  {
    name: 'duration',
    title: 'Round duration',
    lines: [
      {
        label: 'duration',
        color: '#0891b2',
        read: (p) => p.durationSeconds,
        format: formatDuration,
        tick: formatDuration,
      },
    ],
  },
  {
    name: 'epsilon',
    title: 'Privacy spent (epsilon)',
    optional: true,
    lines: [{ label: 'epsilon', color: '#be185d', read: (p) => p.epsilon, format: plain(3) }],
  },
];

const CHART_HEIGHT = 150;

/** Room for the widest tick label, so "10.0 MB" is not clipped. */
function axisSize(_u: uPlot, values: string[] | null): number {
  const longest = Math.max(3, ...(values ?? []).map((v) => v.length));
  return Math.ceil(longest * 7) + 24;
}

/** Tick labels in the line's unit, or uPlot's own numbers when it has none. */
function ticks(line: LineSpec | undefined): Pick<uPlot.Axis, 'values'> {
  const tick = line?.tick;
  return tick ? { values: (_u, splits) => splits.map((v) => tick(v)) } : {};
}

/** The hovered value, or the latest one when the cursor is off the chart. */
function legendValue(
  u: uPlot,
  value: number | null,
  series: number,
  format: (value: number) => string,
): string {
  if (value == null && u.cursor.idx == null) {
    const column = u.data[series] ?? [];
    value = column[column.length - 1] ?? null;
  }
  return value == null ? '–' : format(value);
}

/** A chart card: the uPlot instance and the columns it draws, appended to in place. */
class Chart {
  readonly card: HTMLElement;
  private readonly body: HTMLElement;
  private readonly columns: number[][];
  private plot: uPlot | undefined;
  private readonly observer: ResizeObserver;
  private width = 0;

  constructor(private readonly spec: ChartSpec) {
    this.columns = [[], ...spec.lines.map(() => [])];
    this.body = el('div', { className: 'chart-body' });
    this.card = el(
      'section',
      { className: 'card chart', attrs: { 'data-test': `chart-${spec.name}` } },
      [el('h3', { className: 'card-title', text: spec.title }), this.body],
    );
    this.card.dataset['points'] = '0';
    // Charts follow their card's width; the first real width also creates the plot.
    this.observer = new ResizeObserver((entries) => {
      const width = Math.floor(entries[0]?.contentRect.width ?? 0);
      if (width > 0 && width !== this.width) this.resize(width);
    });
    this.observer.observe(this.body);
  }

  /** Whether a point belongs on this chart (an optional chart skips points without a value). */
  accepts(point: RoundPoint): boolean {
    const first = this.spec.lines[0];
    return !this.spec.optional || (first !== undefined && first.read(point) !== undefined);
  }

  reset(): void {
    for (const column of this.columns) column.length = 0;
  }

  push(point: RoundPoint): void {
    this.columns[0]?.push(point.round);
    this.spec.lines.forEach((line, i) => {
      // uPlot draws a gap for null; its types only know numbers.
      this.columns[i + 1]?.push(line.read(point) ?? (null as unknown as number));
    });
  }

  /** Hands the columns to uPlot (no rebuild) and publishes the count for tests. */
  draw(): void {
    this.card.dataset['points'] = String(this.columns[0]?.length ?? 0);
    this.plot?.setData(this.columns as uPlot.AlignedData);
  }

  destroy(): void {
    this.observer.disconnect();
    this.plot?.destroy();
    this.card.remove();
  }

  private resize(width: number): void {
    this.width = width;
    if (this.plot) {
      this.plot.setSize({ width, height: CHART_HEIGHT });
      return;
    }
    this.plot = new uPlot(this.options(width), this.columns as uPlot.AlignedData, this.body);
  }

  private options(width: number): uPlot.Options {
    const lines = this.spec.lines;
    const axisStyle = {
      stroke: '#64748b',
      grid: { stroke: '#e2e8f0', width: 1 },
      ticks: { stroke: '#cbd5e1', width: 1 },
      font: '11px system-ui, sans-serif',
    };
    const axes: uPlot.Axis[] = [
      // Rounds are whole numbers: only whole-number ticks.
      { ...axisStyle, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000] },
      { ...axisStyle, size: axisSize, ...ticks(lines[0]) },
    ];
    const second = lines.find((line) => line.scale !== undefined);
    if (second) {
      axes.push({
        ...axisStyle,
        scale: second.scale,
        side: 1,
        size: axisSize,
        grid: { show: false },
        ...ticks(second),
      });
    }
    return {
      width,
      height: CHART_HEIGHT,
      scales: {
        x: { time: false },
        ...(this.spec.yRange ? { y: { range: this.spec.yRange } } : {}),
      },
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
      axes,
      series: [
        { label: 'round', value: (u, v, i) => legendValue(u, v, i, String) },
        ...lines.map((line): uPlot.Series => ({
          label: line.label,
          stroke: line.color,
          width: 1.5,
          scale: line.scale ?? 'y',
          spanGaps: false,
          points: { size: 4 },
          value: (u, v, i) => legendValue(u, v, i, line.format),
        })),
      ],
    };
  }
}

/**
 * The grid of per-round charts of the watched run. Points are appended to the columns and the
 * charts redrawn at most once per frame, however many deltas arrive.
 */
export class RunCharts {
  readonly root: HTMLElement;
  private readonly charts = new Map<string, Chart>();
  private readonly redraw = frameScheduler(() => this.charts.forEach((chart) => chart.draw()));

  constructor() {
    this.root = el('div', { className: 'chart-grid' });
    for (const spec of CHARTS) {
      if (!spec.optional) this.add(spec);
    }
  }

  /** A new run (or a new snapshot of it): everything from these points. */
  reset(points: readonly RoundPoint[]): void {
    for (const chart of this.charts.values()) chart.reset();
    const epsilon = this.charts.get('epsilon');
    if (epsilon) {
      epsilon.destroy();
      this.charts.delete('epsilon');
    }
    this.append(points);
    this.redraw();
  }

  append(points: readonly RoundPoint[]): void {
    if (points.length === 0) return;
    for (const point of points) {
      for (const spec of CHARTS) {
        let chart = this.charts.get(spec.name);
        if (!chart && spec.lines[0]?.read(point) !== undefined) chart = this.add(spec);
        if (chart?.accepts(point)) chart.push(point);
      }
    }
    this.redraw();
  }

  private add(spec: ChartSpec): Chart {
    const chart = new Chart(spec);
    this.charts.set(spec.name, chart);
    this.root.appendChild(chart.card);
    return chart;
  }
}
