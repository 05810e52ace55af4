/**
 * The evaluation report: a self-contained HTML page (inline CSS, inline SVG, no script, no network)
 * whose plots are drawn by Vega-Lite → Vega, rendered server-side to SVG, and the paper's Table 1 as
 * Markdown.
 *
 * Every section is optional: only what is provided in {@link ReportData} is rendered. All rates are
 * fractions in [0, 1] in the data and shown as percentages.
 *
 * @see Rouhani et al. 2018: Table 1, Figs. 6, 7, 9, 10 — PCL-METHOD.md §6.
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { assert } from '../errors.js';
import { DETECTION_LEVELS, type RatePoint, type SpPoint } from './roc.js';
import { normalizeRows, type ConfusionMatrix } from './confusion.js';
import type { RiskCosts } from './risk.js';

/** One detector's threshold-free metrics on one attack. */
export interface DetectorMetrics {
  /** e.g. 'PCL latent', 'PCL latent OR input', 'PCL calibrated fusion', 'Mahalanobis', 'PCA-centre'. */
  detector: string;
  /** Area under the ROC, in [0, 1]. */
  auroc: number;
  /** False-positive rate (fraction) at each detection level of `DETECTION_LEVELS` (90/95/98/99 %). */
  fprAt: readonly number[];
}

/** One row group of the per-attack table. */
export interface AttackEvaluation {
  /** Attack name as shown, e.g. 'FGSM'. */
  attack: string;
  /** Parameters as shown, e.g. 'ε = 0.1'. */
  params?: string;
  /** Correctly classified clean test samples the FP rate is counted on. */
  nClean: number;
  /** Successful adversarial samples the detection rate is counted on. */
  nAdv: number;
  /** Attack success rate on the victim, fraction. */
  successRate?: number;
  detectors: DetectorMetrics[];
  /** The paper's FP rates (fractions) at the same levels (see `paperTable1`). */
  paperFprAt?: readonly number[];
  /** Remark on the paper's numbers (e.g. a suspected typo). */
  paperNote?: string;
}

/** A labelled curve of (fpr, tpr) points. */
export interface CurveSeries {
  label: string;
  points: readonly RatePoint[];
}

/** A labelled point drawn on a ROC chart (e.g. the risk-optimal operating point). */
export interface RocMarker {
  label: string;
  fpr: number;
  tpr: number;
}

/** A ROC chart: several detectors (or checkpoint sets, Fig. 10) on one plot. */
export interface RocChart {
  title: string;
  curves: readonly CurveSeries[];
  markers?: readonly RocMarker[];
}

/** FP and TP rate vs SP (Fig. 7); one or more rules, each drawn as an FP and a TP line. */
export interface SpChart {
  title: string;
  series: readonly { label: string; points: readonly SpPoint[] }[];
}

/** Detection rate vs FGSM ε (Fig. 6); e.g. one series per defender × SP. */
export interface EpsilonChart {
  title: string;
  series: readonly { label: string; points: readonly { epsilon: number; detectionRate: number }[] }[];
}

/** Adversarial confusion matrices without and (optionally) with PCL (Fig. 9), drawn side by side. */
export interface ConfusionChart {
  title: string;
  without: ConfusionMatrix;
  with?: ConfusionMatrix;
}

/** The risk view (PCL-METHOD §2): where a cost/prior choice lands. Mark it on a ROC via `RocChart.markers`. */
export interface RiskView {
  attack: string;
  detector: string;
  costs: RiskCosts;
  /** Prior probability of an attack P(W2). */
  pAttack: number;
  /** Likelihood-ratio threshold λ. */
  lambda: number;
  fpr: number;
  tpr: number;
  /** SP of the chosen point, if it came from an SP sweep. */
  sp?: number;
  expectedCost: number;
}

/** One timing line. */
export interface TimingRow {
  stage: string;
  seconds: number;
  /** Items processed (images), to show a throughput. */
  items?: number;
  note?: string;
}

