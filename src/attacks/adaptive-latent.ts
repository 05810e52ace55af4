import * as tf from '@tensorflow/tfjs';
import { ArgumentError, NotFittedError } from '../errors.js';
import { PCLDetector } from '../defense/pcl.js';
import type { Detector, ScoreSurrogate } from '../defense/types.js';
import { carliniWagnerL2Core, type CwExtraLoss } from './carlini-wagner-l2.js';
import { checkInputs, checkInt, checkRange, measure } from './common.js';
import type { Attack, AttackModel, AttackResult, Labels, RunOptions } from './types.js';

export { componentThresholds, type ComponentThresholds, type LatentComponent } from '../defense/latent/surrogate.js';

/** Hyperparameters of {@link AdaptiveLatentAttack}. */
export interface AdaptiveLatentParams {
  /** λ, weight of the defender term relative to the misclassification term (0 = plain C&W L2). Default 1. */
  lambda: number;
  /** Security parameter (percent) whose thresholds the defender term aims under. Default 1. */
  sp: number;
  /** How far below each threshold to aim, in units of the component's clean tail scale β. Default 1. */
  margin: number;
  /** Confidence κ of the misclassification term (as C&W). Default 0. */
  confidence: number;
  /** Binary-search steps over c. Default 6. */
  binarySteps: number;
  /** Adam iterations per binary-search step. Default 200. */
  iterations: number;
  /** Adam learning rate. Default 0.1. */
  lr: number;
  /** Initial c of every row. Default 1e-2. */
  initialConst: number;
  /** Stop a binary-search step when the loss has not fallen by 0.01 % over the last iterations/10 iterations. Default true. */
  abortEarly: boolean;
}

/** Default hyperparameters of {@link AdaptiveLatentAttack} (a short C&W schedule, as bench/attacks' cw-fast). */
export const ADAPTIVE_LATENT_DEFAULTS: Readonly<AdaptiveLatentParams> = Object.freeze({
  lambda: 1,
  sp: 1,
  margin: 1,
  confidence: 0,
  binarySteps: 6,
  iterations: 200,
  lr: 0.1,
  initialConst: 1e-2,
  abortEarly: true,
});

/**
 * What the attack is aimed at: one fitted detector, several, or a fitted PCLDetector. Every detector
 * that publishes a differentiable `surrogate` (the latent defenders; any other that implements it)
 * goes into the loss; the others are listed in `ignoredDefenders`.
 */
export type AdaptiveTarget = Detector | readonly Detector[] | PCLDetector;

/**
 * Adaptive white-box Carlini–Wagner L2 against the victim **and** every latent defender at once
 * (PCL-METHOD.md §7). Minimises, over x' = tanh(w)·(hi−lo)/2 + (hi+lo)/2 with Adam,
 *
 *   ‖x' − x‖₂² + c · [ max(z_y − z_ĉ + κ, 0) + λ · Σ_defenders Σ_j max((s_j(x', ĉ) − t_j(ĉ)) / β_j(ĉ) + margin, 0) ]
 *
 * with ĉ the class the victim predicts for x' once fooled (the best class other than y; the target
 * when `targets` are given), s_j the differentiable surrogates of each component the defender scores
 * as each defender publishes them (`Detector.surrogate`: for a latent defender with
 * `'combined-disagreement'`, −log p(φ|ĉ) by a tfjs twin of `hddaLogLikAll`, the negative log
 * likelihood ratio against the other classes, and the replica's −log p_replica(ĉ|x')), t_j their
 * exact per-class thresholds at `sp` and β_j their clean tail scales. The attack reads nothing else
 * of a defender.
 * c is binary-searched per row (×10 until the first success, then bisection; a long search ends at
 * each row's upper bound, as plain C&W: both run the one loop {@link carliniWagnerL2Core}, this attack
 * plugging its defender term in as the extra loss). With λ > 0 a row's
 * success (for the search and for keeping the best point) means fooled AND under every latent
 * threshold; among those the smallest L2 is kept, else the fooled point closest to evading. With
 * λ = 0 it is plain C&W L2 (the defenders are not even evaluated).
 *
 * The input defender (sparse coding / PSNR, OMP) is not differentiable and is left out of the loss;
 * measure whether it catches the examples with the detector itself ({@link adaptiveAttack}).
 * `success` in the result is the victim's verdict only (fresh forward pass), as for every attack.
 *
 * @see Carlini & Wagner, "Adversarial examples are not easily detected: bypassing ten detection methods", AISec 2017.
 */
export class AdaptiveLatentAttack implements Attack<AdaptiveLatentParams> {
  readonly name = 'adaptive-cw';
  readonly norm = 'l2' as const;
  readonly targeted = false;
  readonly params: Readonly<AdaptiveLatentParams>;
  /** The defenders in the loss: those of the target that publish a differentiable `surrogate`. */
  readonly defenders: readonly Detector[];
  /** Labels of the target's defenders left out of the loss (no surrogate, e.g. the input defender without BPDA). */
  readonly ignoredDefenders: readonly string[];

