import { ArgumentError, ShapeError, assert } from '../../errors.js';
import { negLogTailPValue } from '../types.js';

export { negLogTailPValue };
import { sortedPerClass } from './common.js';
import { hddaLogLikAll, hddaLogLikBatch, type HddaClass } from './hdda.js';

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
 * - `'disagreement'`: s = −log p_replica(ŷ | x), the fine-tuned replica's probability of the class
 *   the *victim* predicted ({@link disagreementScores}). Clean inputs sit well inside a class, where the
 *   replica (fine-tuned away from the victim) agrees with it; minimal-perturbation examples (C&W,
 *   DeepFool, JSMA) sit just across the victim's boundary, where the replica often does not follow
 *   (bench/results/cifar-latent.md: on CIFAR-10 it disagrees on 5 % of clean test images but on 39 / 56 % of
 *   JSMA / DeepFool examples). Weak on large-ε FGSM (far from every class, both models agree).
 * - `'combined-disagreement'`: `'combined'` with the disagreement as a third component,
 *   s = max(−log p_lik, −log p_ratio, −log p_dis) (flag when any of the three is atypical).
 *
 * All of them use legitimate data only (the densities, the replica and the p-values); nothing
 * adversarial is fitted.
 */
export type LatentScoring = 'likelihood' | 'ratio' | 'combined' | 'disagreement' | 'combined-disagreement';

export const LATENT_SCORINGS: readonly LatentScoring[] = Object.freeze(['likelihood', 'ratio', 'combined', 'disagreement', 'combined-disagreement']);

/** Whether `scoring` needs per-class training score components (`'combined'`, `'combined-disagreement'`). */
export function scoringNeedsComponents(scoring: LatentScoring): boolean {
  return scoring === 'combined' || scoring === 'combined-disagreement';
}

/** Whether `scoring` reads the replica's class probabilities (`'disagreement'`, `'combined-disagreement'`). */
export function scoringUsesReplicaOutput(scoring: LatentScoring): boolean {
  return scoring === 'disagreement' || scoring === 'combined-disagreement';
}

/**
 * Per-class sorted (ascending) clean training scores of the components of `'combined'`
 * (`likelihood`, `ratio`) and `'combined-disagreement'` (also `disagreement`).
 */
export interface ScoreComponents {
  likelihood: readonly Float32Array[];
  ratio: readonly Float32Array[];
  disagreement?: readonly Float32Array[];
}


/**
 * `'disagreement'` scores −log p_replica(classOf[s] | x_s) from the replica's log-probabilities
 * `logProbs` ([n, K] row-major, log-softmax of its output) with `classOf` the class each row is scored
 * under (the victim's prediction). Returns float64 [n], each ≥ 0 up to rounding.
 */
export function disagreementScores(logProbs: ArrayLike<number>, numClasses: number, classOf: ArrayLike<number>): Float64Array {
  checkInputs('disagreementScores', logProbs, numClasses, classOf, 'logProbs');
  return Float64Array.from({ length: classOf.length }, (_, s) => {
    const v = -logProbs[s * numClasses + classOf[s]];
    return Number.isNaN(v) ? Infinity : v;
  });
}

