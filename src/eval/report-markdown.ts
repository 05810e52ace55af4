/** The paper's Table 1 layout as Markdown (`table.md`). */
import { DETECTION_LEVELS } from './roc.js';
import { checkAttacks, formatPercent, levelHeader, paperPct } from './report-format.js';
import type { ReportData } from './report-types.js';

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
  if (attacks.some((a) => a.successRate !== undefined)) {
    lines.push('', '## Attacks', '', '| Attack | success | mean L2 | mean L∞ |', '|---|---:|---:|---:|');
    for (const a of attacks) {
      const f = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(3));
      lines.push(`| ${md(a.params ? `${a.attack} (${a.params})` : a.attack)} | ${a.successRate === undefined ? '–' : formatPercent(a.successRate)} % | ${f(a.meanL2)} | ${f(a.meanLinf)} |`);
    }
  }
  const split = attacks.filter((a) => a.perPlan && a.perPlan.length > 1);
  for (const a of split) {
    lines.push('', `## ${md(a.attack)}, each plan on its own`, '');
    lines.push(`| Plan | success | mean L2 | Detector | ${DETECTION_LEVELS.map(levelHeader).join(' | ')} | AUROC | n clean / adv |`);
    lines.push(`|---|---:|---:|---|${DETECTION_LEVELS.map(() => '---:').join('|')}|---:|---:|`);
    for (const p of a.perPlan!) {
      for (const d of p.detectors) {
        lines.push(
          `| ${md(p.label)} | ${formatPercent(p.successRate)} % | ${p.meanL2.toFixed(3)} | ${md(d.detector)} | ${d.fprAt.map((v) => formatPercent(v)).join(' | ')} | ${d.auroc.toFixed(4)} | ${a.nClean} / ${p.nAdv} |`,
        );
      }
      if (!p.detectors.length) lines.push(`| ${md(p.label)} | ${formatPercent(p.successRate)} % | – | (no successful examples) | ${DETECTION_LEVELS.map(() => '–').join(' | ')} | – | ${a.nClean} / 0 |`);
    }
  }
  return lines.join('\n') + '\n';
}

function md(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}
