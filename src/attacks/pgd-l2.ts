import * as tf from '@tensorflow/tfjs';
import { ArgumentError } from '../errors.js';
import { checkInputs, checkInt, checkRange, crossEntropyGradientDirection, measure } from './common.js';
import type { Attack, AttackModel, AttackResult, Labels, RunOptions } from './types.js';

/** Hyperparameters of {@link PgdL2}. */
export interface PgdL2Params {
  /** L2 budget ε (per image, over all pixels and channels). Default 2. */
  eps: number;
  /** Number of projected gradient steps; every row runs all of them (no early stop). Default 50. */
  steps: number;
  /** Step size as a fraction of ε (foolbox's `rel_stepsize`); the step is relStepSize·ε. Default 0.05 (= 2.5·ε / 50). */
  relStepSize: number;
  /** Start from a uniform random point of the ε-ball instead of x. Default true (foolbox). */
  randomStart: boolean;
}

/** Default PGD-L2 hyperparameters: ε = 2 (about the mean L2 of C&W κ = 20 on the MNIST MLP), 50 steps of 2.5·ε/50. */
export const PGD_L2_DEFAULTS: Readonly<PgdL2Params> = Object.freeze({ eps: 2, steps: 50, relStepSize: 0.05, randomStart: true });

/** Guards the per-row gradient normalisation against a zero gradient (a row whose loss is flat). */
const TINY = 1e-12;

/**
 * Projected gradient descent under L2 (foolbox's `L2ProjectedGradientDescentAttack`): start at a
 * seeded uniform random point of the L2 ε-ball around x (clipped to the bounds), then `steps` times
 * move by relStepSize·ε along the per-row L2-normalised gradient of the cross-entropy of the true
 * label, project back onto the ε-ball (δ ← δ·min(1, ε/‖δ‖₂)) and clip to the bounds. It runs all
 * steps (no early stop), so successful rows keep climbing the loss away from the boundary.
 *
 * The uniform point of the d-dimensional ball is the first d coordinates of a uniform point on the
 * (d+1)-sphere in R^{d+2} (Voelker, Gosmann & Stewart 2017), as foolbox draws it.
 *
 * @see Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks", ICLR 2018.
 * @see Rauber et al., foolbox 3, `attacks/projected_gradient_descent.py`.
 */
export class PgdL2 implements Attack<PgdL2Params> {
  readonly name = 'pgd-l2';
  readonly norm = 'l2' as const;
  readonly targeted = false;
  readonly params: Readonly<PgdL2Params>;

  constructor(params: Partial<PgdL2Params> = {}) {
    const p = { ...PGD_L2_DEFAULTS, ...params };
    checkRange('PgdL2', 'eps', p.eps, 0, Infinity);
    checkInt('PgdL2', 'steps', p.steps, 1);
    checkRange('PgdL2', 'relStepSize', p.relStepSize, 0, Infinity);
    if (typeof p.randomStart !== 'boolean') throw new ArgumentError(`PgdL2: 'randomStart' must be a boolean, got ${String(p.randomStart)}`);
    this.params = Object.freeze(p);
  }

  /** See `Attack.run`. `adversarial` [n,h,w,c] is owned by the caller. */
  async run(model: AttackModel, x: tf.Tensor4D, labels: Labels, opts: RunOptions = {}): Promise<AttackResult> {
    const y = await checkInputs('PgdL2', model, x, labels);
    const { eps, steps, relStepSize, randomStart } = this.params;
    const [lo, hi] = model.bounds;
    const n = x.shape[0];
    const yt = tf.tensor1d(y, 'int32');
    let cur: tf.Tensor4D = tf.tidy(() => (randomStart && n > 0 ? tf.clipByValue(tf.add(x, uniformL2Ball(x.shape, eps, opts.seed ?? 0)), lo, hi) : x.clone()) as tf.Tensor4D);
    try {
      for (let i = 0; i < steps; i++) {
        const next = tf.tidy(() => {
          const g = crossEntropyGradientDirection(model, cur, yt);
          const stepped = tf.add(cur, tf.mul(normaliseRows(g), relStepSize * eps));
          return tf.clipByValue(tf.add(x, projectL2(tf.sub(stepped, x) as tf.Tensor4D, eps)), lo, hi) as tf.Tensor4D;
        });
        cur.dispose();
        cur = next;
        if (opts.onProgress && (i % 5 === 4 || i === steps - 1)) opts.onProgress(i + 1, steps);
      }
      const m = await measure(model, x, cur, y);
      const adversarial = cur;
      cur = undefined as unknown as tf.Tensor4D; // ownership passes to the caller
      return { adversarial, labels: y, iterations: new Int32Array(n).fill(steps), ...m };
    } finally {
      cur?.dispose();
      yt.dispose();
    }
  }
}

/** Per-row L2 norms of `t` [n, …] as [n, 1, 1, 1]. */
function rowNorms(t: tf.Tensor4D): tf.Tensor4D {
  return tf.sqrt(tf.sum(tf.square(t), [1, 2, 3], true)) as tf.Tensor4D;
}

/** `g` with every row scaled to unit L2 norm (zero rows stay zero). */
function normaliseRows(g: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.div(g, tf.maximum(rowNorms(g), TINY)) as tf.Tensor4D);
}

/**
 * Projects every row of `delta` [n,h,w,c] onto the L2 ball of radius `eps`: δ·min(1, ε/‖δ‖₂).
 * Returns a new tensor owned by the caller.
 */
export function projectL2(delta: tf.Tensor4D, eps: number): tf.Tensor4D {
  return tf.tidy(() => tf.mul(delta, tf.minimum(1, tf.div(eps, tf.maximum(rowNorms(delta), TINY)))) as tf.Tensor4D);
}

/**
 * `shape[0]` seeded points drawn uniformly from the L2 ball of radius `eps` in R^d, d = h·w·c, shaped
 * like `shape`: a standard normal vector in R^{d+2}, normalised, keeps its first d coordinates.
 * Returns a new tensor owned by the caller.
 */
export function uniformL2Ball(shape: readonly number[], eps: number, seed: number): tf.Tensor4D {
  const [n, h, w, c] = shape;
  const d = h * w * c;
  return tf.tidy(() => {
    const g = tf.randomNormal([n, d + 2], 0, 1, 'float32', seed);
    const unit = tf.div(g, tf.norm(g, 2, 1, true));
    return tf.mul(tf.slice(unit, [0, 0], [n, d]), eps).reshape([n, h, w, c]) as tf.Tensor4D;
  });
}

/** Alias (foolbox's name). */
export const L2PGD = PgdL2;
