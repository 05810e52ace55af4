import * as tf from '@tensorflow/tfjs';
import { ArgumentError, ShapeError, assert } from '../errors.js';
import type { AttackModel, AttackResult, AttackSummary, Labels } from './types.js';

/** Features whose change exceeds this count towards L0. */
const L0_TOLERANCE = 1e-6;

/**
 * Validates an attack's inputs at the public boundary (rank 4, labels of matching length and in
 * range, values inside the model's bounds, as foolbox's `verify_input_bounds`) and returns the
 * labels as an Int32Array.
 */
export async function checkInputs(who: string, model: AttackModel, x: tf.Tensor4D, labels: Labels): Promise<Int32Array> {
  assert(x.rank === 4, () => `${who}: expected x of rank 4 [n,h,w,c], got shape [${x.shape}]`, ShapeError);
  const y = await labelsToArray(labels);
  assert(
    y.length === x.shape[0],
    () => `${who}: expected ${x.shape[0]} labels (one per row of x), got ${y.length}`,
    ShapeError,
  );
  for (let i = 0; i < y.length; i++) {
    const v = y[i];
    assert(
      Number.isInteger(v) && v >= 0 && v < model.numClasses,
      () => `${who}: labels[${i}] must be a class index in [0, ${model.numClasses}), got ${v}`,
    );
  }
  if (x.shape[0] > 0) {
    const [lo, hi] = model.bounds;
    const mm = tf.tidy(() => tf.stack([tf.min(x), tf.max(x)]));
    const [mn, mx] = Array.from(await mm.data());
    mm.dispose();
    assert(
      mn >= lo - 1e-6 && mx <= hi + 1e-6,
      () => `${who}: x must lie inside the model bounds [${lo}, ${hi}], got values in [${mn}, ${mx}]`,
    );
  }
  return y;
}

/** Labels as an Int32Array (reads a tensor's data). */
export async function labelsToArray(labels: Labels): Promise<Int32Array> {
  if (labels instanceof tf.Tensor) {
    assert(labels.rank === 1, () => `labels: expected a rank-1 tensor [n], got shape [${labels.shape}]`, ShapeError);
    return Int32Array.from(await labels.data());
  }
  return Int32Array.from(labels as ArrayLike<number>);
}

/** Throws an ArgumentError unless `value` is a finite number within [lo, hi]. */
export function checkRange(who: string, name: string, value: number, lo: number, hi: number): void {
  if (!(typeof value === 'number' && Number.isFinite(value) && value >= lo && value <= hi)) {
    throw new ArgumentError(`${who}: '${name}' must be a number in [${lo}, ${hi}], got ${value}`);
  }
}

/** Throws an ArgumentError unless `value` is an integer within [lo, hi]. */
export function checkInt(who: string, name: string, value: number, lo: number, hi = Number.MAX_SAFE_INTEGER): void {
  if (!(Number.isInteger(value) && value >= lo && value <= hi)) {
    throw new ArgumentError(`${who}: '${name}' must be an integer in [${lo}, ${hi}], got ${value}`);
  }
}

/**
 * Full Jacobian of the logits w.r.t. the input, in ONE forward and ONE backward pass: `x` is tiled
 * K times, block k's loss is the sum of logit k over the batch (rows are independent, so each
 * row's gradient is the gradient of its own logit k).
 *
 * @param x [n, h, w, c]
 * @returns logits [n, K] and jacobian [n, K, D] with D = h·w·c (`jacobian[i, k] = ∂z_k(x_i)/∂x_i`).
 *   New tensors owned by the caller.
 */
export function logitsAndJacobian(model: AttackModel, x: tf.Tensor4D): { logits: tf.Tensor2D; jacobian: tf.Tensor3D } {
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape;
    const k = model.numClasses;
    const d = h * w * c;
    // Classes per backward pass: the K·n tiled rows of one pass hold every activation of the network
    // (for a CNN, hundreds of MB per layer at n = 100), which once exhausted the 4 GB wasm heap of a
    // worker on CIFAR-10. Each row's gradient is independent of the others, so grouping changes nothing.
    const perPass = Math.max(1, Math.min(k, Math.floor(JACOBIAN_MAX_ROWS / Math.max(n, 1))));
    const blocks: tf.Tensor[] = [];
    for (let j0 = 0; j0 < k; j0 += perPass) {
      const kj = Math.min(perPass, k - j0);
      blocks.push(
        tf.tidy(() => {
          const xt = tf.tile(x, [kj, 1, 1, 1]) as tf.Tensor4D; // block j = all n rows, for class j0 + j
          const mask = tf.oneHot(tf.range(j0, j0 + kj, 1, 'int32').reshape([kj, 1]).tile([1, n]).reshape([kj * n]), k);
          return tf.grad((xi: tf.Tensor) => tf.sum(tf.mul(model.logits(xi as tf.Tensor4D), mask)))(xt).reshape([kj, n, d]);
        }),
      );
    }
    const g = blocks.length === 1 ? blocks[0] : tf.concat(blocks, 0);
    const jacobian = tf.transpose(g, [1, 0, 2]) as tf.Tensor3D;
    const logits = model.logits(x);
    return { logits, jacobian };
  });
}

