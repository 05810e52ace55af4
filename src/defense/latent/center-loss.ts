import * as tf from '@tensorflow/tfjs';
import { ShapeError, assert } from '../../errors.js';

/** How the "spread" term reduces over the K − 1 other classes: 'sum' (Eq. 1 as printed) or 'mean'. */
export type SpreadReduction = 'sum' | 'mean';

/** The three terms of the PCL centre loss (batch means, before γ), plus the weighted total. */
export interface CenterLossTerms {
  /** mean_b ‖C_{y_b} − φ_b‖²: condenses each class around its centre. Scalar. */
  condense: tf.Scalar;
  /** mean_b Σ_{i≠y_b} ‖C_i − φ_b‖² (÷ (K−1) when spread = 'mean'): distance to the other classes' centres (subtracted). Scalar. */
  spread: tf.Scalar;
  /** Σ_i (‖C_i‖² − 1)²: keeps the centres on the unit sphere. Scalar. */
  sphere: tf.Scalar;
  /** γ · (condense − spread + sphere). Scalar. */
  total: tf.Scalar;
}

/**
 * The PCL centre loss (PCL-METHOD.md §2, Eq. 1), averaged over the batch:
 *
 *   L+ = γ · [ ‖C_y − φ(x)‖² − Σ_{i≠y} ‖C_i − φ(x)‖² + Σ_i (‖C_i‖² − 1)² ].
 *
 * `phi`: [n, p] (normalised) features; `labels`: [n] int32 ground-truth classes in [0, K);
 * `centres`: [K, p] (trainable) class centres. Differentiable w.r.t. `phi` and `centres`.
 * `spread` = 'sum' is Eq. (1) as printed; 'mean' divides the second term by K − 1 (an option
 * this library adds: with the sum, the K − 1 repelling terms outweigh the one attracting term,
 * so the centres drift away from the data and off the sphere; see bench/results/latent.md).
 * Returns new scalars owned by the caller; inputs are not disposed.
 * @see Rouhani et al., "Towards safe deep learning: unsupervised defense against generic adversarial attacks" (2018).
 */
export function centerLoss(
  phi: tf.Tensor2D,
  labels: tf.Tensor1D,
  centres: tf.Tensor2D,
  gamma: number,
  spread: SpreadReduction = 'sum',
): CenterLossTerms {
  assert(phi.rank === 2, () => `centerLoss: expected phi of rank 2 [n,p], got shape [${phi.shape}]`, ShapeError);
  assert(centres.rank === 2 && centres.shape[1] === phi.shape[1],
    () => `centerLoss: expected centres [K, ${phi.shape[1]}], got shape [${centres.shape}]`, ShapeError);
  assert(labels.rank === 1 && labels.shape[0] === phi.shape[0],
    () => `centerLoss: expected labels [${phi.shape[0]}], got shape [${labels.shape}]`, ShapeError);
  const k = centres.shape[0];
  const spread_ = spread;
  return tf.tidy(() => {
    // exact squared distances [n, K] by broadcasting (no ‖a‖²+‖b‖²−2ab cancellation)
    const diff = tf.sub(tf.expandDims(phi, 1), tf.expandDims(centres, 0));
    const d2 = tf.sum(tf.square(diff), 2);
    const own = tf.oneHot(labels.toInt(), k).toFloat();
    const condense = tf.mean(tf.sum(tf.mul(d2, own), 1)) as tf.Scalar;
    const spreadSum = tf.mean(tf.sum(tf.mul(d2, tf.sub(1, own)), 1));
    const spread = (spread_ === 'mean' ? tf.div(spreadSum, Math.max(k - 1, 1)) : spreadSum) as tf.Scalar;
    const sphere = tf.sum(tf.square(tf.sub(tf.sum(tf.square(centres), 1), 1))) as tf.Scalar;
    const total = tf.mul(gamma, tf.add(tf.sub(condense, spread), sphere)) as tf.Scalar;
    return { condense, spread, sphere, total };
  });
}
