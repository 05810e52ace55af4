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
import type { TopLevelSpec } from 'vega-lite';
import { assert } from '../errors.js';
import { DETECTION_LEVELS } from './roc.js';
import { checkAttacks, escapeHtml, formatPercent, levelHeader, paperPct } from './report-format.js';
import { confusionSpec, epsilonSpec, rocSpec, spSpec, vegaLiteToSvg } from './report-charts.js';
import type { AttackEvaluation, ReportData } from './report-types.js';
import { renderSecurityHtml } from './security-report.js';

export type * from './report-types.js';
export { escapeHtml, formatPercent } from './report-format.js';
export { renderTableMarkdown } from './report-markdown.js';
export { simplifyCurve, thinSpCurve, vegaLiteToSvg } from './report-charts.js';


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
  const spCol = ds.find((d) => d.atSp)?.atSp?.sp;
  const bestFp = DETECTION_LEVELS.map((_, k) => Math.min(...ds.map((d) => d.fprAt[k])));
  const bestAuc = Math.max(...ds.map((d) => d.auroc));
  const body = ds.map((d) => [
    escapeHtml(d.detector),
    ...d.fprAt.map((v, k) => (v === bestFp[k] && ds.length > 1 ? `<td class="best">${formatPercent(v)}</td>` : formatPercent(v))),
    d.auroc === bestAuc && ds.length > 1 ? `<td class="best">${d.auroc.toFixed(4)}</td>` : d.auroc.toFixed(4),
    ...(spCol ? [d.atSp ? `${formatPercent(d.atSp.fp, 2)} / ${formatPercent(d.atSp.tp)}` : '–'] : []),
  ]);
  if (a.paperFprAt) body.push(['paper (PCL)', ...a.paperFprAt.map(paperPct), '–', ...(spCol ? ['–'] : [])]);
  // the decision each rule takes at the nominal SP: its measured false-alarm rate next to the SP it promises
  const head = ['detector', ...DETECTION_LEVELS.map((l) => `FP @ ${levelHeader(l)}`), 'AUROC', ...(spCol ? [`FP / detection at SP ${spCol} % (nominal FP ${spCol} %)`] : [])];
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
    jobs.push({ section: 'epsilon', id: `epsilon-${i}`, caption: `Detection rate vs attack strength (Fig. 6 layout): ${c.title}`, spec: epsilonSpec(c) }),
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
  ['epsilon', 'Detection vs attack strength: FGSM ε, C&W κ, PGD ε (Fig. 6)'],
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
  if (r.security) parts.push(await renderSecurityHtml(r.security));
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
