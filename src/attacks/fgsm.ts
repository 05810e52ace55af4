import * as tf from '@tensorflow/tfjs';
import { checkInputs, checkRange, crossEntropyGradientDirection, measure } from './common.js';
import type { Attack, AttackModel, AttackResult, Labels, RunOptions } from './types.js';

/** Hyperparameters of FGSM. */
export interface FgsmParams {
  /** L∞ budget ε (in input units; inputs in [0,1]). Default 0.1; the paper sweeps 0.05 … 0.5. */
  eps: number;
}

/** Default FGSM hyperparameters. */
export const FGSM_DEFAULTS: Readonly<FgsmParams> = Object.freeze({ eps: 0.1 });

/**
 * The unclipped FGSM step `x + ε·sign(∇ₓ CE(z(x), y))` (gradient via `crossEntropyGradientDirection`, exact even for very confident rows) for `x` [n,h,w,c] and int labels `y` [n].
 * Every coordinate moves by exactly ε (or 0 where the gradient is exactly 0). Returns a new tensor
 * owned by the caller; inputs are not disposed.
 */
export function fgsmStep(model: AttackModel, x: tf.Tensor4D, y: tf.Tensor1D, eps: number): tf.Tensor4D {
  return tf.tidy(() => {
    const g = crossEntropyGradientDirection(model, x, y);
    return tf.add(x, tf.mul(tf.sign(g), eps)) as tf.Tensor4D;
  });
}

/**
 * Fast Gradient Sign Method (untargeted, L∞): one step of size ε along the sign of the loss
 * gradient, then clipped to the model's bounds.
 *
 * @see Goodfellow, Shlens, Szegedy, "Explaining and Harnessing Adversarial Examples", ICLR 2015.
 */
export class FGSM implements Attack<FgsmParams> {
  readonly name = 'fgsm';
  readonly norm = 'linf' as const;
  readonly targeted = false;
  readonly params: Readonly<FgsmParams>;

  constructor(params: Partial<FgsmParams> = {}) {
    const p = { ...FGSM_DEFAULTS, ...params };
    checkRange('FGSM', 'eps', p.eps, 0, Infinity);
    this.params = Object.freeze(p);
  }

  /** See `Attack.run`. `adversarial` [n,h,w,c] is owned by the caller. */
  async run(model: AttackModel, x: tf.Tensor4D, labels: Labels, opts: RunOptions = {}): Promise<AttackResult> {
    const y = await checkInputs('FGSM', model, x, labels);
    const [lo, hi] = model.bounds;
    const adversarial = tf.tidy(() => {
      const step = fgsmStep(model, x, tf.tensor1d(y, 'int32'), this.params.eps);
      return tf.clipByValue(step, lo, hi) as tf.Tensor4D;
    });
    try {
      const m = await measure(model, x, adversarial, y);
      opts.onProgress?.(1, 1);
      return { adversarial, labels: y, ...m };
    } catch (e) {
      adversarial.dispose();
      throw e;
    }
  }
}