function checkInputs(who: string, logLik: ArrayLike<number>, numClasses: number, classOf: ArrayLike<number>, name = 'logLik'): void {
  const n = classOf.length;
  assert(logLik.length === n * numClasses, () => `${who}: ${name} has ${logLik.length} values, expected n·K = ${n}·${numClasses}`, ShapeError);
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
 * clean score the p-value keeps falling, so far-out samples stay ordered; computed as
 * {@link negLogTailPValue}, so always finite). When `components.disagreement` is given, the
 * `'combined-disagreement'` score: the disagreement p-value among `components.disagreement[classOf[s]]`
 * joins the max, and `logProbs` (the replica's log-probabilities, [n, K]) is required.
 * Returns float64 [n], each ≥ 0.
 */
export function combinedScores(
  logLik: ArrayLike<number>,
  numClasses: number,
  classOf: ArrayLike<number>,
  components: ScoreComponents,
  logProbs?: ArrayLike<number>,
): Float64Array {
  const dis = components.disagreement;
  assert(
    components.likelihood.length === numClasses && components.ratio.length === numClasses && (dis === undefined || dis.length === numClasses),
    () =>
      `combinedScores: components need ${numClasses} classes each, got ${components.likelihood.length} and ${components.ratio.length}` +
      (dis ? ` and ${dis.length}` : ''),
    ShapeError,
  );
  if (dis && logProbs === undefined) throw new ArgumentError('combinedScores: the disagreement component needs the replica log-probabilities');
  const a = baseScores(logLik, numClasses, classOf, 'likelihood');
  const b = baseScores(logLik, numClasses, classOf, 'ratio');
  const d = dis ? disagreementScores(logProbs!, numClasses, classOf) : undefined;
  return Float64Array.from(a, (v, s) => {
    const c = classOf[s];
    const m = Math.max(negLogTailPValue(components.likelihood[c], v), negLogTailPValue(components.ratio[c], b[s]));
    return d ? Math.max(m, negLogTailPValue(dis![c], d[s])) : m;
  });
}

/**
 * Scores of any {@link LatentScoring}. `'combined'` and `'combined-disagreement'` need `components`
 * (the latter with `components.disagreement`); `'disagreement'` and `'combined-disagreement'` need
 * `logProbs`, the replica's log-probabilities [n, K]. Returns float64 [n].
 */
export function latentScores(
  logLik: ArrayLike<number>,
  numClasses: number,
  classOf: ArrayLike<number>,
  scoring: LatentScoring,
  components?: ScoreComponents,
  logProbs?: ArrayLike<number>,
): Float64Array {
  assert(LATENT_SCORINGS.includes(scoring), () => `latentScores: 'scoring' must be one of ${LATENT_SCORINGS.join(', ')}, got '${String(scoring)}'`);
  if (scoring === 'likelihood' || scoring === 'ratio') return baseScores(logLik, numClasses, classOf, scoring);
  if (scoringUsesReplicaOutput(scoring) && logProbs === undefined) {
    throw new ArgumentError(`latentScores: scoring '${scoring}' needs the replica's log-probabilities`);
  }
  if (scoring === 'disagreement') return disagreementScores(logProbs!, numClasses, classOf);
  if (!components) throw new ArgumentError(`latentScores: scoring '${scoring}' needs the training score components`);
  if (scoring === 'combined') return combinedScores(logLik, numClasses, classOf, { likelihood: components.likelihood, ratio: components.ratio });
  if (!components.disagreement) throw new ArgumentError("latentScores: scoring 'combined-disagreement' needs the disagreement training score component");
  return combinedScores(logLik, numClasses, classOf, components, logProbs);
}

/**
 * Scores of features under a fitted latent model: `phi` [n·p] row-major normalised checkpoint
 * features, `logProbs` [n·K] the replica's log-probabilities (needed by the disagreement scorings),
 * `classOf` [n] the class each row is scored under (the victim's prediction). Returns float32 [n].
 */
export function scoreFeatures(
  hdda: readonly HddaClass[],
  phi: Float32Array,
  logProbs: Float32Array | undefined,
  classOf: ArrayLike<number>,
  numClasses: number,
  scoring: LatentScoring,
  components?: ScoreComponents,
): Float32Array {
  if (scoring === 'likelihood') return Float32Array.from(hddaLogLikBatch(hdda as HddaClass[], phi, classOf), (v) => -v);
  if (scoring === 'disagreement') return Float32Array.from(disagreementScores(logProbs!, numClasses, classOf));
  return Float32Array.from(latentScores(hddaLogLikAll(hdda as HddaClass[], phi), numClasses, classOf, scoring, components, logProbs));
}

/**
 * The clean training scores a latent defender keeps: per class, sorted ascending, of the training
 * samples the victim classifies correctly (`correct[s] = 1`), scored under their true label `yTrue`;
 * for the combined scorings also the sorted scores of each component (the p-values' reference).
 */
export function trainingScores(
  hdda: readonly HddaClass[],
  phi: Float32Array,
  logProbs: Float32Array | undefined,
  yTrue: Int32Array,
  correct: ArrayLike<number>,
  numClasses: number,
  scoring: LatentScoring,
): { perClass: Float32Array[]; components?: ScoreComponents } {
  const k = numClasses;
  let scores: ArrayLike<number>;
  let components: ScoreComponents | undefined;
  if (scoring === 'likelihood' || scoring === 'disagreement') {
    scores = scoreFeatures(hdda, phi, logProbs, yTrue, k, scoring);
  } else {
    const ll = hddaLogLikAll(hdda as HddaClass[], phi);
    if (scoringNeedsComponents(scoring)) {
      components = {
        likelihood: sortedPerClass(baseScores(ll, k, yTrue, 'likelihood'), yTrue, k, correct),
        ratio: sortedPerClass(baseScores(ll, k, yTrue, 'ratio'), yTrue, k, correct),
        ...(scoring === 'combined-disagreement' ? { disagreement: sortedPerClass(disagreementScores(logProbs!, k, yTrue), yTrue, k, correct) } : {}),
      };
    }
    scores = latentScores(ll, k, yTrue, scoring, components, logProbs);
  }
  return { perClass: sortedPerClass(scores, yTrue, k, correct), components };
}
