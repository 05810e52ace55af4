import type * as tf from '@tensorflow/tfjs';

/**
 * What an attack needs from a classifier: differentiable pre-softmax logits and the valid input
 * range. `Classifier` (src/models/classifier.ts) satisfies it.
 */
export interface AttackModel {
  /** Valid input range [lo, hi]; every adversarial example is clipped to it. */
  readonly bounds: readonly [number, number];
  /** Number of classes K. */
  readonly numClasses: number;
  /** Pre-softmax logits [n, K] of `x` [n, h, w, c]; differentiable w.r.t. `x`. Caller owns the result. */
  logits(x: tf.Tensor4D): tf.Tensor2D;
}

/** Labels: an int32 tensor [n] or a plain array of class indices. */
export type Labels = tf.Tensor1D | ArrayLike<number>;

/** Per-call options common to every attack. */
export interface RunOptions {
  /** Seed of every random choice the attack makes (random start, random targets). Default 0. */
  seed?: number;
  /**
   * Called as work gets done with `(done, total)` in the attack's own units (iterations, binary-search
   * steps), the library's one progress signature (detectors, attack sets, the pool use it too).
   */
  onProgress?: (done: number, total: number) => void;
  /**
   * Target classes [n] for targeted attacks (JSMA). When omitted the attack's target policy
   * chooses them.
   */
  targets?: ArrayLike<number>;
}

/**
 * The result of one attack call on n inputs. `adversarial` is a new tensor owned by the caller
 * (dispose it); everything else is plain data.
 */
export interface AttackResult {
  /** Adversarial examples [n, h, w, c], clipped to the model's bounds (and to ε where the attack has one). Unsuccessful rows hold the attack's last (or, for C&W, the original) input. */
  adversarial: tf.Tensor4D;
  /** 1 where the attack succeeded, verified by a fresh forward pass on `adversarial`: misclassified (untargeted) or classified as the target (targeted). */
  success: Uint8Array;
  /** ‖x_adv − x‖₂ per row. */
  l2: Float32Array;
  /** ‖x_adv − x‖∞ per row. */
  linf: Float32Array;
  /** Number of input features (pixels × channels) changed by more than 1e-6, per row. */
  l0: Int32Array;
  /** The victim's label of each adversarial example. */
  predicted: Int32Array;
  /** The true labels the attack was given. */
  labels: Int32Array;
  /** Target class per row, for targeted attacks. */
  targets?: Int32Array;
  /** Iterations used per row, for iterative attacks. */
  iterations?: Int32Array;
}

/** Which norm an attack minimises or bounds. */
export type AttackNorm = 'l0' | 'l2' | 'linf';

/**
 * An adversarial attack (foolbox style): hyperparameters are fixed at construction (`params`),
 * inputs and labels are given per call. Every call is batched: it processes all rows of `x`
 * together; use `runAttack` to split large inputs into batches.
 */
export interface Attack<P extends object = object> {
  /** Registry name (`fgsm`, `bim`, `jsma`, `deepfool`, `cw-l2`). */
  readonly name: string;
  readonly params: Readonly<P>;
  readonly norm: AttackNorm;
  /** True when success means "classified as the target" rather than "misclassified". */
  readonly targeted: boolean;
  /**
   * Attacks `x` [n, h, w, c] (values inside `model.bounds`) whose true labels are `labels` [n].
   * Inputs are not disposed; the result's tensor is owned by the caller.
   */
  run(model: AttackModel, x: tf.Tensor4D, labels: Labels, opts?: RunOptions): Promise<AttackResult>;
}

/** Aggregate figures of an `AttackResult`. */
export interface AttackSummary {
  n: number;
  /** Fraction of rows where the attack succeeded. */
  successRate: number;
  /** Mean ‖δ‖₂ over the successful rows (NaN when none succeeded). */
  meanL2: number;
  /** Mean ‖δ‖∞ over the successful rows (NaN when none succeeded). */
  meanLinf: number;
  /** Mean number of changed features over the successful rows (NaN when none succeeded). */
  meanL0: number;
  /** Fraction of rows misclassified after the attack (for targeted attacks this can exceed successRate). */
  misclassificationRate: number;
}
