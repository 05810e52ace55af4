import type { EvaluationResults } from '../../pipeline/evaluate.js';

/** The short JSON the CLI prints after an evaluation (the full numbers are in results.json). */
export function summarizeResults(out: string, r: EvaluationResults) {
  return {
    out,
    files: ['results.json', 'table.md', 'report.html'],
    victimAccuracy: r.victimAccuracy,
    guardedThroughputRatio: r.guardedThroughputRatio,
    attacks: Object.fromEntries(
      r.groups.map((g) => [
        g.group,
        {
          successRate: g.successRate,
          nAdv: g.nAdv,
          detectors: Object.fromEntries(g.detectors.map((d) => [d.detector, { auroc: d.auroc, fprAt90_95_98_99: d.fprAt }])),
        },
      ]),
    ),
  };
}
