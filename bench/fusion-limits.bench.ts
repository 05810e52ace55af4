/**
 * What no fixed fusion rule can do: synthetic defenders with N(0, 1) clean scores, adversarial scores
 * shifted per defender (0 = the defender is blind to the attack). Every rule is a calibrated fusion
 * (threshold on 20,000 held-out clean samples); FP % at 90 % detection on 20,000 clean / 20,000 adversarial.
 *
 *   npx tsx bench/fusion-limits.bench.ts
 */
import { calibratedFusionScores, fitCalibratedFusion, type DefenderScores, type FusionMethod, type PValueCalibration } from '../src/defense/fusion/index.js';
import { fprAtTpr } from '../src/eval/roc.js';
import { Rng } from '../src/util/rng.js';

const N = 20000;
const scenarios = [[2.5, 0.3], [2.5, 0], [1.5, 1.5], [2.5, 0, 0], [2, 2, 0], [3, 1, 0]];
const methods: FusionMethod[] = ['fisher', 'omnibus', 'sidak'];
const rng = new Rng(3);
console.log('| adversarial shift per defender | each defender alone | Fisher | omnibus | min-p (Šidák ≈ paper\'s OR) |');
console.log('|---|---|---|---|---|');
for (const shifts of scenarios) {
  const calibrations: PValueCalibration[] = shifts.map(() => ({ sortedScores: [Float32Array.from({ length: 5000 }, () => rng.normal()).sort()] }));
  const sample = (mu: number[]): DefenderScores => ({ scores: mu.map((m) => Float32Array.from({ length: N }, () => m + rng.normal())) });
  const heldout = sample(shifts.map(() => 0));
  const clean = sample(shifts.map(() => 0));
  const adv = sample(shifts);
  const single = shifts.map((_, d) => (100 * fprAtTpr(clean.scores[d], adv.scores[d], 0.9)).toFixed(1));
  const fused = methods.map((m) => {
    const model = fitCalibratedFusion(calibrations, heldout, m);
    return (100 * fprAtTpr(calibratedFusionScores(model, clean), calibratedFusionScores(model, adv), 0.9)).toFixed(1);
  });
  console.log(`| ${shifts.join(' / ')} | ${single.join(' / ')} | ${fused.join(' | ')} |`);
}
