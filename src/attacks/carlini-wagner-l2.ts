import * as tf from '@tensorflow/tfjs';
import { checkInputs, checkInt, checkRange, measure } from './common.js';
import type { Attack, AttackModel, AttackResult, Labels, RunOptions } from './types.js';
import { fusedAdam } from '../engine/fused-adam.js';

/** Hyperparameters of Carlini–Wagner L2. */
export interface CarliniWagnerL2Params {
  /** Confidence κ: the true logit must trail the best other logit by at least κ. Default 0. */
  confidence: number;
  /** Binary-search steps over the constant c. Default 20 (the paper's Table 3). */
  binarySteps: number;
  /** Adam iterations per binary-search step. Default 500 (the paper's Table 3). */
  iterations: number;
  /** Adam learning rate. Default 0.1 (the paper's Table 3; Carlini's code uses 0.01). */
  lr: number;
  /** Initial c of every row. Default 1e-3 (Carlini's code). */
  initialConst: number;
  /** Stop a binary-search step when the loss has not fallen by 0.01 % over the last iterations/10 iterations. Default true. */
  abortEarly: boolean;
}

/** Default C&W L2 hyperparameters (the paper's Table 3 schedule). */
export const CW_L2_DEFAULTS: Readonly<CarliniWagnerL2Params> = Object.freeze({
  confidence: 0,
  binarySteps: 20,
  iterations: 500,
  lr: 0.1,
  initialConst: 1e-3,
  abortEarly: true,
});

/** Carlini's shrink factor keeping atanh finite at the bounds. */
const TANH_SHRINK = 0.999999;

/**
 * C&W's change of variables for a box [lo, hi]: x = mid + half·tanh(w + timg). Returns `timg`
 * (atanh of x, shrunk by 1e-6 so the bounds stay finite) and `xShr`, the image w = 0 maps to, which
 * the L2 term measures against. Both are new tensors owned by the caller.
 */
export function tanhBox(x: tf.Tensor4D, lo: number, hi: number): { mid: number; half: number; timg: tf.Tensor4D; xShr: tf.Tensor4D } {
  const mid = (hi + lo) / 2;
  const half = (hi - lo) / 2;
  return tf.tidy(() => {
    const timg = tf.atanh(tf.mul(tf.div(tf.sub(x, mid), half), TANH_SHRINK)) as tf.Tensor4D;
    return { mid, half, timg, xShr: tf.add(tf.mul(tf.tanh(timg), half), mid) as tf.Tensor4D };
  });
}

/**
 * Carlini–Wagner L2 (untargeted): minimises ‖x' − x‖₂² + c·max(z_y − max_{j≠y} z_j + κ, 0) over
 * x' = tanh(w)·(hi−lo)/2 + (hi+lo)/2 (so x' always lies in the bounds) with Adam, and binary-searches
 * c per row (start `initialConst`; ×10 until the first success, then bisection; the last step uses
 * the upper bound, as in Carlini's code). Across all steps and iterations it keeps, per row, the
 * smallest-L2 point that is misclassified with margin κ. Rows never attacked successfully return the
 * original input. Success is re-verified by a forward pass on the returned tensor.
 *
 * Every row of the batch is optimised together (one forward/backward per iteration); the only host
 * reads are the loss every iterations/10 iterations (early abort) and the success flags at the end of
 * each binary step.
 *
 * @see Carlini, Wagner, "Towards Evaluating the Robustness of Neural Networks", IEEE S&P 2017.
 */
/**
 * One binary-search update of C&W's per-row trade-off constants: a row that succeeded at its
 * constant lowers the upper bound (and bisects), one that failed raises the lower bound (and bisects,
 * or multiplies the constant by 10 while no success has been seen). Updates the arrays in place.
 */
export function updateTradeOffConstants(success: ArrayLike<number>, consts: Float64Array, lower: Float64Array, upper: Float64Array): void {
  for (let i = 0; i < success.length; i++) {
    if (success[i] > 0) {
      upper[i] = Math.min(upper[i], consts[i]);
      if (upper[i] < 1e9) consts[i] = (lower[i] + upper[i]) / 2;
    } else {
      lower[i] = Math.max(lower[i], consts[i]);
      consts[i] = upper[i] < 1e9 ? (lower[i] + upper[i]) / 2 : consts[i] * 10;
    }
  }
}

