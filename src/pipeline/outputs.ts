import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { renderReport, renderTableMarkdown, type ReportData } from '../eval/report-html.js';
import { simplifyCurve } from '../eval/report-html.js';
import { securityMarkdown } from '../eval/security-report.js';
import type { EvaluationResults } from './evaluate.js';

/** Extra context shown in the report (victim, settings, notes). */
export interface ReportContext {
  title: string;
  victim?: ReportData['victim'];
  settings?: Record<string, string | number | boolean>;
  notes?: string[];
  timings?: { stage: string; seconds: number; items?: number; note?: string }[];
}

/** Turns evaluation results into the report's data (tables, Figs. 6, 7, 9, 10, risk view). */
export function reportData(r: EvaluationResults, ctx: ReportContext): ReportData {
  return {
    title: ctx.title,
    dataset: r.dataset,
    generatedAt: new Date().toISOString(),
    victim: ctx.victim,
    settings: { n: r.n, sp: r.sp, seed: r.seed, defenders: r.defenders.join(', '), ...(ctx.settings ?? {}) },
    attacks: r.groups.map((g) => ({
      attack: g.group,
      params: g.plans.map((p) => p.label).join('; '),
      nClean: g.nClean,
      nAdv: g.nAdv,
      successRate: g.successRate,
      ...successMeans(g.plans),
      detectors: g.detectors.map((d) => ({ detector: d.detector, auroc: d.auroc, fprAt: d.fprAt, ...(d.atSp ? { atSp: d.atSp } : {}) })),
      paperFprAt: g.paperFprAt,
      paperNote: g.paperNote,
      ...(g.perPlan ? { perPlan: g.perPlan } : {}),
    })),
    rocCharts: r.groups
      .filter((g) => g.detectors.length)
      .map((g) => ({
        title: `ROC — ${g.group}`,
        curves: g.detectors.map((d) => ({ label: d.detector, points: simplifyCurve(d.curve) })),
        markers: g.risk ? [{ label: `risk-optimal (SP=${g.risk.sp}%)`, fpr: g.risk.fpr, tpr: g.risk.tpr }] : undefined,
      })),
    checkpointRocCharts: r.checkpointRocs.map((c) => ({
      title: `Several checkpoints — ${c.group}`,
      curves: c.curves.map((k) => ({ label: `${k.label} (AUROC ${k.auroc.toFixed(3)})`, points: simplifyCurve(k.curve) })),
    })),
    spCharts: r.groups
      .filter((g) => g.detectors.some((d) => d.spCurve))
      .map((g) => ({
        title: `FP and TP vs SP — ${g.group}`,
        series: g.detectors.filter((d) => d.spCurve).map((d) => ({ label: d.detector, points: d.spCurve! })),
      })),
    epsilonCharts: nonEmpty([
      ...(r.fgsmSweep.length
        ? [
            {
              title: 'Detection rate vs FGSM ε',
              series: r.fgsmSweep.map((s) => ({ label: `${s.detector}, SP=${s.sp}%`, points: s.points })),
            },
          ]
        : []),
      ...STRENGTH_CHARTS.filter(([kind]) => (r.strengthSweeps ?? []).some((s) => s.kind === kind && s.points.length > 1)).map(([kind, title, xTitle]) => ({
        title,
        xTitle,
        series: (r.strengthSweeps ?? [])
          .filter((s) => s.kind === kind)
          .map((s) => ({ label: `${s.detector}, SP=${s.sp}%`, points: s.points.map((p) => ({ epsilon: p.value, detectionRate: p.detectionRate })) })),
      })),
    ]),
    confusionCharts: r.groups
      .filter((g) => g.confusion)
      .map((g) => ({ title: `Adversarial confusion — ${g.group} (with PCL at SP=${r.sp}%)`, without: g.confusion!.without, with: g.confusion!.with })),
    risk: r.groups
      .filter((g) => g.risk)
      .map((g) => ({ attack: g.group, ...g.risk! })),
    security: r.security,
    timings: [...(ctx.timings ?? []), ...r.timings],
    notes: [
      `Guarded inference (victim + every defender) runs at ${(100 * r.guardedThroughputRatio).toFixed(1)} % of the bare victim's throughput (same images, same run).`,
      ...(r.quantizedBits !== undefined ? [quantizedNote(r.quantizedBits)] : []),
      ...(ctx.notes ?? []),
    ],
  };
}

function quantizedNote(bits: number): string {
  return `Adversarial examples rounded to the ${bits}-bit pixel grid before scoring (as an attacker delivers them, e.g. saved as PNG); success, L2 and L∞ measured on the rounded images.`;
}

/** Mean L2 / L∞ of a table row's successful examples, pooled over its plans (weighted by their successes). */
function successMeans(plans: readonly { successes: number; meanL2: number; meanLinf: number }[]): { meanL2?: number; meanLinf?: number } {
  const n = plans.reduce((a, p) => a + p.successes, 0);
  if (n === 0) return {};
  return { meanL2: plans.reduce((a, p) => a + p.successes * p.meanL2, 0) / n, meanLinf: plans.reduce((a, p) => a + p.successes * p.meanLinf, 0) / n };
}

function nonEmpty<T>(a: T[]): T[] | undefined {
  return a.length ? a : undefined;
}

/** Charts of detection vs attack strength: sweep kind, title, x-axis title. */
const STRENGTH_CHARTS: readonly [string, string, string][] = [
  ['cw-confidence', 'Detection rate vs C&W L2 confidence κ', 'C&W confidence κ'],
  ['pgd-linf-eps', 'Detection rate vs PGD L∞ ε (random start, iterated to the end)', 'PGD ε (L∞)'],
  ['pgd-l2-eps', 'Detection rate vs PGD L2 ε', 'PGD ε (L2)'],
];

/**
 * Writes `results.json`, `table.md` and a self-contained `report.html` into `dir`, each atomically
 * (temp name + rename): a failure never leaves a half-written file.
 */
export async function writeEvaluationOutputs(dir: string, r: EvaluationResults, ctx: ReportContext): Promise<string[]> {
  await fs.mkdir(dir, { recursive: true });
  const data = reportData(r, ctx);
  const html = await renderReport(data);
  const table =
    renderTableMarkdown(data) + (r.quantizedBits !== undefined ? `\n${quantizedNote(r.quantizedBits)}\n` : '') + (r.security ? `\n${securityMarkdown(r.security)}` : '');
  const files = ['results.json', 'table.md', 'report.html'].map((f) => path.join(dir, f));
  await writeFileAtomic(files[0], JSON.stringify({ ...r, context: ctx }, null, 1));
  await writeFileAtomic(files[1], table);
  await writeFileAtomic(files[2], html);
  return files;
}