/** Everything a report can show. Only `title` and `dataset` are required. */
export interface ReportData {
  title: string;
  /** Dataset spec, e.g. 'mnist' or 'cifar10:DIR'. */
  dataset: string;
  /** ISO timestamp or free text. */
  generatedAt?: string;
  victim?: { name: string; testAccuracy?: number; details?: Readonly<Record<string, string | number>> };
  /** Free key/value settings (SP, seeds, n, package version …). */
  settings?: Readonly<Record<string, string | number | boolean>>;
  /** Per-attack table (Table 1 layout + AUROC). */
  attacks?: readonly AttackEvaluation[];
  /** ROC charts per attack (several detectors on one chart). */
  rocCharts?: readonly RocChart[];
  /** ROC with several parallel checkpoints (Fig. 10). */
  checkpointRocCharts?: readonly RocChart[];
  /** FP and TP vs SP (Fig. 7). */
  spCharts?: readonly SpChart[];
  /** Detection vs FGSM ε (Fig. 6). */
  epsilonCharts?: readonly EpsilonChart[];
  /** Confusion matrices with/without PCL (Fig. 9). */
  confusionCharts?: readonly ConfusionChart[];
  risk?: readonly RiskView[];
  timings?: readonly TimingRow[];
  notes?: readonly string[];
}

// ---------------------------------------------------------------- formatting

/** HTML-escapes text for element content and quoted attributes. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Fraction → percent string with one decimal ('–' for missing / non-finite). */
export function formatPercent(x: number | undefined, digits = 1): string {
  return x === undefined || !Number.isFinite(x) ? '–' : (x * 100).toFixed(digits);
}

/** The paper's values as printed (up to two decimals, no trailing zeros). */
function paperPct(x: number | undefined): string {
  return x === undefined || !Number.isFinite(x) ? '–' : String(Number((x * 100).toFixed(2)));
}

function levelHeader(level: number): string {
  return `${Number((level * 100).toFixed(1))} %`;
}

// ---------------------------------------------------------------- Table 1 (Markdown)

function checkAttacks(who: string, attacks: readonly AttackEvaluation[]): void {
  attacks.forEach((a, i) => {
    assert(typeof a.attack === 'string', () => `${who}: expected 'attacks[${i}].attack' to be a string, got ${typeof a.attack}`);
    a.detectors.forEach((d, j) =>
      assert(
        d.fprAt.length === DETECTION_LEVELS.length,
        () => `${who}: expected 'attacks[${i}].detectors[${j}].fprAt' to have ${DETECTION_LEVELS.length} values (90/95/98/99 %), got ${d.fprAt.length}`,
      ),
    );
    assert(
      a.paperFprAt === undefined || a.paperFprAt.length === DETECTION_LEVELS.length,
      () => `${who}: expected 'attacks[${i}].paperFprAt' to have ${DETECTION_LEVELS.length} values, got ${a.paperFprAt?.length}`,
    );
  });
}

/**
 * The paper's Table 1 layout in Markdown: per attack, one row per detector with the false-positive
 * rate (%) at 90 / 95 / 98 / 99 % detection and the AUROC, followed by the paper's PCL row.
 */
export function renderTableMarkdown(data: Pick<ReportData, 'dataset' | 'attacks'>): string {
  const attacks = data.attacks ?? [];
  checkAttacks('renderTableMarkdown', attacks);
  const lines: string[] = [];
  lines.push(`# False-positive rate (%) at ${DETECTION_LEVELS.map((l) => Number((l * 100).toFixed(1))).join(' / ')} % detection — ${data.dataset}`);
  lines.push('');
  lines.push(
    'Layout of the paper\'s Table 1. FP rate on correctly classified clean test samples; detection on ' +
      "successful adversarial samples. 'paper (PCL)' = Rouhani et al. 2018, Table 1.",
  );
  lines.push('');
  lines.push(`| Attack | Detector | ${DETECTION_LEVELS.map(levelHeader).join(' | ')} | AUROC | n clean / adv |`);
  lines.push(`|---|---|${DETECTION_LEVELS.map(() => '---:').join('|')}|---:|---:|`);
  const notes: string[] = [];
  for (const a of attacks) {
    const name = a.params ? `${a.attack} (${a.params})` : a.attack;
    for (const d of a.detectors) {
      lines.push(`| ${md(name)} | ${md(d.detector)} | ${d.fprAt.map((v) => formatPercent(v)).join(' | ')} | ${d.auroc.toFixed(4)} | ${a.nClean} / ${a.nAdv} |`);
    }
    if (a.paperFprAt) {
      lines.push(`| ${md(name)} | paper (PCL)${a.paperNote ? ` [${notes.length + 1}]` : ''} | ${a.paperFprAt.map(paperPct).join(' | ')} | – | – |`);
      if (a.paperNote) notes.push(`[${notes.length + 1}] ${a.attack}: ${a.paperNote}`);
    }
  }
  if (notes.length) lines.push('', ...notes);
  return lines.join('\n') + '\n';
}

