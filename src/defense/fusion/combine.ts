/**
 * Combining several defenders' p-values into one statistic: min-p with Šidák's correction, Fisher's
 * method, or the omnibus of Fisher over every subset; optionally weighted (the paper's mixing coefficients).
 *
 * @see R. A. Fisher, Statistical Methods for Research Workers (1925), §21.1; Z. Šidák, JASA 62 (1967).
 */
import { ArgumentError, ShapeError, assert } from '../../errors.js';
import type { ScoreArray } from '../../util/scores.js';

/**
 * Ways to combine p-values into one: min-p with Šidák's correction, Fisher's method, or the omnibus
 * of Fisher's method over every non-empty subset of defenders (see {@link logCombinedPValues}).
 */
export type FusionMethod = 'sidak' | 'fisher' | 'omnibus';

export const FUSION_METHODS: readonly FusionMethod[] = Object.freeze(['sidak', 'fisher', 'omnibus']);
const METHODS = FUSION_METHODS;

/** Most defenders the omnibus combines (it visits all 2^m − 1 subsets). */
export const OMNIBUS_MAX_DEFENDERS = 10;

/** ln of 1 − (1 − p)^m, accurate for tiny p. */
function logSidak(p: number, m: number): number {
  return Math.log(-Math.expm1(m * Math.log1p(-p)));
}

/** ln P(χ²_{2m} ≥ 2h) = −h + ln Σ_{k<m} h^k / k!  (closed form for even degrees of freedom). */
function logChi2SfEven(h: number, m: number): number {
  let acc = 0; // ln Σ via running log-sum-exp
  let logTerm = 0; // ln(h^k / k!) for k = 0
  for (let k = 1; k < m; k++) {
    logTerm += Math.log(h) - Math.log(k);
    const hi = Math.max(acc, logTerm);
    acc = hi + Math.log(Math.exp(acc - hi) + Math.exp(logTerm - hi));
  }
  return -h + acc;
}

function checkPValues(who: string, pvals: readonly ScoreArray[]): number {
  assert(Array.isArray(pvals) && pvals.length > 0, () => `${who}: expected 'pvals' to hold at least one defender's p-values, got ${pvals?.length}`, ShapeError);
  const n = pvals[0].length;
  pvals.forEach((p, d) => {
    assert(p.length === n, () => `${who}: expected 'pvals[${d}]' to have length ${n}, got ${p.length}`, ShapeError);
    for (let i = 0; i < n; i++) {
      if (!(p[i] > 0 && p[i] <= 1)) throw new ArgumentError(`${who}: expected 'pvals[${d}][${i}]' in (0, 1], got ${p[i]}`);
    }
  });
  return n;
}

/**
 * Natural log of the combined p-value of each sample.
 * - `'sidak'`: ln(1 − (1 − min_d p_d)^m)
 * - `'fisher'`: ln P(χ²_{2m} ≥ −2 Σ_d ln p_d)
 * - `'omnibus'`: min over every non-empty subset S of the defenders of ln P(χ²_{2|S|} ≥ −2 Σ_{d∈S} ln p_d).
 *   Fisher's method pools all defenders and is diluted when only some of them see an attack (a
 *   defender that is uninformative against it adds noise); the omnibus takes the subset with the
 *   strongest evidence. It sits between Fisher and min-p: better than Fisher when most defenders
 *   are blind to an attack, worse when all of them see it (bench/results/eval.md). No fixed rule
 *   avoids both costs: without knowing which defenders an attack affects, an uninformative defender
 *   always adds false alarms. The minimum is not a p-value itself (anti-conservative by the number
 *   of subsets); calibrated fusion fixes its threshold on held-out clean data, which makes the
 *   combined false-alarm rate exact anyway. At most {@link OMNIBUS_MAX_DEFENDERS} defenders.
 *
 * Computed in log space, so it neither underflows nor loses precision for tiny p-values.
 * @param pvals one array of shape [n] per defender, entries in (0, 1]
 * @returns shape [n], entries ≤ 0
 */
export function logCombinedPValues(pvals: readonly ScoreArray[], method: FusionMethod): Float64Array {
  assert(METHODS.includes(method), () => `combinePValues: expected 'method' to be one of ${METHODS.join(', ')}, got ${String(method)}`);
  const n = checkPValues('combinePValues', pvals);
  if (method === 'sidak') {
    // from the p-values themselves (exp(−(−ln p)) would not give p back bit for bit)
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let minP = 1;
      for (let d = 0; d < pvals.length; d++) minP = Math.min(minP, pvals[d][i]);
      out[i] = logSidak(minP, pvals.length);
    }
    return out;
  }
  return logCombinedFromEvidence(pvals.map((p) => Float64Array.from(p, (v) => -Math.log(v))), method);
}

/**
 * {@link logCombinedPValues} from the evidence e_d = −ln p_d ≥ 0 of each defender instead of the
 * p-values, so p-values far below the smallest double (an image far past every clean score, see
 * `negLogPValueMatrix`) keep their order instead of underflowing to 0.
 */
