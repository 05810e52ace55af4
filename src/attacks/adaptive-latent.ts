import * as tf from '@tensorflow/tfjs';
import { ArgumentError, NotFittedError } from '../errors.js';
import { LatentDefender } from '../defense/latent/latent-defender.js';
import { PCLDetector } from '../defense/pcl.js';
import { defenderExcess, disposeTarget, prepareTarget } from './adaptive-loss.js';
import { tanhBox, updateTradeOffConstants } from './carlini-wagner-l2.js';
import { checkInputs, checkInt, checkRange, measure } from './common.js';
import type { Attack, AttackModel, AttackResult, Labels, RunOptions } from './types.js';

export { componentThresholds, type ComponentThresholds, type LatentComponent } from './adaptive-thresholds.js';

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

/** What the attack was aimed at: one fitted LatentDefender, several, or a fitted PCLDetector. */
export type AdaptiveTarget = LatentDefender | readonly LatentDefender[] | PCLDetector;

/**
 * Adaptive white-box Carlini–Wagner L2 against the victim **and** every latent defender at once
 * (PCL-METHOD.md §7). Minimises, over x' = tanh(w)·(hi−lo)/2 + (hi+lo)/2 with Adam,
 *
 *   ‖x' − x‖₂² + c · [ max(z_y − z_ĉ + κ, 0) + λ · Σ_defenders Σ_j max((s_j(x', ĉ) − t_j(ĉ)) / β_j(ĉ) + margin, 0) ]
 *
 * with ĉ the class the victim predicts for x' once fooled (the best class other than y; the target
 * when `targets` are given), s_j the differentiable surrogates of each component the defender scores
 * (`'combined-disagreement'`: −log p(φ|ĉ) by a tfjs twin of `hddaLogLikAll`, the negative log
 * likelihood ratio against the other classes, and the replica's −log p_replica(ĉ|x')), t_j their
 * exact per-class thresholds at `sp` ({@link componentThresholds}) and β_j their clean tail scales.
 * c is binary-searched per row (×10 until the first success, then bisection). With λ > 0 a row's
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
  /** The latent defenders in the loss. */
  readonly defenders: readonly LatentDefender[];
  /** Labels of the target's defenders left out of the loss (not differentiable: the input defender). */
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
    let all: readonly unknown[];
    if (target instanceof PCLDetector) all = target.defenders;
    else if (target instanceof LatentDefender) all = [target];
    else if (Array.isArray(target)) all = target;
    else throw new ArgumentError('AdaptiveLatentAttack: target must be a LatentDefender, an array of them or a PCLDetector');
    this.defenders = all.filter((d): d is LatentDefender => d instanceof LatentDefender);
    this.ignoredDefenders = all.filter((d) => !(d instanceof LatentDefender)).map((d) => (d as { label?: string }).label ?? String(d));
    if (target instanceof PCLDetector ? !target.isFitted : this.defenders.some((d) => !d.isFitted)) {
      throw new NotFittedError('AdaptiveLatentAttack: the target detector is not fitted; fit or load it first');
    }
    if (p.lambda > 0 && this.defenders.length === 0) {
      throw new ArgumentError(`AdaptiveLatentAttack: lambda = ${p.lambda} > 0 needs at least one LatentDefender in the target, found none`);
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
    const { lambda, margin, confidence, binarySteps, iterations, lr, initialConst, abortEarly } = this.params;
    const useDefenders = lambda > 0;
    const [lo, hi] = model.bounds;
    const lower = new Float64Array(n);
    const upper = new Float64Array(n).fill(1e10);
    const consts = new Float64Array(n).fill(initialConst);
    const checkEvery = Math.max(1, Math.floor(iterations / 10));

    const targets = useDefenders ? this.defenders.map((d) => prepareTarget(d, this.params.sp)) : [];
    const yt = tf.tensor1d(y, 'int32');
    const oh = tf.tidy(() => tf.oneHot(yt, k).toFloat());
    const ohBig = tf.mul(oh, 1e4);
    const tt = tgt ? tf.tensor1d(tgt, 'int32') : undefined;
    const ohT = tt ? tf.tidy(() => tf.oneHot(tt, k).toFloat() as tf.Tensor2D) : undefined;
    const { mid, half, timg, xShr } = tanhBox(x, lo, hi);
    const w = tf.tidy(() => tf.variable(tf.zerosLike(x), true));
    let bestKey: tf.Tensor1D = tf.fill([n], Infinity);
    let bestAdv: tf.Tensor4D = x.clone();
    let totalIters = 0;
    try {
      for (let step = 0; step < binarySteps; step++) {
        const c = tf.tensor1d(Float32Array.from(consts));
        const opt = tf.train.adam(lr, 0.9, 0.999, 1e-8);
        let stepSucc: tf.Tensor1D = tf.zeros([n]);
        let prev = Infinity;
        try {
          tf.tidy(() => w.assign(tf.zerosLike(x)));
          for (let it = 0; it < iterations; it++) {
            totalIters++;
            let img: tf.Tensor4D | undefined;
            let z: tf.Tensor2D | undefined;
            let worst: tf.Tensor1D | undefined;
            const cost: tf.Scalar | null = tf.tidy(() =>
              opt.minimize(
                () => {
                  const im = tf.add(tf.mul(tf.tanh(tf.add(w, timg)), half), mid) as tf.Tensor4D;
                  const zz = model.logits(im);
                  img = tf.keep(im);
                  z = tf.keep(zz);
                  // ĉ: the target, else the best class other than y (the victim's class once fooled)
                  const ohC = ohT ?? (tf.oneHot(tf.argMax(tf.sub(zz, ohBig), 1), k).toFloat() as tf.Tensor2D);
                  const zC = tf.sum(tf.mul(zz, ohC), 1);
                  const f = ohT
                    ? tf.relu(tf.add(tf.sub(tf.max(tf.sub(zz, tf.mul(ohT, 1e4)), 1), zC), confidence))
                    : tf.relu(tf.add(tf.sub(tf.sum(tf.mul(zz, oh), 1), zC), confidence));
                  let term: tf.Tensor1D = f as tf.Tensor1D;
                  if (useDefenders) {
                    const excess = tf.concat(targets.map((t) => defenderExcess(t, im, ohC as tf.Tensor2D)), 1);
                    worst = tf.keep(tf.max(excess, 1) as tf.Tensor1D);
                    term = tf.add(term, tf.mul(tf.sum(tf.relu(tf.add(excess, margin)), 1), lambda));
                  }
                  const l2 = tf.sum(tf.square(tf.sub(im, xShr)));
                  return tf.add(l2, tf.sum(tf.mul(c, term))) as tf.Scalar;
                },
                true,
                [w],
              ) as tf.Scalar,
            );
            const next = tf.tidy(() => {
              const l2sq = tf.sum(tf.square(tf.sub(img!, x)), [1, 2, 3]);
              const fooled = ohT
                ? tf.equal(tf.argMax(tf.sub(z!, tf.mul(ohT, confidence)), 1), tt!)
                : tf.notEqual(tf.argMax(tf.add(z!, tf.mul(oh, confidence)), 1), yt);
              let key: tf.Tensor1D;
              let good: tf.Tensor;
              if (worst) {
                const evades = tf.lessEqual(worst, 0);
                good = tf.logicalAnd(fooled, evades);
                // fooled and evading: rank by L2; fooled only: after all of those, by how far past a threshold
                key = tf.where(fooled, tf.where(evades, l2sq, tf.add(worst, 1e6)), tf.fill([n], Infinity)) as tf.Tensor1D;
              } else {
                good = fooled;
                key = tf.where(fooled, l2sq, tf.fill([n], Infinity)) as tf.Tensor1D;
              }
              const better = tf.less(key, bestKey);
              const m = tf.cast(better, 'float32').reshape([n, 1, 1, 1]);
              return {
                key: tf.where(better, key, bestKey) as tf.Tensor1D,
                adv: tf.add(tf.mul(bestAdv, tf.sub(1, m)), tf.mul(img!, m)) as tf.Tensor4D,
                succ: tf.maximum(stepSucc, tf.cast(good, 'float32')) as tf.Tensor1D,
              };
            });
            tf.dispose([img!, z!, bestKey, bestAdv, stepSucc, ...(worst ? [worst] : [])]);
            bestKey = next.key;
            bestAdv = next.adv;
            stepSucc = next.succ;
            if (abortEarly && it % checkEvery === 0 && cost) {
              const l = (await cost.data())[0];
              cost.dispose();
              if (l > prev * 0.9999) break;
              prev = l;
            } else {
              cost?.dispose();
            }
          }
          updateTradeOffConstants(await stepSucc.data(), consts, lower, upper);
        } finally {
          tf.dispose([c, stepSucc]);
          opt.dispose();
        }
        opts.onProgress?.((step + 1) / binarySteps);
      }
      const adversarial = tf.tidy(() => tf.clipByValue(bestAdv, lo, hi) as tf.Tensor4D);
      try {
        const m = await measure(model, x, adversarial, y, tgt);
        return { adversarial, labels: y, iterations: new Int32Array(n).fill(totalIters), ...(tgt ? { targets: tgt } : {}), ...m };
      } catch (e) {
        adversarial.dispose();
        throw e;
      }
    } finally {
      for (const t of targets) disposeTarget(t);
      tf.dispose([yt, oh, ohBig, timg, xShr, w, bestKey, bestAdv, ...(tt ? [tt, ohT!] : [])]);
    }
  }
}