/**
 * An extra loss term plugged into the C&W optimisation ({@link carliniWagnerL2Core}), e.g. an adaptive
 * attack's penalty for being flagged by a detector. Called inside the differentiated closure with the
 * current images `im` [n,h,w,c] and `ohC` [n,K], the one-hot class the attack aims the victim at (the
 * target, else the best class other than the label). Returns, per row, `penalty` [n] (added to the
 * misclassification term, both scaled by the trade-off constant c) and `violation` [n]: ≤ 0 when the
 * row meets the extra goal (e.g. no detector flags it). A row then counts as a success only when the
 * victim is fooled AND `violation ≤ 0`. Tensors are created inside the caller's tidy.
 */
export type CwExtraLoss = (im: tf.Tensor4D, ohC: tf.Tensor2D) => { penalty: tf.Tensor1D; violation: tf.Tensor1D };

/** The optimisation settings the C&W core needs (the fields of {@link CarliniWagnerL2Params}). */
export type CwCoreParams = Pick<CarliniWagnerL2Params, 'confidence' | 'binarySteps' | 'iterations' | 'lr' | 'initialConst' | 'abortEarly'>;

/** Options of {@link carliniWagnerL2Core}. */
export interface CwCoreOptions {
  /** Target class per row (targeted attack: success = classified as the target with margin κ). */
  targets?: Int32Array;
  /** Extra loss term (see {@link CwExtraLoss}); none = plain C&W L2. */
  extraLoss?: CwExtraLoss;
  /** Called after each binary-search step with (steps done, binarySteps). */
  onProgress?: (done: number, total: number) => void;
  /** Called before each binary-search step with the per-row constants it uses (for tests and logs). */
  onStep?: (step: number, consts: Float64Array) => void;
}

/**
 * The constants of binary-search step `step`: as Carlini's code, the last step of a long search
 * (≥ 10 steps) uses each row's upper bound (the smallest constant known to succeed), so the final
 * optimisation runs where success is known to be reachable. Updates `consts` in place.
 */
export function finalStepConstants(step: number, binarySteps: number, consts: Float64Array, upper: Float64Array): void {
  if (binarySteps >= 10 && step === binarySteps - 1) {
    for (let i = 0; i < consts.length; i++) if (upper[i] < 1e9) consts[i] = upper[i];
  }
}

/**
 * The one C&W L2 optimisation loop that {@link CarliniWagnerL2} and the adaptive attack share:
 * minimises ‖x' − x‖₂² + c·[max(z_y − z_ĉ + κ, 0) + extra] over x' = tanh(w + atanh x)·(hi−lo)/2 +
 * (hi+lo)/2 with Adam, binary-searching c per row ({@link updateTradeOffConstants},
 * {@link finalStepConstants}) and keeping per row the smallest-L2 successful point (with an extra
 * loss: the fooled point closest to meeting it when none does). `y` are the true labels [n].
 * Returns the best points clipped to the bounds (owned by the caller) and the iterations run.
 */
