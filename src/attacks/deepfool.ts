import * as tf from '@tensorflow/tfjs';
import { checkInputs, checkInt, checkRange, logitsAndJacobian, measure } from './common.js';
import type { Attack, AttackModel, AttackResult, Labels, RunOptions } from './types.js';

/** Hyperparameters of DeepFool. */
export interface DeepFoolParams {
  /** Maximum number of linearisation steps. Default 50 (the paper's Table 3 sweeps 1 … 10). */
  maxIter: number;
  /** The accumulated perturbation is scaled by (1 + overshoot) to cross the boundary. Default 0.02. */
  overshoot: number;
}

/** Default DeepFool hyperparameters (overshoot 0.02 as in the paper). */
export const DEEPFOOL_DEFAULTS: Readonly<DeepFoolParams> = Object.freeze({ maxIter: 50, overshoot: 0.02 });

/** Extra step length (in L2, foolbox's constant) that pushes a point just across the linearised boundary. */
const STEP_EPS = 1e-4;

/**
 * One multi-class DeepFool linearisation step for every row: with w_k = ∇z_k − ∇z_y and
 * f_k = z_k − z_y, the nearest linearised boundary is l = argmin_{k≠y} |f_k| / ‖w_k‖₂ and the step is
 * r = (|f_l|/‖w_l‖ + 1e-4) · w_l / ‖w_l‖. For an affine classifier this lands exactly on (1e-4 past)
 * the closest decision boundary.
 *
 * @param x [n,h,w,c]; @param y int labels [n] (the class to leave).
 * @returns logits [n,K] at x and the step r [n, D]. New tensors owned by the caller.
 */
export function deepfoolStep(model: AttackModel, x: tf.Tensor4D, y: tf.Tensor1D): { logits: tf.Tensor2D; step: tf.Tensor2D } {
  return tf.tidy(() => {
    const k = model.numClasses;
    const { logits, jacobian } = logitsAndJacobian(model, x);
    const oh = tf.oneHot(y, k); // [n,K]
    const fo = tf.sum(tf.mul(logits, oh), 1, true); // [n,1]
    const go = tf.sum(tf.mul(jacobian, oh.expandDims(2)), 1, true); // [n,1,D]
    const w = tf.sub(jacobian, go); // [n,K,D]
    const f = tf.sub(logits, fo); // [n,K]
    const wn = tf.norm(w, 'euclidean', 2); // [n,K]
    const pert = tf.where(tf.cast(oh, 'bool'), tf.fill(f.shape, Infinity), tf.div(tf.abs(f), tf.add(wn, 1e-8)));
    const l = tf.argMin(pert, 1);
    const ohl = tf.oneHot(l, k);
    const pl = tf.min(pert, 1, true); // [n,1]
    const wl = tf.sum(tf.mul(w, ohl.expandDims(2)), 1); // [n,D]
    const wln = tf.sum(tf.mul(wn, ohl), 1, true); // [n,1]
    const step = tf.mul(tf.div(tf.add(pl, STEP_EPS), tf.add(wln, 1e-8)), wl) as tf.Tensor2D;
    return { logits: logits as tf.Tensor2D, step };
  });
}

/**
 * DeepFool (untargeted, minimal L2): iteratively linearises the classifier around the current point
 * and steps to the nearest linearised decision boundary, until the label changes or `maxIter` steps.
 * The final point is x + (1 + overshoot)·Σ r_i, clipped to the bounds. Rows stop moving as soon as
 * they are misclassified; the whole batch stops when every row has.
 *
 * Each iteration costs one forward and one backward pass of K·n rows (the full Jacobian).
 *
 * @see Moosavi-Dezfooli, Fawzi, Frossard, "DeepFool: a simple and accurate method to fool deep neural networks", CVPR 2016.
 */
export class DeepFool implements Attack<DeepFoolParams> {
  readonly name = 'deepfool';
  readonly norm = 'l2' as const;
  readonly targeted = false;
  readonly params: Readonly<DeepFoolParams>;

  constructor(params: Partial<DeepFoolParams> = {}) {
    const p = { ...DEEPFOOL_DEFAULTS, ...params };
    checkInt('DeepFool', 'maxIter', p.maxIter, 1);
    checkRange('DeepFool', 'overshoot', p.overshoot, 0, Infinity);
    this.params = Object.freeze(p);
  }

  /** See `Attack.run`. `adversarial` [n,h,w,c] is owned by the caller. */
  async run(model: AttackModel, x: tf.Tensor4D, labels: Labels, opts: RunOptions = {}): Promise<AttackResult> {
    const y = await checkInputs('DeepFool', model, x, labels);
    const n = y.length;
    const { maxIter, overshoot } = this.params;
    const [lo, hi] = model.bounds;
    const yt = tf.tensor1d(y, 'int32');
    const x2 = x.reshape([n, -1]) as tf.Tensor2D;
    const d = x2.shape[1];
    let rTot: tf.Tensor2D = tf.zerosLike(x2);
    let xAdv: tf.Tensor4D = x.clone();
    let active = Int32Array.from({ length: n }, (_, i) => i); // rows still classified as their label
    const iterations = new Int32Array(n);
    try {
      for (let it = 0; it < maxIter && active.length > 0; it++) {
        // only the rows still on their label are linearised (rows finish at different iterations)
        const idx = tf.tensor1d(active, 'int32');
        const still = tf.tidy(() => tf.equal(tf.argMax(model.logits(tf.gather(xAdv, idx)), 1), tf.gather(yt, idx)));
        const stillArr = await still.data(); // m booleans per iteration: needed to stop rows early
        tf.dispose([idx, still]);
        active = active.filter((_, j) => stillArr[j]);
        if (active.length === 0) break;
        for (const i of active) iterations[i]++;
        const next = tf.tidy(() => {
          const ia = tf.tensor1d(active, 'int32');
          const { step } = deepfoolStep(model, tf.gather(xAdv, ia) as tf.Tensor4D, tf.gather(yt, ia) as tf.Tensor1D);
          // scatter the m steps back to n rows: row i takes step slot[i], or the zero row m
          const slot = new Int32Array(n).fill(active.length);
          active.forEach((i, j) => (slot[i] = j));
          const full = tf.gather(tf.concat([step, tf.zeros([1, d])]), tf.tensor1d(slot, 'int32'));
          const r = tf.add(rTot, full) as tf.Tensor2D;
          return { r, xa: tf.clipByValue(tf.add(x2, tf.mul(r, 1 + overshoot)), lo, hi).reshape(x.shape) as tf.Tensor4D };
        });
        rTot.dispose();
        xAdv.dispose();
        rTot = next.r;
        xAdv = next.xa;
        opts.onProgress?.(it + 1, maxIter);
      }
      const m = await measure(model, x, xAdv, y);
      const adversarial = xAdv;
      xAdv = undefined as unknown as tf.Tensor4D;
      opts.onProgress?.(maxIter, maxIter);
      return { adversarial, labels: y, iterations, ...m };
    } finally {
      xAdv?.dispose();
      tf.dispose([yt, x2, rTot]);
    }
  }
}
