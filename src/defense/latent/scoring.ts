import { ArgumentError, ShapeError, assert } from '../../errors.js';
import { tailPValue } from '../types.js';

/**
 * How a latent defender turns the class log-likelihoods ℓ_k = log p(φ | k) of a feature φ into a
 * score (higher = more adversarial), with ŷ the victim's predicted class:
 *
 * - `'likelihood'` (PCL as described; the default): s = −ℓ_ŷ, the negative log-density of the
 *   feature under the predicted class.
 * - `'ratio'`: s = −(ℓ_ŷ − log Σ_{k≠ŷ} exp ℓ_k), the negative log likelihood ratio of the predicted
 *   class against the equal-weight mixture of the other classes — the paper's risk view
 *   p(φ|W1)/p(φ|W2), made class-conditional. It flags features that are likely under ŷ but about as
 *   likely (or more) under another class, i.e. between classes, where minimal-perturbation attacks
 *   (C&W κ = 0, DeepFool) land; it misses features far from every class (large-ε FGSM).
 * - `'combined'`: flag when either is atypical. s = max(−log p_lik, −log p_ratio), where p_lik and
 *   p_ratio are the empirical p-values ({@link empiricalPValue}, extended past the largest clean score by {@link tailPValue}) of the likelihood and ratio scores
 *   among the clean training scores of class ŷ (for the training images themselves, in-sample).
 *
 * All three use densities of legitimate data only; nothing adversarial is fitted.
 */
export type LatentScoring = 'likelihood' | 'ratio' | 'combined';

export const LATENT_SCORINGS: readonly LatentScoring[] = Object.freeze(['likelihood', 'ratio', 'combined']);

/** Per-class sorted (ascending) clean training scores of the two components of `'combined'`. */
export interface ScoreComponents {
  likelihood: readonly Float32Array[];
  ratio: readonly Float32Array[];
}

function checkInputs(who: string, logLik: ArrayLike<number>, numClasses: number, classOf: ArrayLike<number>): void {
  const n = classOf.length;
  assert(logLik.length === n * numClasses, () => `${who}: logLik has ${logLik.length} values, expected n·K = ${n}·${numClasses}`, ShapeError);
  for (let s = 0; s < n; s++) {
    const c = classOf[s];
    if (!(Number.isInteger(c) && c >= 0 && c < numClasses)) throw new ArgumentError(`${who}: class ${c} of row ${s} is outside [0, ${numClasses})`);
  }
}

/**
 * `'likelihood'` or `'ratio'` scores from the log-likelihoods `logLik` ([n, K] row-major; see
 * `hddaLogLikAll`) of each row under every class, with `classOf` ([n]) the class each row is scored
 * under. Returns float64 [n]. The ratio needs K ≥ 2 (else `ArgumentError`).
 */
export function baseScores(logLik: ArrayLike<number>, numClasses: number, classOf: ArrayLike<number>, scoring: 'likelihood' | 'ratio'): Float64Array {
  assert(scoring === 'likelihood' || scoring === 'ratio', () => `baseScores: 'scoring' must be 'likelihood' or 'ratio', got '${String(scoring)}'`);
  checkInputs('baseScores', logLik, numClasses, classOf);
  const k = numClasses;
  if (scoring === 'ratio' && k < 2) throw new ArgumentError(`baseScores: scoring 'ratio' needs at least 2 classes, got ${k}`);
  const n = classOf.length;
  const out = new Float64Array(n);
  for (let s = 0; s < n; s++) {
    const c = classOf[s];
    const own = logLik[s * k + c];
    if (scoring === 'likelihood') {
      out[s] = -own;
      continue;
    }
    let m = -Infinity;
    for (let j = 0; j < k; j++) if (j !== c) m = Math.max(m, logLik[s * k + j]);
    if (m === -Infinity) {
      out[s] = Infinity;
      continue;
    }
    let acc = 0;
    for (let j = 0; j < k; j++) if (j !== c) acc += Math.exp(logLik[s * k + j] - m);
    out[s] = -(own - (m + Math.log(acc)));
  }
  return out;
}

/**
 * `'combined'` scores: max(−log p_lik, −log p_ratio) with the p-values of the rows' likelihood and
 * ratio scores among `components.{likelihood,ratio}[classOf[s]]` (`tailPValue`: beyond the largest
 * clean score the p-value keeps falling, so far-out samples stay ordered). Returns float64 [n], each ≥ 0.
 */
export function combinedScores(logLik: ArrayLike<number>, numClasses: number, classOf: ArrayLike<number>, components: ScoreComponents): Float64Array {
  assert(
    components.likelihood.length === numClasses && components.ratio.length === numClasses,
    () => `combinedScores: components need ${numClasses} classes each, got ${components.likelihood.length} and ${components.ratio.length}`,
    ShapeError,
  );
  const a = baseScores(logLik, numClasses, classOf, 'likelihood');
  const b = baseScores(logLik, numClasses, classOf, 'ratio');
  return Float64Array.from(a, (v, s) => {
    const c = classOf[s];
    return Math.max(-Math.log(tailPValue(components.likelihood[c], v)), -Math.log(tailPValue(components.ratio[c], b[s])));
  });
}

/** Scores of any {@link LatentScoring}; `'combined'` needs `components`. Returns float64 [n]. */
export function latentScores(
  logLik: ArrayLike<number>,
  numClasses: number,
  classOf: ArrayLike<number>,
  scoring: LatentScoring,
  components?: ScoreComponents,
): Float64Array {
  assert(LATENT_SCORINGS.includes(scoring), () => `latentScores: 'scoring' must be one of ${LATENT_SCORINGS.join(', ')}, got '${String(scoring)}'`);
  if (scoring !== 'combined') return baseScores(logLik, numClasses, classOf, scoring);
  if (!components) throw new ArgumentError("latentScores: scoring 'combined' needs the training score components");
  return combinedScores(logLik, numClasses, classOf, components);
}
