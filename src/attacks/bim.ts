import * as tf from '@tensorflow/tfjs';
import { checkInputs, checkInt, checkRange, crossEntropyGradientDirection, measure } from './common.js';
import type { Attack, AttackModel, AttackResult, Labels, RunOptions } from './types.js';

/** Hyperparameters of BIM / PGD. */
export interface BimParams {
  /** L∞ budget ε. Default 0.1. */
  eps: number;
  /** Step size α per iteration. Default 0.01. */
  stepSize: number;
  /** Number of iterations. Default 20. */
  steps: number;
  /** Start from a uniform random point of the ε-ball (PGD) instead of x (BIM). Default false. */
  randomStart: boolean;
}

/** Default BIM/PGD hyperparameters. */
export const BIM_DEFAULTS: Readonly<BimParams> = Object.freeze({ eps: 0.1, stepSize: 0.01, steps: 20, randomStart: false });

/**
 * Basic Iterative Method / Projected Gradient Descent under L∞: `steps` FGSM steps of size α, each
 * followed by projection onto the ε-ball around x and clipping to the bounds. With `randomStart`
 * it is Madry et al.'s PGD (seeded uniform start in the ε-ball).
 *
 * @see Kurakin, Goodfellow, Bengio, "Adversarial examples in the physical world", 2017 (BIM).
 * @see Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks", ICLR 2018 (PGD).
 */
export class BIM implements Attack<BimParams> {
  readonly name = 'bim';
  readonly norm = 'linf' as const;
  readonly targeted = false;
  readonly params: Readonly<BimParams>;

  constructor(params: Partial<BimParams> = {}) {
    const p = { ...BIM_DEFAULTS, ...params };
    checkRange('BIM', 'eps', p.eps, 0, Infinity);
    checkRange('BIM', 'stepSize', p.stepSize, 0, Infinity);
    checkInt('BIM', 'steps', p.steps, 1);
    this.params = Object.freeze(p);
  }

  /** See `Attack.run`. `adversarial` [n,h,w,c] is owned by the caller. */
  async run(model: AttackModel, x: tf.Tensor4D, labels: Labels, opts: RunOptions = {}): Promise<AttackResult> {
    const y = await checkInputs('BIM', model, x, labels);
    const { eps, stepSize, steps, randomStart } = this.params;
    const [lo, hi] = model.bounds;
    const yt = tf.tensor1d(y, 'int32');
    const xLo = tf.tidy(() => tf.maximum(tf.sub(x, eps), lo));
    const xHi = tf.tidy(() => tf.minimum(tf.add(x, eps), hi));
    let cur: tf.Tensor4D = tf.tidy(() =>
      randomStart ? (tf.clipByValue(tf.add(x, tf.randomUniform(x.shape, -eps, eps, 'float32', opts.seed ?? 0)), lo, hi) as tf.Tensor4D) : x.clone(),
    );
    try {
      for (let i = 0; i < steps; i++) {
        const next = tf.tidy(() => {
          const g = crossEntropyGradientDirection(model, cur, yt);
          // projection onto the ε-ball ∩ bounds is a per-coordinate clip between xLo and xHi
          return tf.minimum(tf.maximum(tf.add(cur, tf.mul(tf.sign(g), stepSize)), xLo), xHi) as tf.Tensor4D;
        });
        cur.dispose();
        cur = next;
        if (opts.onProgress && (i % 5 === 4 || i === steps - 1)) opts.onProgress(i + 1, steps);
      }
      const m = await measure(model, x, cur, y);
      const iterations = new Int32Array(y.length).fill(steps);
      const adversarial = cur;
      cur = undefined as unknown as tf.Tensor4D; // ownership passes to the caller
      return { adversarial, labels: y, iterations, ...m };
    } finally {
      cur?.dispose();
      tf.dispose([yt, xLo, xHi]);
    }
  }
}

/** Alias: PGD is BIM with `randomStart: true`. */
export const PGD = BIM;
