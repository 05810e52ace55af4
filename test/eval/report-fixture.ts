/**
 * A synthetic but complete `ReportData` built with the real evaluation functions from seeded Gaussian
 * scores (no models): shared by the report unit test and the headless-browser integration test.
 */
import {
  roc,
  auc,
  fprAtTprs,
  spSweep,
  spGrid,
  riskOperatingPoint,
  confusionMatrix,
  paperTable1,
  type ReportData,
  type AttackEvaluation,
  type RocChart,
  type RiskView,
  type RiskCosts,
} from '../../src/eval/index.js';
import { Rng } from '../../src/util/rng.js';

const DETECTORS: [string, number][] = [
  ['PCL latent', 2.6],
  ['PCL latent OR input', 2.4],
  ['PCL calibrated fusion', 3.0],
  ['Mahalanobis', 2.0],
  ['PCA-centre', 1.2],
];

/** Builds the fixture; `nClean`/`nAdv` control the size (and so the SVG sizes). */
export function syntheticReport(seed = 1, nClean = 400, nAdv = 300): ReportData {
  const rng = new Rng(seed);
  const gauss = (n: number, mu: number) => Float32Array.from({ length: n }, () => mu + rng.normal());
  const attacks: AttackEvaluation[] = [];
  const rocCharts: RocChart[] = [];
  const risk: RiskView[] = [];
  const costs: RiskCosts = { eta11: 0, eta12: 10, eta21: 1, eta22: 0 };
  for (const [attack, hardness] of [['FGSM', 0], ['C&W L2', 0.6]] as const) {
    const curves = DETECTORS.map(([detector, sep]) => {
      const c = gauss(nClean, 0);
      const a = gauss(nAdv, sep - hardness);
      return { detector, c, a, points: roc(c, a) };
    });
    const paper = paperTable1('mnist', attack);
    attacks.push({
      attack,
      params: attack === 'FGSM' ? 'ε = 0.1' : 'κ = 0',
      nClean,
      nAdv,
      successRate: 0.9,
      detectors: curves.map((k) => ({ detector: k.detector, auroc: auc(k.c, k.a), fprAt: fprAtTprs(k.c, k.a) })),
      paperFprAt: paper?.fprAt,
      paperNote: paper?.note,
    });
    const opt = riskOperatingPoint(curves[2].points, costs, 0.1);
    risk.push({ attack, detector: curves[2].detector, costs, pAttack: 0.1, lambda: opt.lambda, fpr: opt.point.fpr, tpr: opt.point.tpr, expectedCost: opt.expectedCost });
    rocCharts.push({
      title: `${attack}, MNIST`,
      curves: curves.map((k) => ({ label: k.detector, points: k.points })),
      markers: [{ label: 'risk-optimal (η12 = 10, P(W2) = 0.1)', fpr: opt.point.fpr, tpr: opt.point.tpr }],
    });
  }
  const ck = [1, 2, 3].map((m) => ({ label: `${m} checkpoint${m > 1 ? 's' : ''}`, points: roc(gauss(nClean, 0), gauss(nAdv, 1.5 + 0.5 * m)) }));
  const spLatentC = gauss(nClean, 0);
  const spLatentA = gauss(nAdv, 2.5);
  // a quantile-threshold rule on synthetic scores: threshold = (1 − sp) quantile of N(0,1) ≈ inverse by sorting the clean set
  const sortedC = Float32Array.from(spLatentC).sort();
  const ratesAt = (sp: number) => {
    const k = Math.floor((sp / 100) * sortedC.length);
    const t = k >= sortedC.length ? -Infinity : sortedC[sortedC.length - 1 - k];
    const rate = (s: Float32Array) => s.reduce((n, v) => n + (v > t ? 1 : 0), 0) / s.length;
    return { fp: rate(spLatentC), tp: rate(spLatentA) };
  };
  const eps = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5];
  const epsilonSeries = (['latent', 'input'] as const).flatMap((who) =>
    [0.1, 1, 5].map((sp) => ({
      label: `${who} @ SP ${sp} %`,
      points: eps.map((e) => ({ epsilon: e, detectionRate: Math.min(1, (who === 'latent' ? 0.6 : 0.2) + e * (1 + Math.log10(sp + 1))) })),
    })),
  );
  const n = 200;
  const y = Int32Array.from({ length: n }, () => rng.int(10));
  const pred = y.map((v) => (v + 1 + rng.int(9)) % 10);
  const flags = Uint8Array.from({ length: n }, () => (rng.next() < 0.85 ? 1 : 0));
  return {
    title: 'PCL evaluation (synthetic scores)',
    dataset: 'mnist',
    generatedAt: '2026-01-01T00:00:00Z',
    victim: { name: 'mnist-mlp 784-300-100-10', testAccuracy: 0.981, details: { parameters: 266610 } },
    settings: { 'SP (%)': 1, seed: seed, 'clean samples': nClean },
    attacks,
    rocCharts,
    checkpointRocCharts: [{ title: 'C&W L2, several checkpoints', curves: ck }],
    spCharts: [{ title: 'FGSM ε = 0.1, latent', series: [{ label: 'PCL latent', points: spSweep(ratesAt, spGrid(40)) }] }],
    epsilonCharts: [{ title: 'MNIST', series: epsilonSeries }],
    confusionCharts: [
      { title: 'FGSM at SP = 1 %', without: confusionMatrix(y, pred, 10), with: confusionMatrix(y, pred, 10, flags) },
    ],
    risk,
    timings: [
      { stage: 'victim inference', seconds: 1.25, items: 1000 },
      { stage: 'victim + defenders', seconds: 2.5, items: 1000, note: 'ratio 0.50 of bare victim throughput' },
    ],
    notes: ['Synthetic scores; every number is produced by the real evaluation functions.'],
  };
}
