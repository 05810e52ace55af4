/**
 * The paper's risk view (PCL-METHOD §2): choose the operating point from misclassification costs and
 * the prior probability of an attack instead of a raw security parameter.
 *
 * Notation (Bayes decision theory, Duda & Hart): W1 = legitimate input, W2 = adversarial input;
 * η_ij = cost of **deciding W_i when the truth is W_j**. So η21 is the cost of a false alarm, η12 the
 * cost of a missed attack, η11 and η22 the costs of correct decisions (usually 0).
 *
 * Bayes-optimal test: declare the input legitimate iff
 *   p(φ | W1) / p(φ | W2)  >  λ = (η12 − η22)·P(W2) / ((η21 − η11)·P(W1)).
 *
 * On an empirical ROC (rates of *flagging*: FPR = P(flag | W1), TPR = P(flag | W2)) the expected cost
 * of an operating point is
 *   R = P(W1)·[(1 − FPR)·η11 + FPR·η21] + P(W2)·[TPR·η22 + (1 − TPR)·η12]
 *     = const + P(W1)·FPR·(η21 − η11) + P(W2)·(1 − TPR)·(η12 − η22),
 * so the best point minimises P(W1)·FPR·cost_fa + P(W2)·(1 − TPR)·cost_miss with
 * cost_fa = η21 − η11, cost_miss = η12 − η22. Lines of equal cost on the ROC have slope
 * dTPR/dFPR = 1/λ, and the optimum is where such a line touches the (convex hull of the) ROC.
 *
 * @see Rouhani et al. 2018, §2 (risk of a decision, Eq. for the likelihood-ratio test).
 */
import { assert } from '../errors.js';
import type { RatePoint } from './roc.js';

/** Misclassification costs; η_ij = cost of deciding W_i when the truth is W_j (W1 legit, W2 attack). */
export interface RiskCosts {
  /** Accept a legitimate input (correct). Usually 0. */
  eta11: number;
  /** Accept an adversarial input (missed attack). */
  eta12: number;
  /** Reject a legitimate input (false alarm). */
  eta21: number;
  /** Reject an adversarial input (correct). Usually 0. */
  eta22: number;
}

function checkRisk(who: string, costs: RiskCosts, pAttack: number): void {
  for (const k of ['eta11', 'eta12', 'eta21', 'eta22'] as const) {
    assert(Number.isFinite(costs?.[k]), () => `${who}: expected 'costs.${k}' to be a finite number, got ${String(costs?.[k])}`);
  }
  assert(
    costs.eta21 > costs.eta11,
    () => `${who}: a false alarm must cost more than accepting a legitimate input: expected eta21 > eta11, got ${costs.eta21} ≤ ${costs.eta11}`,
  );
  assert(
    costs.eta12 > costs.eta22,
    () => `${who}: a missed attack must cost more than rejecting it: expected eta12 > eta22, got ${costs.eta12} ≤ ${costs.eta22}`,
  );
  assert(
    typeof pAttack === 'number' && pAttack >= 0 && pAttack <= 1,
    () => `${who}: expected 'pAttack' (prior probability of an attack, P(W2)) in [0, 1], got ${String(pAttack)}`,
  );
}

/**
 * Likelihood-ratio threshold λ = (η12 − η22)·P(W2) / ((η21 − η11)·P(W1)): legitimate iff
 * p(φ|W1)/p(φ|W2) > λ. `Infinity` when P(W1) = 0, 0 when P(W2) = 0.
 *
 * @param pAttack prior probability of an attack P(W2) in [0, 1]; P(W1) = 1 − pAttack
 */
export function likelihoodRatioThreshold(costs: RiskCosts, pAttack: number): number {
  checkRisk('likelihoodRatioThreshold', costs, pAttack);
  const num = (costs.eta12 - costs.eta22) * pAttack;
  const den = (costs.eta21 - costs.eta11) * (1 - pAttack);
  return den === 0 ? Infinity : num / den;
}

/**
 * Full expected cost R of an operating point (see the module doc), including the constant part from
 * η11 and η22.
 */
export function expectedCost(point: RatePoint, costs: RiskCosts, pAttack: number): number {
  checkRisk('expectedCost', costs, pAttack);
  assert(point.fpr >= 0 && point.fpr <= 1 && point.tpr >= 0 && point.tpr <= 1, () => `expectedCost: expected rates in [0, 1], got fpr ${point.fpr}, tpr ${point.tpr}`);
  const p1 = 1 - pAttack;
  return (
    p1 * ((1 - point.fpr) * costs.eta11 + point.fpr * costs.eta21) +
    pAttack * (point.tpr * costs.eta22 + (1 - point.tpr) * costs.eta12)
  );
}

/** The risk-optimal operating point of a curve. */
export interface RiskOperatingPoint<P extends RatePoint> {
  /** The chosen point, as given (keeps its `threshold` or `sp`). */
  point: P;
  /** Its index in the input array. */
  index: number;
  /** Its full expected cost R. */
  expectedCost: number;
  /** λ, see {@link likelihoodRatioThreshold}. */
  lambda: number;
  /** Slope dTPR/dFPR of the iso-cost lines, 1/λ. */
  isoCostSlope: number;
}

/**
 * The point of an empirical ROC (or SP sweep) with the smallest expected cost. The trivial corners
 * are not added: pass them in if "flag nothing" / "flag everything" are allowed choices (`roc` includes
 * both). Ties go to the point with the smaller FPR, then the earlier index.
 *
 * @param points curve points (any order); extra fields (`threshold`, `sp`) are carried through
 * @param pAttack prior probability of an attack P(W2) in [0, 1]
 */
export function riskOperatingPoint<P extends RatePoint>(points: readonly P[], costs: RiskCosts, pAttack: number): RiskOperatingPoint<P> {
  checkRisk('riskOperatingPoint', costs, pAttack);
  assert(Array.isArray(points) && points.length > 0, () => `riskOperatingPoint: expected a non-empty array of ROC points, got ${points?.length}`);
  let best = -1;
  let bestCost = Infinity;
  points.forEach((p, k) => {
    const c = expectedCost(p, costs, pAttack);
    // relative 1e-12 absorbs float noise between mathematically equal costs
    const tol = 1e-12 * Math.max(1, Math.abs(bestCost));
    if (best < 0 || c < bestCost - tol || (Math.abs(c - bestCost) <= tol && p.fpr < points[best].fpr)) {
      best = k;
      bestCost = c;
    }
  });
  const lambda = likelihoodRatioThreshold(costs, pAttack);
  return { point: points[best], index: best, expectedCost: bestCost, lambda, isoCostSlope: 1 / lambda };
}
