/** Per-component, per-class thresholds of a latent defender, in the form the adaptive attack's hinge needs. */
import type { LatentDefender } from '../defense/latent/latent-defender.js';
import { negLogTailPValue, scoringNeedsComponents } from '../defense/latent/scoring.js';

/** A score component of a latent defender (see `LatentScoring`). */
export type LatentComponent = 'likelihood' | 'ratio' | 'disagreement';

/**
 * What a latent defender scores, as per-component, per-class thresholds: the defender flags a
 * sample of (victim-predicted) class k at SP iff some component j has s_j > `thresholds[j][k]`.
 * `scales[j][k]` is the clean tail scale β of that component (the slope of the defender's
 * −log p-value past its largest clean score), the unit the attack's hinge is measured in.
 */
export interface ComponentThresholds {
  components: LatentComponent[];
  /** [component][class]; ±1e30 stands for ±∞. */
  thresholds: Float32Array[];
  /** [component][class], > 0. */
  scales: Float32Array[];
}

export const BIG = 1e30;

/** Tail scale β of ascending clean scores, as `negLogTailPValue` computes it (floored at 1e-6). */
function tailScale(sorted: Float32Array): number {
  const n = sorted.length;
  if (n < 2) return 1;
  const m = Math.max(1, Math.min(n - 1, Math.floor(0.01 * n)));
  const u = sorted[n - 1 - m];
  let excess = 0;
  for (let i = n - m; i < n; i++) excess += sorted[i] - u;
  return Math.max(excess / m, 1e-6);
}

/** sup{s : negLogTailPValue(sorted, s) ≤ tau} (the function is non-decreasing in s), by bisection. */
function invertNegLogTail(sorted: Float32Array, tau: number): number {
  const n = sorted.length;
  if (n === 0 || tau === Infinity) return BIG;
  if (!(tau >= 0)) return -BIG; // every −log p is ≥ 0: nothing passes a negative threshold
  // the defender compares float32 scores with float32 thresholds: round as it does
  const f = (s: number) => Math.fround(negLogTailPValue(sorted, s));
  let lo = sorted[0] - 1;
  let step = Math.max(sorted[n - 1] - sorted[0], 1);
  let hi = sorted[n - 1] + step;
  while (f(hi) <= tau) {
    step *= 2;
    hi = sorted[n - 1] + step;
    if (!Number.isFinite(hi)) return BIG;
  }
  for (let i = 0; i < 200 && hi - lo > 1e-9 * Math.max(1, Math.abs(hi)); i++) {
    const mid = (lo + hi) / 2;
    if (f(mid) <= tau) lo = mid;
    else hi = mid;
  }
  return lo;
}

/**
 * Per-component, per-class thresholds of the fitted `defender` at security parameter `sp`, exact for
 * every scoring: for a single-component scoring the defender's own thresholds; for `'combined'` and
 * `'combined-disagreement'` (score = max_j −log p_j(s_j), threshold τ_k) the component score at which
 * that component's −log p-value reaches τ_k, so "flagged" ⇔ ∃j: s_j > t_jk.
 */
export function componentThresholds(defender: LatentDefender, sp: number): ComponentThresholds {
  const k = defender.numClasses;
  const tau = defender.thresholds(sp);
  const clamp = (v: number) => Math.max(-BIG, Math.min(BIG, v));
  const scoring = defender.params.scoring;
  if (!scoringNeedsComponents(scoring)) {
    const sorted = Array.from({ length: k }, (_, c) => defender.trainScores(c));
    return {
      components: [scoring as LatentComponent],
      thresholds: [Float32Array.from(tau, clamp)],
      scales: [Float32Array.from(sorted, tailScale)],
    };
  }
  const comps = defender.scoreComponents!;
  const components: LatentComponent[] = scoring === 'combined-disagreement' ? ['likelihood', 'ratio', 'disagreement'] : ['likelihood', 'ratio'];
  return {
    components,
    thresholds: components.map((j) => Float32Array.from({ length: k }, (_, c) => clamp(invertNegLogTail(comps[j]![c], tau[c])))),
    scales: components.map((j) => Float32Array.from({ length: k }, (_, c) => tailScale(comps[j]![c]))),
  };
}
