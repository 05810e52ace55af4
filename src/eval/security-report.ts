/**
 * The "Security" section of the report (HTML and markdown) from the adaptive-attack protocol.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { SecurityResults, SecurityRow } from './security.js';
import { vegaLiteToSvg } from './report-charts.js';
import { escapeHtml, formatPercent } from './report-format.js';

const ATTACK_LABELS: Record<string, string> = {
  'cw-l2': 'C&W L2 (plain)',
  'adaptive-latent': 'adaptive: latent defenders',
  adaptive: 'adaptive: full PCL (latent + input BPDA)',
  feature: 'feature-space (Tramèr)',
};

function label(r: SecurityRow, withRule: boolean): string {
  return `${ATTACK_LABELS[r.attack] ?? r.attack} @ SP ${r.sp} %${withRule ? ` (${r.rule})` : ''}`;
}

const pct = (v: number) => (Number.isNaN(v) ? '–' : formatPercent(v));
const num = (v: number, d = 3) => (Number.isNaN(v) ? '–' : v.toFixed(d));

/** Vega-Lite spec of the curves: share of rows that fool the victim AND evade PCL, by L2 budget. */
export function securityCurveSpec(sec: SecurityResults, sp: number): TopLevelSpec {
  const multiRule = sec.rules.length > 1;
  const rows = sec.rows
    .filter((r) => r.sp === sp)
    .flatMap((r) => r.evadeWithinBudget.map((share, i) => ({ series: label(r, multiRule), budget: sec.budgets[i], share })));
  return {
    title: `fool the victim AND evade PCL at SP ${sp} %, by L2 budget`,
    width: 380,
    height: 260,
    layer: [
      {
        data: { values: rows },
        mark: { type: 'line', point: true, strokeWidth: 2 },
        encoding: {
          x: { field: 'budget', type: 'quantitative', title: `L2 budget (undefended C&W mean ${sec.referenceL2.toFixed(2)})` },
          y: { field: 'share', type: 'quantitative', title: 'share of rows', scale: { domain: [0, 1] }, axis: { format: '%' } },
          color: { field: 'series', type: 'nominal', title: null, legend: { orient: 'bottom', columns: 1 } },
        },
      },
      {
        data: { values: [{ b: sec.referenceL2 * 2 }] },
        mark: { type: 'rule', strokeDash: [4, 4], color: '#888' },
        encoding: { x: { field: 'b', type: 'quantitative' } },
      },
    ],
  } as TopLevelSpec;
}

/** The markdown table of the section (table.md). */
export function securityMarkdown(sec: SecurityResults): string {
  const lines = [
    `## Security: attacks that know the defense (${sec.n} rows; undefended C&W mean L2 ${num(sec.referenceL2)})`,
    '',
    `Clean false alarms on the same rows: ${sec.cleanFalseAlarm.map((c) => `SP ${c.sp} % (${c.rule}) ${pct(c.rate)} %`).join('; ')}.`,
    '',
    '| attack | judged at | victim fooled | detected (of fooled) | fool ∧ evade | evade within 2× C&W L2 | mean L2 of evading | ÷ undefended C&W |',
    '|---|---|---|---|---|---|---|---|',
  ];
  const twoX = sec.budgets.findIndex((b) => b >= 2 * sec.referenceL2 - 1e-9);
  for (const r of sec.rows) {
    lines.push(
      `| ${ATTACK_LABELS[r.attack] ?? r.attack}${r.aimedSp !== null ? ` (aimed at SP ${r.aimedSp} %)` : ''} | SP ${r.sp} % (${r.rule}) | ${pct(r.fooledRate)} % | ${pct(r.detectionRate)} % | ${pct(r.evadeRate)} % | ${twoX >= 0 ? `${pct(r.evadeWithinBudget[twoX])} %` : '–'} | ${num(r.meanL2Evading)} | ${Number.isNaN(r.l2Ratio) ? '–' : `${r.l2Ratio.toFixed(2)}×`} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** The HTML of the "Security" section: explanation, table, and one curve per SP (inline SVG). */
export async function renderSecurityHtml(sec: SecurityResults): Promise<string> {
  const twoX = sec.budgets.findIndex((b) => b >= 2 * sec.referenceL2 - 1e-9);
  const head = ['attack', 'judged at', 'victim fooled (%)', 'detected, of fooled (%)', 'fool ∧ evade (%)', 'evade within 2× C&W L2 (%)', 'mean L2 of evading', '÷ undefended C&W'];
  const body = sec.rows.map((r) => [
    `${escapeHtml(ATTACK_LABELS[r.attack] ?? r.attack)}${r.aimedSp !== null ? ` (aimed at SP ${r.aimedSp} %)` : ''}`,
    `SP ${r.sp} % (${escapeHtml(r.rule)})`,
    pct(r.fooledRate),
    pct(r.detectionRate),
    pct(r.evadeRate),
    twoX >= 0 ? pct(r.evadeWithinBudget[twoX]) : '–',
    num(r.meanL2Evading),
    Number.isNaN(r.l2Ratio) ? '–' : `${r.l2Ratio.toFixed(2)}×`,
  ]);
  const th = head.map((h, i) => `<th${i < 1 ? ' class="l"' : ''}>${escapeHtml(h)}</th>`).join('');
  const trs = body.map((r) => `<tr>${r.map((c, j) => `<td${j < 1 ? ' class="l"' : ''}>${c}</td>`).join('')}</tr>`).join('\n');
  const figs: string[] = [];
  for (const sp of sec.sps) {
    const svg = await vegaLiteToSvg(securityCurveSpec(sec, sp));
    figs.push(
      `<figure class="plot" data-plot="security-sp${sp}">${svg}<figcaption>${escapeHtml(
        `Share of the ${sec.n} rows whose adversarial example fools the victim and raises no alarm at SP ${sp} %, with L2 ≤ budget. Dashed: 2× the undefended C&W mean L2.`,
      )}</figcaption></figure>`,
    );
  }
  return [
    '<h2>Security</h2>',
    `<p class="note">Attacks that know the defense, run on ${sec.n} correctly classified test images with one C&amp;W schedule ` +
      `(${sec.schedule.binarySteps} × ${sec.schedule.iterations}, lr ${sec.schedule.lr}). Plain C&amp;W knows only the victim; the adaptive attacks aim under every ` +
      `defender's threshold at the SP they are judged at (latent defenders through their differentiable scores, the input defender through BPDA on the OMP support); ` +
      `the feature attack pulls every checkpoint's features toward a clean image of the target class. Every example is judged by the detector itself. ` +
      `Clean false alarms on the same rows: ${escapeHtml(sec.cleanFalseAlarm.map((c) => `SP ${c.sp} % (${c.rule}) ${pct(c.rate)} %`).join('; '))}. ` +
      `Undefended C&amp;W mean L2: ${num(sec.referenceL2)}.</p>`,
    `<table><thead><tr>${th}</tr></thead><tbody>\n${trs}\n</tbody></table>`,
    `<div class="plots">\n${figs.join('\n')}\n</div>`,
  ].join('\n');
}