/** Most tiled rows per backward pass in {@link logitsAndJacobian}. */
export const JACOBIAN_MAX_ROWS = 256;

/**
 * Per-row positive multiple of ∇ₓ CE(z(x), y), safe from float32 underflow: for each row,
 * ∇CE = (1 − p_y)·(Σ_{k≠y} q_k ∇z_k − ∇z_y) with q = softmax of the logits other than y. The bracket
 * is computed directly, so a confident row (p_y rounds to 1 once the logit margin exceeds ≈ 17, where
 * the plain softmax − onehot gradient loses its ∇z_y term) still gets the exact direction. Its sign
 * equals sign(∇CE), which is all FGSM/BIM use.
 *
 * @param x [n,h,w,c]; @param y int labels [n]. @returns [n,h,w,c], a new tensor owned by the caller.
 */
export function crossEntropyGradientDirection(model: AttackModel, x: tf.Tensor4D, y: tf.Tensor1D): tf.Tensor4D {
  return tf.tidy(() => {
    const oh = tf.oneHot(y, model.numClasses);
    // constant weights q (computed outside the gradient, i.e. not differentiated)
    const q = tf.softmax(tf.sub(model.logits(x), tf.mul(oh, 1e9)));
    const w = tf.sub(q, oh);
    return tf.grad((xi: tf.Tensor) => tf.sum(tf.mul(model.logits(xi as tf.Tensor4D), w)))(x) as tf.Tensor4D;
  });
}

/** Per-row L2, L∞ and L0 (entries changed by more than 1e-6) of `xAdv − x`, as tensors [n]; the caller disposes them. */
export function perturbationNorms(x: tf.Tensor4D, xAdv: tf.Tensor4D): [tf.Tensor1D, tf.Tensor1D, tf.Tensor1D] {
  return tf.tidy(() => {
    const d = tf.sub(xAdv, x).reshape([x.shape[0], -1]);
    return [
      tf.sqrt(tf.sum(tf.square(d), 1)) as tf.Tensor1D,
      tf.max(tf.abs(d), 1) as tf.Tensor1D,
      tf.sum(tf.cast(tf.greater(tf.abs(d), L0_TOLERANCE), 'int32'), 1) as tf.Tensor1D,
    ];
  });
}

/**
 * Checks `xAdv` against the model and measures the perturbation: one forward pass decides success
 * (misclassified, or equal to `targets` when given), so a result can never claim an example the
 * model does not actually misclassify. Reads data; `x` and `xAdv` are not disposed.
 */
export async function measure(
  model: AttackModel,
  x: tf.Tensor4D,
  xAdv: tf.Tensor4D,
  labels: Int32Array,
  targets?: Int32Array,
): Promise<Pick<AttackResult, 'success' | 'l2' | 'linf' | 'l0' | 'predicted'>> {
  const n = x.shape[0];
  if (n === 0) {
    return { success: new Uint8Array(0), l2: new Float32Array(0), linf: new Float32Array(0), l0: new Int32Array(0), predicted: new Int32Array(0) };
  }
  const pred = tf.tidy(() => tf.argMax(model.logits(xAdv), 1));
  const [l2, linf, l0] = perturbationNorms(x, xAdv);
  try {
    const predicted = Int32Array.from(await pred.data());
    const success = new Uint8Array(n);
    for (let i = 0; i < n; i++) success[i] = targets ? Number(predicted[i] === targets[i]) : Number(predicted[i] !== labels[i]);
    return {
      success,
      predicted,
      l2: Float32Array.from(await l2.data()),
      linf: Float32Array.from(await linf.data()),
      l0: Int32Array.from(await l0.data()),
    };
  } finally {
    tf.dispose([pred, l2, linf, l0]);
  }
}

/** Success rate, and mean norms over the successful rows. */
export function summarize(r: Pick<AttackResult, 'success' | 'l2' | 'linf' | 'l0' | 'predicted' | 'labels'>): AttackSummary {
  const n = r.success.length;
  let s = 0;
  let l2 = 0;
  let linf = 0;
  let l0 = 0;
  let mis = 0;
  for (let i = 0; i < n; i++) {
    if (r.predicted[i] !== r.labels[i]) mis++;
    if (!r.success[i]) continue;
    s++;
    l2 += r.l2[i];
    linf += r.linf[i];
    l0 += r.l0[i];
  }
  return {
    n,
    successRate: n ? s / n : NaN,
    meanL2: s ? l2 / s : NaN,
    meanLinf: s ? linf / s : NaN,
    meanL0: s ? l0 / s : NaN,
    misclassificationRate: n ? mis / n : NaN,
  };
}