function md(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

// ---------------------------------------------------------------- charts

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#7f7f7f', '#17becf', '#bcbd22'];

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

function rocSpec(chart: RocChart): TopLevelSpec {
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

function spSpec(chart: SpChart): TopLevelSpec {
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

function epsilonSpec(chart: EpsilonChart): TopLevelSpec {
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

function heatmapSpec(m: ConfusionMatrix, title: string): any {
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

function confusionSpec(chart: ConfusionChart): TopLevelSpec {
  const panels = [heatmapSpec(chart.without, 'without PCL')];
  if (chart.with) panels.push(heatmapSpec(chart.with, 'with PCL'));
  return { title: chart.title, hconcat: panels, resolve: { scale: { color: 'shared' } } } as TopLevelSpec;
}

// ---------------------------------------------------------------- HTML

const CSS = `
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;color:#222;background:#fafafa}
main{max-width:1200px;margin:0 auto;padding:24px}
h1{font-size:1.6em;margin:0 0 4px}h2{font-size:1.25em;margin:32px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#666;margin:0 0 16px}
table{border-collapse:collapse;margin:8px 0 16px;background:white;font-size:0.92em}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:right}th{background:#f0f0f0}
td.l,th.l{text-align:left}tr.paper td{color:#666;font-style:italic}td.best{font-weight:bold;background:#eef6ee}
.plots{display:flex;flex-wrap:wrap;gap:16px}
figure.plot{margin:0;padding:8px;background:white;border:1px solid #e0e0e0;border-radius:4px}
figure.plot figcaption{font-size:0.85em;color:#555;margin-top:4px;max-width:520px}
.note{font-size:0.9em;color:#555}
`;

function table(head: string[], body: string[][], leftCols = 1, rowClass?: (i: number) => string | undefined): string {
  const th = head.map((h, i) => `<th${i < leftCols ? ' class="l"' : ''}>${h}</th>`).join('');
  const trs = body
    .map((r, i) => {
      const cls = rowClass?.(i);
      return `<tr${cls ? ` class="${cls}"` : ''}>${r.map((c, j) => (c.startsWith('<td') ? c : `<td${j < leftCols ? ' class="l"' : ''}>${c}</td>`)).join('')}</tr>`;
    })
    .join('\n');
  return `<table><thead><tr>${th}</tr></thead><tbody>\n${trs}\n</tbody></table>`;
}

function attackTableHtml(a: AttackEvaluation): string {
  const ds = a.detectors;
  const bestFp = DETECTION_LEVELS.map((_, k) => Math.min(...ds.map((d) => d.fprAt[k])));
  const bestAuc = Math.max(...ds.map((d) => d.auroc));
  const body = ds.map((d) => [
    escapeHtml(d.detector),
    ...d.fprAt.map((v, k) => (v === bestFp[k] && ds.length > 1 ? `<td class="best">${formatPercent(v)}</td>` : formatPercent(v))),
    d.auroc === bestAuc && ds.length > 1 ? `<td class="best">${d.auroc.toFixed(4)}</td>` : d.auroc.toFixed(4),
  ]);
  if (a.paperFprAt) body.push(['paper (PCL)', ...a.paperFprAt.map(paperPct), '–']);
  const head = ['detector', ...DETECTION_LEVELS.map((l) => `FP @ ${levelHeader(l)}`), 'AUROC'];
  const caption =
    `<p class="note"><b>${escapeHtml(a.attack)}</b>${a.params ? ` (${escapeHtml(a.params)})` : ''}: ` +
    `${a.nClean} correctly classified clean samples, ${a.nAdv} successful adversarial samples` +
    `${a.successRate !== undefined ? `, attack success rate ${formatPercent(a.successRate)} %` : ''}.` +
    `${a.paperNote ? ` Paper: ${escapeHtml(a.paperNote)}.` : ''} FP rates in %, best per column in bold.</p>`;
  return caption + table(head, body, 1, (i) => (i === ds.length ? 'paper' : undefined));
}

function kvTable(obj: Readonly<Record<string, string | number | boolean>>): string {
  return table(['setting', 'value'], Object.entries(obj).map(([k, v]) => [escapeHtml(k), `<td class="l">${escapeHtml(String(v))}</td>`]));
}

/** A plot to draw: its section, caption and Vega-Lite spec. */
interface PlotJob {
  section: string;
  id: string;
  caption: string;
  spec: TopLevelSpec;
}

function plotJobs(r: ReportData): PlotJob[] {
  const jobs: PlotJob[] = [];
  (r.rocCharts ?? []).forEach((c, i) =>
    jobs.push({ section: 'roc', id: `roc-${i}`, caption: `ROC: ${c.title}. Markers: risk-optimal operating points.`, spec: rocSpec(c) }),
  );
  (r.checkpointRocCharts ?? []).forEach((c, i) =>
    jobs.push({ section: 'checkpoints', id: `checkpoints-${i}`, caption: `ROC with parallel checkpoints (Fig. 10): ${c.title}`, spec: rocSpec(c) }),
  );
  (r.spCharts ?? []).forEach((c, i) =>
    jobs.push({ section: 'sp', id: `sp-${i}`, caption: `FP and TP rate vs security parameter (Fig. 7): ${c.title}`, spec: spSpec(c) }),
  );
  (r.epsilonCharts ?? []).forEach((c, i) =>
    jobs.push({ section: 'epsilon', id: `epsilon-${i}`, caption: `Detection rate vs FGSM ε (Fig. 6): ${c.title}`, spec: epsilonSpec(c) }),
  );
  (r.confusionCharts ?? []).forEach((c, i) =>
    jobs.push({
      section: 'confusion',
      id: `confusion-${i}`,
      caption: `Adversarial confusion matrix (Fig. 9): ${c.title}. Counts; colour = share of the true class's row.`,
      spec: confusionSpec(c),
    }),
  );
  return jobs;
}

/** Number of plots (SVG charts) {@link renderReport} draws for `r`. */
export function countPlots(r: ReportData): number {
  return (
    (r.rocCharts?.length ?? 0) +
    (r.checkpointRocCharts?.length ?? 0) +
    (r.spCharts?.length ?? 0) +
    (r.epsilonCharts?.length ?? 0) +
    (r.confusionCharts?.length ?? 0)
  );
}

const SECTIONS: readonly [string, string][] = [
  ['roc', 'ROC curves'],
  ['checkpoints', 'Several parallel checkpoints (Fig. 10)'],
  ['sp', 'False and true positives vs SP (Fig. 7)'],
  ['epsilon', 'Detection vs FGSM ε (Fig. 6)'],
  ['confusion', 'Adversarial confusion matrices (Fig. 9)'],
];

/**
 * Renders the report as one self-contained HTML page: inline CSS and inline SVG plots drawn by
 * Vega-Lite/Vega (server-side, `renderer: 'none'` → `toSVG()`), no scripts, no external resources, so
 * it opens offline. Each plot is a `<figure class="plot" data-plot="ID">` holding exactly one `<svg>`.
 */
export async function renderReport(r: ReportData): Promise<string> {
  assert(typeof r?.title === 'string' && r.title.length > 0, () => `renderReport: expected a non-empty 'title', got ${String(r?.title)}`);
  assert(typeof r.dataset === 'string', () => `renderReport: expected 'dataset' to be a string, got ${typeof r.dataset}`);
  checkAttacks('renderReport', r.attacks ?? []);
  const jobs = plotJobs(r);
  const svgs: string[] = [];
  for (const j of jobs) svgs.push(await vegaLiteToSvg(j.spec)); // sequential: vega views are not cheap
  const parts: string[] = [];
  parts.push(`<h1>${escapeHtml(r.title)}</h1>`);
  parts.push(`<p class="meta">dataset <b>${escapeHtml(r.dataset)}</b>${r.generatedAt ? ` · generated ${escapeHtml(r.generatedAt)}` : ''}</p>`);
  if (r.victim) {
    const v: Record<string, string | number> = { model: r.victim.name };
    if (r.victim.testAccuracy !== undefined) v['test accuracy'] = `${formatPercent(r.victim.testAccuracy, 2)} %`;
    Object.assign(v, r.victim.details ?? {});
    parts.push('<h2>Victim</h2>', kvTable(v));
  }
  if (r.settings && Object.keys(r.settings).length) parts.push('<h2>Settings</h2>', kvTable(r.settings));
  if (r.attacks?.length) {
    parts.push(`<h2>False-positive rate at ${DETECTION_LEVELS.map((l) => levelHeader(l)).join(' / ')} detection (Table 1)</h2>`);
    for (const a of r.attacks) parts.push(attackTableHtml(a));
  }
  for (const [key, heading] of SECTIONS) {
    const figs = jobs
      .map((j, k) => (j.section === key ? `<figure class="plot" data-plot="${j.id}">${svgs[k]}<figcaption>${escapeHtml(j.caption)}</figcaption></figure>` : ''))
      .filter((s) => s);
    if (figs.length) parts.push(`<h2>${escapeHtml(heading)}</h2>`, `<div class="plots">\n${figs.join('\n')}\n</div>`);
  }
  if (r.risk?.length) {
    parts.push('<h2>Risk view: operating point from costs and prior</h2>');
    parts.push(
      '<p class="note">η<sub>ij</sub> = cost of deciding W<sub>i</sub> when the truth is W<sub>j</sub> (W1 legitimate, W2 attack). ' +
        'Legitimate iff p(φ|W1)/p(φ|W2) &gt; λ = (η12−η22)P(W2) / ((η21−η11)P(W1)); the chosen point minimises the expected cost on the empirical ROC.</p>',
    );
    parts.push(
      table(
        ['attack', 'detector', 'η11', 'η12', 'η21', 'η22', 'P(W2)', 'λ', 'SP (%)', 'FP (%)', 'detection (%)', 'expected cost'],
        r.risk.map((v) => [
          escapeHtml(v.attack),
          `<td class="l">${escapeHtml(v.detector)}</td>`,
          String(v.costs.eta11),
          String(v.costs.eta12),
          String(v.costs.eta21),
          String(v.costs.eta22),
          String(v.pAttack),
          Number.isFinite(v.lambda) ? v.lambda.toPrecision(4) : '∞',
          v.sp === undefined ? '–' : String(Number(v.sp.toPrecision(4))),
          formatPercent(v.fpr, 2),
          formatPercent(v.tpr, 2),
          v.expectedCost.toPrecision(4),
        ]),
        1,
      ),
    );
  }
  if (r.timings?.length) {
    parts.push('<h2>Timings</h2>');
    parts.push(
      table(
        ['stage', 'seconds', 'items', 'items / s', 'note'],
        r.timings.map((t) => [
          escapeHtml(t.stage),
          t.seconds.toFixed(2),
          t.items === undefined ? '–' : String(t.items),
          t.items === undefined || t.seconds <= 0 ? '–' : (t.items / t.seconds).toFixed(1),
          `<td class="l">${escapeHtml(t.note ?? '')}</td>`,
        ]),
      ),
    );
  }
  if (r.notes?.length) parts.push('<h2>Notes</h2>', `<ul>${r.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul>`);
  return (
    '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">\n' +
    `<title>${escapeHtml(r.title)}</title>\n<style>${CSS}</style>\n</head>\n<body>\n<main>\n${parts.join('\n')}\n</main>\n</body>\n</html>\n`
  );
}