export async function carliniWagnerL2Core(
  model: AttackModel,
  x: tf.Tensor4D,
  y: Int32Array,
  params: CwCoreParams,
  opts: CwCoreOptions = {},
): Promise<{ adversarial: tf.Tensor4D; iterations: number }> {
  const n = y.length;
  const k = model.numClasses;
  const { confidence, binarySteps, iterations, lr, initialConst, abortEarly } = params;
  const [lo, hi] = model.bounds;
  const lower = new Float64Array(n);
  const upper = new Float64Array(n).fill(1e10);
  const consts = new Float64Array(n).fill(initialConst);
  const checkEvery = Math.max(1, Math.floor(iterations / 10));
  const extra = opts.extraLoss;

  const yt = tf.tensor1d(y, 'int32');
  const oh = tf.tidy(() => tf.oneHot(yt, k).toFloat() as tf.Tensor2D);
  const ohBig = tf.mul(oh, 1e4);
  const tt = opts.targets ? tf.tensor1d(opts.targets, 'int32') : undefined;
  const ohT = tt ? tf.tidy(() => tf.oneHot(tt, k).toFloat() as tf.Tensor2D) : undefined;
  const { mid, half, timg, xShr } = tanhBox(x, lo, hi);
  const w = tf.tidy(() => tf.variable(tf.zerosLike(x), true));
  let bestKey: tf.Tensor1D = tf.fill([n], Infinity);
  let bestAdv: tf.Tensor4D = x.clone();
  let totalIters = 0;
  try {
    for (let step = 0; step < binarySteps; step++) {
      finalStepConstants(step, binarySteps, consts, upper);
      opts.onStep?.(step, Float64Array.from(consts));
      const c = tf.tensor1d(Float32Array.from(consts));
      const opt = fusedAdam(lr, 0.9, 0.999, 1e-8);
      let stepSucc: tf.Tensor1D = tf.zeros([n]);
      let prev = Infinity;
      try {
        tf.tidy(() => w.assign(tf.zerosLike(x)));
        for (let it = 0; it < iterations; it++) {
          totalIters++;
          let img: tf.Tensor4D | undefined;
          let z: tf.Tensor2D | undefined;
          let violation: tf.Tensor1D | undefined;
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
                let term = f as tf.Tensor1D;
                if (extra) {
                  const e = extra(im, ohC);
                  violation = tf.keep(e.violation);
                  term = tf.add(term, e.penalty);
                }
                const l2 = tf.sum(tf.square(tf.sub(im, xShr)));
                return tf.add(l2, tf.sum(tf.mul(c, term))) as tf.Scalar;
              },
              true,
              [w],
            ) as tf.Scalar,
          );
          // track the best point seen; all on device, no host read
          const next = tf.tidy(() => {
            const l2sq = tf.sum(tf.square(tf.sub(img!, x)), [1, 2, 3]);
            const fooled = ohT
              ? tf.equal(tf.argMax(tf.sub(z!, tf.mul(ohT, confidence)), 1), tt!)
              : tf.notEqual(tf.argMax(tf.add(z!, tf.mul(oh, confidence)), 1), yt);
            let key: tf.Tensor1D;
            let good: tf.Tensor;
            if (violation) {
              const meets = tf.lessEqual(violation, 0);
              good = tf.logicalAnd(fooled, meets);
              // fooled and meeting the extra goal: rank by L2; fooled only: after all of those, by the violation
              key = tf.where(fooled, tf.where(meets, l2sq, tf.add(violation, 1e6)), tf.fill([n], Infinity)) as tf.Tensor1D;
            } else {
              good = fooled;
              key = tf.where(fooled, l2sq, tf.fill([n], Infinity)) as tf.Tensor1D;
            }
            const better = tf.less(key, bestKey);
            // m ∈ {0,1} exactly, so best·(1−m) + img·m copies rows bit-exactly (cheaper than a broadcast where)
            const m = tf.cast(better, 'float32').reshape([n, 1, 1, 1]);
            return {
              key: tf.where(better, key, bestKey) as tf.Tensor1D,
              adv: tf.add(tf.mul(bestAdv, tf.sub(1, m)), tf.mul(img!, m)) as tf.Tensor4D,
              succ: tf.maximum(stepSucc, tf.cast(good, 'float32')) as tf.Tensor1D,
            };
          });
          tf.dispose([img!, z!, bestKey, bestAdv, stepSucc, ...(violation ? [violation] : [])]);
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
      opts.onProgress?.(step + 1, binarySteps);
    }
    return { adversarial: tf.tidy(() => tf.clipByValue(bestAdv, lo, hi) as tf.Tensor4D), iterations: totalIters };
  } finally {
    tf.dispose([yt, oh, ohBig, timg, xShr, w, bestKey, bestAdv, ...(tt ? [tt, ohT!] : [])]);
  }
}

export class CarliniWagnerL2 implements Attack<CarliniWagnerL2Params> {
  readonly name = 'cw-l2';
  readonly norm = 'l2' as const;
  readonly targeted = false;
  readonly params: Readonly<CarliniWagnerL2Params>;

  constructor(params: Partial<CarliniWagnerL2Params> = {}) {
    const p = { ...CW_L2_DEFAULTS, ...params };
    checkRange('CarliniWagnerL2', 'confidence', p.confidence, 0, Infinity);
    checkInt('CarliniWagnerL2', 'binarySteps', p.binarySteps, 1);
    checkInt('CarliniWagnerL2', 'iterations', p.iterations, 1);
    checkRange('CarliniWagnerL2', 'lr', p.lr, Number.MIN_VALUE, Infinity);
    checkRange('CarliniWagnerL2', 'initialConst', p.initialConst, Number.MIN_VALUE, Infinity);
    this.params = Object.freeze(p);
  }

  /** See `Attack.run`. `adversarial` [n,h,w,c] is owned by the caller. */
  async run(model: AttackModel, x: tf.Tensor4D, labels: Labels, opts: RunOptions = {}): Promise<AttackResult> {
    const y = await checkInputs('CarliniWagnerL2', model, x, labels);
    const { adversarial, iterations } = await carliniWagnerL2Core(model, x, y, this.params, {
      onProgress: opts.onProgress,
    });
    try {
      const m = await measure(model, x, adversarial, y);
      return { adversarial, labels: y, iterations: new Int32Array(y.length).fill(iterations), ...m };
    } catch (e) {
      adversarial.dispose();
      throw e;
    }
  }
}
