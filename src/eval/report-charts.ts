/** The report's charts: Vega-Lite specs (ROC, SP sweep, ε sweep, confusion heatmaps) rendered to inline SVG. */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { RatePoint, SpPoint } from './roc.js';
import { normalizeRows, type ConfusionMatrix } from './confusion.js';
import type { ConfusionChart, EpsilonChart, RocChart, SpChart } from './report-types.js';


export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#7f7f7f', '#17becf', '#bcbd22'];

const BASE_CONFIG = {
  font: 'sans-serif',
  background: 'white',
  axis: { labelFontSize: 11, titleFontSize: 12, grid: true, gridColor: '#e5e5e5' },
  legend: { labelFontSize: 11, titleFontSize: 11, labelLimit: 400 },
  title: { fontSize: 13, anchor: 'start' as const },
  range: { category: PALETTE },
};

/** Renders a Vega-Lite spec to an SVG string (Node, no DOM, no canvas). */
export async function vegaLiteToSvg(spec: TopLevelSpec): Promise<string> {
  const vgSpec = compile({ ...spec, config: { ...BASE_CONFIG, ...(spec.config ?? {}) } } as TopLevelSpec).spec;
  const view = new vega.View(vega.parse(vgSpec), { renderer: 'none' });
  view.logLevel(vega.Error);
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Drops points lying on the segment between their neighbours (steps of a ROC), keeping the shape. */
export function simplifyCurve<P extends RatePoint>(points: readonly P[]): P[] {
  const out: P[] = [];
  for (const p of points) {
    while (out.length >= 2) {
      const a = out[out.length - 2];
      const b = out[out.length - 1];
      const cross = (b.fpr - a.fpr) * (p.tpr - a.tpr) - (b.tpr - a.tpr) * (p.fpr - a.fpr);
      const between = (b.fpr - a.fpr) * (p.fpr - b.fpr) >= 0 && (b.tpr - a.tpr) * (p.tpr - b.tpr) >= 0;
      if (Math.abs(cross) < 1e-12 && between) out.pop();
      else break;
    }
    out.push(p);
  }
  return out;
}

export function rocSpec(chart: RocChart): TopLevelSpec {
  const rows: { series: string; fpr: number; tpr: number; i: number }[] = [];
  for (const c of chart.curves) {
    const pts = [...c.points].sort((p, q) => p.fpr - q.fpr || p.tpr - q.tpr);
    simplifyCurve([{ fpr: 0, tpr: 0 }, ...pts, { fpr: 1, tpr: 1 }]).forEach((p, i) =>
      rows.push({ series: c.label, fpr: p.fpr, tpr: p.tpr, i }),
    );
  }
  const markers = (chart.markers ?? []).map((m) => ({ ...m }));
  const layers: any[] = [
    {
      data: { values: [{ fpr: 0, tpr: 0 }, { fpr: 1, tpr: 1 }] },
      mark: { type: 'line', strokeDash: [4, 4], color: '#aaaaaa', strokeWidth: 1 },
      encoding: { x: { field: 'fpr', type: 'quantitative' }, y: { field: 'tpr', type: 'quantitative' } },
    },
    {
      data: { values: rows },
      mark: { type: 'line', strokeWidth: 2, interpolate: 'linear' },
      encoding: {
        x: { field: 'fpr', type: 'quantitative', title: 'false-positive rate', scale: { domain: [0, 1] }, axis: { format: '%' } },
        y: { field: 'tpr', type: 'quantitative', title: 'detection rate', scale: { domain: [0, 1] }, axis: { format: '%' } },
        color: { field: 'series', type: 'nominal', title: 'detector', sort: chart.curves.map((c) => c.label), legend: { orient: 'bottom', columns: legendColumns(chart.curves.map((c) => c.label)) } },
        order: { field: 'i', type: 'quantitative' },
      },
    },
  ];
  if (markers.length) {
    layers.push(
      {
        data: { values: markers },
        mark: { type: 'point', shape: 'diamond', size: 120, filled: true, color: 'black' },
        encoding: { x: { field: 'fpr', type: 'quantitative' }, y: { field: 'tpr', type: 'quantitative' } },
      },
      {
        data: { values: markers },
        mark: { type: 'text', align: 'left', dx: 8, dy: 10, fontSize: 11 },
        encoding: { x: { field: 'fpr', type: 'quantitative' }, y: { field: 'tpr', type: 'quantitative' }, text: { field: 'label' } },
      },
    );
  }
  return { title: chart.title, width: 340, height: 300, layer: layers } as TopLevelSpec;
}

/** Legend columns: 1 when a label is long (keeps the figure narrow enough for two per row). */
function legendColumns(labels: readonly string[], max = 2): number {
  return labels.some((l) => l.length > 24) ? 1 : max;
}

/**
 * Thins an SP sweep for drawing: keeps the first and last point of every run of equal (fpr, tpr) — the
 * drawn polyline is unchanged — then, if still longer than `maxPoints`, keeps every k-th point plus the
 * ends. Only the picture is thinned; tables use the full data.
 */
export function thinSpCurve(points: readonly SpPoint[], maxPoints = 300): SpPoint[] {
  const p = [...points].filter((q) => q.sp > 0).sort((a, b) => a.sp - b.sp);
  const same = (a: SpPoint, b: SpPoint) => a.fpr === b.fpr && a.tpr === b.tpr;
  const runs = p.filter((q, i) => i === 0 || i === p.length - 1 || !same(q, p[i - 1]) || !same(q, p[i + 1]));
  if (runs.length <= maxPoints) return runs;
  const k = Math.ceil(runs.length / maxPoints);
  return runs.filter((_, i) => i % k === 0 || i === runs.length - 1);
}

export function spSpec(chart: SpChart): TopLevelSpec {
  const rows: { series: string; sp: number; rate: number; kind: string }[] = [];
  let longest = 0;
  for (const s of chart.series) {
    // log axis: SP = 0 (flag nothing) cannot be placed and carries no information (0 FP, 0 TP)
    const pts = thinSpCurve(s.points);
    longest = Math.max(longest, pts.length);
    for (const p of pts) {
      rows.push({ series: s.label, sp: p.sp, rate: p.fpr, kind: 'false positives (clean)' });
      rows.push({ series: s.label, sp: p.sp, rate: p.tpr, kind: 'detections (adversarial)' });
    }
  }
  return {
    title: chart.title,
    width: 340,
    height: 260,
    data: { values: rows },
    // point symbols only where they stay readable (and the SVG small)
    mark: { type: 'line', point: longest <= 40 ? { size: 18 } : false, strokeWidth: 2 },
    encoding: {
      x: { field: 'sp', type: 'quantitative', title: 'security parameter SP (%, log scale)', scale: { type: 'log' } },
      y: { field: 'rate', type: 'quantitative', title: 'rate', scale: { domain: [0, 1] }, axis: { format: '%' } },
      color: { field: 'series', type: 'nominal', title: 'rule', sort: chart.series.map((s) => s.label), legend: { orient: 'bottom', columns: 1 } },
      strokeDash: { field: 'kind', type: 'nominal', title: 'rate of', legend: { orient: 'bottom', columns: 1 } },
      ...(longest <= 40 ? { shape: { field: 'kind', type: 'nominal', title: 'rate of', legend: { orient: 'bottom', columns: 1 } } } : {}),
    },
  } as TopLevelSpec;
}

export function epsilonSpec(chart: EpsilonChart): TopLevelSpec {
  const rows = chart.series.flatMap((s) =>
    [...s.points].sort((a, b) => a.epsilon - b.epsilon).map((p) => ({ series: s.label, epsilon: p.epsilon, rate: p.detectionRate })),
  );
  return {
    title: chart.title,
    width: 340,
    height: 260,
    data: { values: rows },
    mark: { type: 'line', point: { size: 30 }, strokeWidth: 2 },
    encoding: {
      x: { field: 'epsilon', type: 'quantitative', title: 'FGSM ε (L∞)' },
      y: { field: 'rate', type: 'quantitative', title: 'detection rate', scale: { domain: [0, 1] }, axis: { format: '%' } },
      color: { field: 'series', type: 'nominal', title: 'defender @ SP', sort: chart.series.map((s) => s.label), legend: { orient: 'bottom', columns: legendColumns(chart.series.map((s) => s.label), 3) } },
    },
  } as TopLevelSpec;
}

export function heatmapSpec(m: ConfusionMatrix, title: string): any {
  const norm = normalizeRows(m);
  const rows = m.counts.flatMap((row, t) =>
    row.map((count, c) => ({ truth: m.rowLabels[t], predicted: m.colLabels[c], count, share: norm[t][c] })),
  );
  const cell = Math.max(16, Math.min(34, Math.floor(340 / m.colLabels.length)));
  return {
    title,
    width: cell * m.colLabels.length,
    height: cell * m.rowLabels.length,
    data: { values: rows },
    encoding: {
      x: { field: 'predicted', type: 'ordinal', sort: m.colLabels, title: 'victim prediction', axis: { labelAngle: 0, grid: false } },
      y: { field: 'truth', type: 'ordinal', sort: m.rowLabels, title: 'true label', axis: { grid: false } },
    },
    layer: [
      {
        mark: { type: 'rect', stroke: 'white', strokeWidth: 0.5 },
        encoding: {
          color: { field: 'share', type: 'quantitative', title: 'share of row', scale: { domain: [0, 1], range: ['#ffffff', '#08519c'], interpolate: 'rgb' }, legend: { format: '%' } },
        },
      },
      {
        mark: { type: 'text', fontSize: cell >= 28 ? 11 : 9 },
        encoding: {
          text: { condition: { test: 'datum.count > 0', field: 'count', type: 'quantitative' }, value: '' },
          color: { condition: { test: 'datum.share > 0.5', value: 'white' }, value: 'black' },
        },
      },
    ],
  };
}

export function confusionSpec(chart: ConfusionChart): TopLevelSpec {
  const panels = [heatmapSpec(chart.without, 'without PCL')];
  if (chart.with) panels.push(heatmapSpec(chart.with, 'with PCL'));
  return { title: chart.title, hconcat: panels, resolve: { scale: { color: 'shared' } } } as TopLevelSpec;
}

// ---------------------------------------------------------------- HTML