  constructor(target: AdaptiveTarget, params: Partial<AdaptiveLatentParams> = {}) {
    for (const key of Object.keys(params)) {
      if (!(key in ADAPTIVE_LATENT_DEFAULTS)) {
        throw new ArgumentError(`AdaptiveLatentAttack: unknown parameter '${key}'; expected one of ${Object.keys(ADAPTIVE_LATENT_DEFAULTS).join(', ')}`);
      }
    }
    const p = { ...ADAPTIVE_LATENT_DEFAULTS, ...params };
    checkRange('AdaptiveLatentAttack', 'lambda', p.lambda, 0, Infinity);
    checkRange('AdaptiveLatentAttack', 'sp', p.sp, 0, 99.999);
    checkRange('AdaptiveLatentAttack', 'margin', p.margin, 0, Infinity);
    checkRange('AdaptiveLatentAttack', 'confidence', p.confidence, 0, Infinity);
    checkInt('AdaptiveLatentAttack', 'binarySteps', p.binarySteps, 1);
    checkInt('AdaptiveLatentAttack', 'iterations', p.iterations, 1);
    checkRange('AdaptiveLatentAttack', 'lr', p.lr, Number.MIN_VALUE, Infinity);
    checkRange('AdaptiveLatentAttack', 'initialConst', p.initialConst, Number.MIN_VALUE, Infinity);
    this.params = Object.freeze(p);
    let all: readonly Detector[];
    if (target instanceof PCLDetector) all = target.defenders;
    else if (Array.isArray(target)) all = target as readonly Detector[];
    else if (target && typeof (target as Detector).score === 'function') all = [target as Detector];
    else throw new ArgumentError('AdaptiveLatentAttack: target must be a Detector (e.g. a LatentDefender), an array of them or a PCLDetector');
    this.defenders = all.filter(hasSurrogate);
    this.ignoredDefenders = all.filter((d) => !hasSurrogate(d)).map((d) => d.label ?? String(d));
    if (target instanceof PCLDetector ? !target.isFitted : this.defenders.some((d) => !d.isFitted)) {
      throw new NotFittedError('AdaptiveLatentAttack: the target detector is not fitted; fit or load it first');
    }
    if (p.lambda > 0 && this.defenders.length === 0) {
      throw new ArgumentError(`AdaptiveLatentAttack: lambda = ${p.lambda} > 0 needs at least one LatentDefender (or another defender with a differentiable surrogate) in the target, found none`);
    }
  }

  /**
   * See `Attack.run`. `opts.targets` makes the call targeted (success = classified as the target;
   * the defender term is evaluated at the target). `adversarial` [n,h,w,c] is owned by the caller.
   */
  async run(model: AttackModel, x: tf.Tensor4D, labels: Labels, opts: RunOptions = {}): Promise<AttackResult> {
    const who = 'AdaptiveLatentAttack';
    const y = await checkInputs(who, model, x, labels);
    const n = y.length;
    const k = model.numClasses;
    for (const d of this.defenders) {
      if (d.numClasses !== k) throw new ArgumentError(`${who}: defender '${d.label}' has ${d.numClasses} classes, the model has ${k}`);
    }
    let tgt: Int32Array | undefined;
    if (opts.targets) {
      tgt = Int32Array.from(opts.targets);
      if (tgt.length !== n) throw new ArgumentError(`${who}: expected ${n} targets (one per row of x), got ${tgt.length}`);
      for (let i = 0; i < n; i++) {
        if (!(Number.isInteger(tgt[i]) && tgt[i] >= 0 && tgt[i] < k && tgt[i] !== y[i])) {
          throw new ArgumentError(`${who}: targets[${i}] must be a class in [0, ${k}) other than the label ${y[i]}, got ${tgt[i]}`);
        }
      }
    }
    const { lambda, margin, sp } = this.params;
    const surrogates: ScoreSurrogate[] = lambda > 0 ? this.defenders.map((d) => d.surrogate!({ sp })) : [];
    // the defender term: λ · Σ_defenders Σ_j max(excess_j + margin, 0); violation = the largest excess
    const extraLoss: CwExtraLoss | undefined =
      surrogates.length > 0
        ? (im, ohC) => {
            const excess = tf.concat(surrogates.map((s) => s.excess(im, ohC)), 1);
            return {
              penalty: tf.mul(tf.sum(tf.relu(tf.add(excess, margin)), 1), lambda) as tf.Tensor1D,
              violation: tf.max(excess, 1) as tf.Tensor1D,
            };
          }
        : undefined;
    try {
      const { adversarial, iterations } = await carliniWagnerL2Core(model, x, y, this.params, {
        targets: tgt,
        extraLoss,
        onProgress: opts.onProgress,
      });
      try {
        const m = await measure(model, x, adversarial, y, tgt);
        return { adversarial, labels: y, iterations, ...(tgt ? { targets: tgt } : {}), ...m };
      } catch (e) {
        adversarial.dispose();
        throw e;
      }
    } finally {
      for (const s of surrogates) s.dispose();
    }
  }
}

function hasSurrogate(d: Detector): boolean {
  return typeof d.surrogate === 'function';
}
