import * as tf from '@tensorflow/tfjs';
import { ShapeError, assert } from '../../errors.js';
import type { HddaClass } from './hdda.js';

/**
 * The HDDA class densities of `defense/latent/hdda.ts` as tensors, for a differentiable
 * log-density (white-box attacks). Built by {@link hddaTensors}; free with {@link disposeHddaTensors}.
 */
export interface HddaTensors {
  /** Feature dimension p. */
  p: number;
  /** Per class k: mean μ_k [1, p]. */
  means: tf.Tensor2D[];
  /** Per class k: basis Q_k [d_k, p] (rows = eigen-directions). */
  bases: tf.Tensor2D[];
  /** Per class k: 1 / a_kj, [d_k]. */
  invA: tf.Tensor1D[];
  /** Per class k: 1 / b_k (0 when d_k = p: no complement). */
  invB: number[];
  /** Per class k: the constant Σ_j log a_kj + (p − d_k) log b_k + p log 2π of −2 log p. */
  norms: number[];
}

const LOG_2PI = Math.log(2 * Math.PI);

/**
 * Tensors of the fitted HDDA densities `model` (one per class, all of the same p). The constants are
 * computed in float64 exactly as `hddaLogLik` does. Returns new tensors owned by the caller.
 */
export function hddaTensors(model: readonly HddaClass[]): HddaTensors {
  assert(model.length > 0, () => 'hddaTensors: empty model', ShapeError);
  const p = model[0].p;
  for (const [k, m] of model.entries()) {
    assert(m.p === p, () => `hddaTensors: class ${k} has p = ${m.p}, class 0 has p = ${p}`, ShapeError);
  }
  // plain tensor creation (no intermediates): nothing to tidy
  return {
    p,
    means: model.map((m) => tf.tensor2d(m.mean, [1, p])),
    bases: model.map((m) => tf.tensor2d(m.basis, [m.d, p])),
    invA: model.map((m) => tf.tensor1d(Float32Array.from(m.a, (v) => 1 / v))),
    invB: model.map((m) => (m.d < p ? 1 / m.b : 0)),
    norms: model.map((m) => {
      let s = m.p * LOG_2PI + (m.p - m.d) * Math.log(m.b);
      for (let j = 0; j < m.d; j++) s += Math.log(m.a[j]);
      return s;
    }),
  };
}

/** Frees the tensors of {@link hddaTensors}. */
export function disposeHddaTensors(h: HddaTensors): void {
  tf.dispose([...h.means, ...h.bases, ...h.invA]);
}

/**
 * log p(φ | k) of every row of `phi` [n, p] under every class k: [n, K], differentiable w.r.t. `phi`.
 * The tfjs twin of `hddaLogLikAll` (equal to it up to float32 rounding): with r = φ − μ_k and
 * t = Q_k r, −2 log p = Σ_j t_j² / a_kj + ‖r − Q_kᵀ t‖² / b_k + const_k. The complement residual is
 * formed directly (not as ‖r‖² − ‖t‖², which cancels badly in float32 when φ lies near the
 * class subspace and b_k is small), so it is never negative and its gradient is exact.
 * Returns a new tensor owned by the caller; `phi` is not disposed.
 */
export function hddaLogLikTensor(h: HddaTensors, phi: tf.Tensor2D): tf.Tensor2D {
  assert(phi.rank === 2 && phi.shape[1] === h.p, () => `hddaLogLikTensor: expected phi of shape [n, ${h.p}], got [${phi.shape}]`, ShapeError);
  return tf.tidy(() => {
    const cols = h.means.map((mean, k) => {
      const r = tf.sub(phi, mean);
      const t = tf.matMul(r, h.bases[k], false, true); // [n, d]
      let maha = tf.sum(tf.mul(tf.square(t), h.invA[k]), 1);
      if (h.invB[k] > 0) {
        const res = tf.sub(r, tf.matMul(t, h.bases[k]));
        maha = tf.add(maha, tf.mul(tf.sum(tf.square(res), 1), h.invB[k]));
      }
      return tf.mul(tf.add(maha, h.norms[k]), -0.5);
    });
    return tf.stack(cols, 1) as tf.Tensor2D;
  });
}