export function logCombinedFromEvidence(evidence: readonly Float64Array[], method: FusionMethod): Float64Array {
  const m = evidence.length;
  const n = evidence[0]?.length ?? 0;
  const out = new Float64Array(n);
  if (method === 'omnibus') {
    assert(m <= OMNIBUS_MAX_DEFENDERS, () => `combinePValues: 'omnibus' combines at most ${OMNIBUS_MAX_DEFENDERS} defenders, got ${m}`, ArgumentError);
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let mask = 1; mask < 1 << m; mask++) {
        let h = 0;
        let size = 0;
        for (let d = 0; d < m; d++) {
          if (mask & (1 << d)) {
            h += evidence[d][i];
            size++;
          }
        }
        best = Math.min(best, logChi2SfEven(h, size));
      }
      out[i] = best;
    }
    return out;
  }
  for (let i = 0; i < n; i++) {
    if (method === 'sidak') {
      let maxE = 0;
      for (let d = 0; d < m; d++) maxE = Math.max(maxE, evidence[d][i]);
      // 1 − (1 − p)^m = m·p·(1 + O(m·p)): exact to double precision once p < e^−30
      out[i] = maxE > 30 ? Math.log(m) - maxE : logSidak(Math.exp(-maxE), m);
    } else {
      let h = 0;
      for (let d = 0; d < m; d++) h += evidence[d][i];
      out[i] = logChi2SfEven(h, m);
    }
  }
  return out;
}

/** Combined p-value of each sample, see {@link logCombinedPValues}. @returns shape [n], in (0, 1] */
export function combinePValues(pvals: readonly ScoreArray[], method: FusionMethod): Float64Array {
  return logCombinedPValues(pvals, method).map(Math.exp);
}

/**
 * Fused anomaly score, higher = more adversarial, ≥ 0.
 * - Unweighted: −ln(combined p-value) of {@link logCombinedPValues}.
 * - With `weights` w_d ≥ 0 (the paper's "mixing coefficients", Fig. 10): `'fisher'` → Σ_d w_d·(−ln p_d),
 *   `'sidak'` → max_d w_d·(−ln p_d). These are scores, not p-values; with all weights 1 they rank
 *   samples exactly as the unweighted rules (both transforms are monotone). A weight of 0 drops a defender.
 *
 * @param pvals one array of shape [n] per defender
 * @param weights optional, one per defender
 */
export function fusedScores(pvals: readonly ScoreArray[], method: FusionMethod, weights?: readonly number[]): Float64Array {
  if (weights === undefined) return logCombinedPValues(pvals, method).map((v) => -v);
  assert(METHODS.includes(method), () => `fusedScores: expected 'method' to be one of ${METHODS.join(', ')}, got ${String(method)}`);
  assert(method !== 'omnibus', () => `fusedScores: mixing weights apply to 'fisher' and 'sidak' only, not 'omnibus'`, ArgumentError);
  const n = checkPValues('fusedScores', pvals);
  checkWeights('fusedScores', weights, pvals.length);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let acc = 0;
    for (let d = 0; d < pvals.length; d++) {
      const e = weights[d] === 0 ? 0 : -weights[d] * Math.log(pvals[d][i]);
      acc = method === 'fisher' ? acc + e : Math.max(acc, e);
    }
    out[i] = acc;
  }
  return out;
}

function checkWeights(who: string, weights: readonly number[], m: number): void {
  assert(Array.isArray(weights) && weights.length === m, () => `${who}: expected one weight per defender (${m}), got ${weights?.length}`, ShapeError);
  weights.forEach((w, d) => assert(Number.isFinite(w) && w >= 0, () => `${who}: expected 'weights[${d}]' to be a finite number ≥ 0, got ${w}`));
  assert(weights.some((w) => w > 0), () => `${who}: expected at least one positive weight, got [${weights.join(', ')}]`);
}


/**
 * {@link fusedScores} from the evidence e_d = −ln p_d of each defender (see {@link logCombinedFromEvidence}):
 * unweighted −ln(combined p-value); weighted Σ_d w_d·e_d ('fisher') or max_d w_d·e_d ('sidak').
 */
export function fusedScoresFromEvidence(evidence: readonly Float64Array[], method: FusionMethod, weights?: readonly number[]): Float64Array {
  assert(METHODS.includes(method), () => `fusedScores: expected 'method' to be one of ${METHODS.join(', ')}, got ${String(method)}`);
  if (weights === undefined) return logCombinedFromEvidence(evidence, method).map((v) => -v);
  assert(method !== 'omnibus', () => `fusedScores: mixing weights apply to 'fisher' and 'sidak' only, not 'omnibus'`, ArgumentError);
  checkWeights('fusedScores', weights, evidence.length);
  const n = evidence[0]?.length ?? 0;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let acc = 0;
    for (let d = 0; d < evidence.length; d++) {
      const e = weights[d] === 0 ? 0 : weights[d] * evidence[d][i];
      acc = method === 'fisher' ? acc + e : Math.max(acc, e);
    }
    out[i] = acc;
  }
  return out;
}
