/**
 * Batch normalisation in training mode as one kernel forward and one back (`PclBatchNorm`,
 * `PclBatchNormGrad`), with the ReLU that follows it in this library's CNNs fused in.
 *
 * tfjs-layers' `BatchNormalization` in training mode composes `moments`, `batchNorm` and, for the
 * gradient, about twenty broadcasting element-wise kernels and reductions over the whole activation
 * (≈ 20 M values per layer for the CIFAR CNN at batch 64). On wasm that made a batch-norm step of
 * the paper's CIFAR CNN 5.5× slower than the same step without batch norm (1.72 s vs 0.31 s at 64,
 * `bench/bn-profile.ts`). Here the statistics are one pass over the input, the output one more, and
 * the gradient two passes, each a plain loop over NHWC rows and channels on the tensors' memory.
 *
 * Channels last only (the axis tfjs-layers uses by default); {@link batchNormRelu} normalises over
 * every axis but the last, like `BatchNormalization({axis: -1})`. The variance is the biased one
 * (divided by the count), as in tfjs-layers and Keras, in the normalisation and in what it returns.
 */
import * as tf from '@tensorflow/tfjs';
import { ArgumentError, assert } from '../errors.js';
import type { HeapViewBackend } from './kernels/heap.js';

export const BATCH_NORM_KERNEL = 'PclBatchNorm';
export const BATCH_NORM_GRAD_KERNEL = 'PclBatchNormGrad';

const BACKENDS = ['wasm', 'cpu'] as const;

interface CpuBackend {
  data: { get(id: object): { values: Float32Array | Int32Array } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo;
}

interface BnAttrs {
  epsilon: number;
  relu: boolean;
}

/**
 * Per-channel mean and biased variance of x viewed as [m, c] (float64 sums, shifted by the first
 * row, so a large mean does not swamp the variance).
 */
function moments(x: Float32Array, m: number, c: number, mean: Float32Array, variance: Float32Array): void {
  const s = new Float64Array(c);
  const ss = new Float64Array(c);
  const shift = x.slice(0, c);
  for (let r = 0, o = 0; r < m; r++, o += c) {
    for (let j = 0; j < c; j++) {
      const d = x[o + j]! - shift[j]!;
      s[j]! += d;
      ss[j]! += d * d;
    }
  }
  for (let j = 0; j < c; j++) {
    const mu = s[j]! / m;
    mean[j] = shift[j]! + mu;
    variance[j] = Math.max(0, ss[j]! / m - mu * mu);
  }
}

function forwardLoop(
  x: Float32Array,
  gamma: Float32Array,
  beta: Float32Array,
  m: number,
  c: number,
  a: BnAttrs,
  y: Float32Array,
  mean: Float32Array,
  variance: Float32Array,
): void {
  moments(x, m, c, mean, variance);
  const scale = new Float32Array(c);
  const shift = new Float32Array(c);
  for (let j = 0; j < c; j++) {
    scale[j] = gamma[j]! / Math.sqrt(variance[j]! + a.epsilon);
    shift[j] = beta[j]! - mean[j]! * scale[j]!;
  }
  if (a.relu) {
    for (let r = 0, o = 0; r < m; r++, o += c) {
      for (let j = 0; j < c; j++) {
        const v = x[o + j]! * scale[j]! + shift[j]!;
        y[o + j] = v > 0 ? v : 0;
      }
    }
  } else {
    for (let r = 0, o = 0; r < m; r++, o += c) for (let j = 0; j < c; j++) y[o + j] = x[o + j]! * scale[j]! + shift[j]!;
  }
}

/**
 * dx, dgamma, dbeta of y = [relu](gamma·(x − mean)/√(var + ε) + beta) with batch statistics:
 * g = dy (masked by y > 0 with ReLU), dbeta = Σ g, dgamma = Σ g·x̂,
 * dx = gamma/√(var + ε) · (g − dbeta/m − x̂·dgamma/m).
 */
function gradLoop(
  dy: Float32Array,
  x: Float32Array,
  gamma: Float32Array,
  mean: Float32Array,
  variance: Float32Array,
  y: Float32Array,
  m: number,
  c: number,
  a: BnAttrs,
  dx: Float32Array,
  dgamma: Float32Array,
  dbeta: Float32Array,
): void {
  const inv = new Float32Array(c);
  for (let j = 0; j < c; j++) inv[j] = 1 / Math.sqrt(variance[j]! + a.epsilon);
  const sg = new Float64Array(c);
  const sgx = new Float64Array(c);
  for (let r = 0, o = 0; r < m; r++, o += c) {
    for (let j = 0; j < c; j++) {
      const g = a.relu && !(y[o + j]! > 0) ? 0 : dy[o + j]!;
      sg[j]! += g;
      sgx[j]! += g * (x[o + j]! - mean[j]!);
    }
  }
  const k1 = new Float32Array(c); // gamma·inv
  const k2 = new Float32Array(c); // mean of g
  const k3 = new Float32Array(c); // dgamma·inv/m (the x̂ coefficient, times inv for x − mean)
  for (let j = 0; j < c; j++) {
    dbeta[j] = sg[j]!;
    dgamma[j] = sgx[j]! * inv[j]!;
    k1[j] = gamma[j]! * inv[j]!;
    k2[j] = sg[j]! / m;
    k3[j] = (dgamma[j]! * inv[j]!) / m;
  }
  for (let r = 0, o = 0; r < m; r++, o += c) {
    for (let j = 0; j < c; j++) {
      const g = a.relu && !(y[o + j]! > 0) ? 0 : dy[o + j]!;
      dx[o + j] = k1[j]! * (g - k2[j]! - (x[o + j]! - mean[j]!) * k3[j]!);
    }
  }
}

function attrsOf(attrs: tf.NamedAttrMap | undefined): BnAttrs {
  const a = (attrs ?? {}) as unknown as Partial<BnAttrs>;
  const epsilon = a.epsilon ?? 1e-3;
  assert(Number.isFinite(epsilon) && epsilon > 0, () => `${BATCH_NORM_KERNEL}: epsilon must be positive, got ${epsilon}`, ArgumentError);
  return { epsilon, relu: a.relu === true };
}

function checkShapes(name: string, x: tf.TensorInfo | undefined, params: [string, tf.TensorInfo | undefined][]): [number, number] {
  assert(x !== undefined && x.shape.length >= 2, () => `${name}: x must have rank ≥ 2 (channels last)`, ArgumentError);
  const c = x.shape[x.shape.length - 1]!;
  const m = tf.util.sizeFromShape(x.shape) / Math.max(c, 1);
  assert(c > 0 && m > 0, () => `${name}: x must not be empty, got shape [${x.shape}]`, ArgumentError);
  assert(x.dtype === 'float32', () => `${name}: x must be float32, got ${x.dtype}`, ArgumentError);
  for (const [p, t] of params) {
    assert(t !== undefined, () => `${name}: missing input ${p}`, ArgumentError);
    if (p === 'dy' || p === 'y') {
      assert(tf.util.arraysEqual(t.shape, x.shape), () => `${name}: ${p} must have x's shape [${x.shape}], got [${t.shape}]`, ArgumentError);
    } else {
      assert(t.shape.length === 1 && t.shape[0] === c, () => `${name}: ${p} must be [${c}] (x's channels), got [${t.shape}]`, ArgumentError);
    }
    assert(t.dtype === 'float32', () => `${name}: ${p} must be float32, got ${t.dtype}`, ArgumentError);
  }
  return [m, c];
}

/**
 * Runs `loop` on the float32 data of `inputs` and of three new outputs (x's shape, [c], [c]) on the
 * wasm heap (views taken after every allocation) or in cpu-backend arrays; returns the outputs.
 */
function withOutputs(
  backendName: string,
  backend: unknown,
  x: tf.TensorInfo,
  c: number,
  inputs: tf.TensorInfo[],
  loop: (ins: Float32Array[], outs: Float32Array[]) => void,
): tf.TensorInfo[] {
  const shapes = [x.shape.slice(), [c], [c]];
  if (backendName === 'wasm') {
    const be = backend as HeapViewBackend;
    const outs = shapes.map((sh) => be.makeOutput(sh, 'float32'));
    const f = (t: tf.TensorInfo) => be.typedArrayFromHeap(t) as Float32Array;
    loop(inputs.map(f), outs.map(f));
    return outs;
  }
  const be = backend as CpuBackend;
  const outs = shapes.map((sh) => new Float32Array(tf.util.sizeFromShape(sh)));
  loop(
    inputs.map((t) => be.data.get(t.dataId).values as Float32Array),
    outs,
  );
  return outs.map((o, i) => be.makeTensorInfo(shapes[i]!, 'float32', o));
}

const forwardKernel =
  (backendName: string): tf.KernelFunc =>
  ({ inputs, backend, attrs }) => {
    const { x, gamma, beta } = inputs as Record<string, tf.TensorInfo | undefined>;
    const [m, c] = checkShapes(BATCH_NORM_KERNEL, x, [['gamma', gamma], ['beta', beta]]);
    const a = attrsOf(attrs);
    return withOutputs(backendName, backend, x!, c, [x!, gamma!, beta!], ([xv, g, b], [y, mean, variance]) => forwardLoop(xv!, g!, b!, m, c, a, y!, mean!, variance!));
  };

const gradKernel =
  (backendName: string): tf.KernelFunc =>
  ({ inputs, backend, attrs }) => {
    const { dy, x, gamma, mean, variance, y } = inputs as Record<string, tf.TensorInfo | undefined>;
    const [m, c] = checkShapes(BATCH_NORM_GRAD_KERNEL, x, [
      ['dy', dy],
      ['gamma', gamma],
      ['mean', mean],
      ['variance', variance],
      ['y', y],
    ]);
    const a = attrsOf(attrs);
    return withOutputs(backendName, backend, x!, c, [dy!, x!, gamma!, mean!, variance!, y!], ([d, xv, g, mu, v, yv], [dx, dg, db]) =>
      gradLoop(d!, xv!, g!, mu!, v!, yv!, m, c, a, dx!, dg!, db!),
    );
  };

let registered = false;

/** Registers both kernels on the wasm and cpu backends and the forward kernel's gradient. Idempotent. */
export function registerBatchNormKernels(): void {
  if (registered) return;
  registered = true;
  for (const backendName of BACKENDS) {
    if (!tf.getKernel(BATCH_NORM_KERNEL, backendName)) tf.registerKernel({ kernelName: BATCH_NORM_KERNEL, backendName, kernelFunc: forwardKernel(backendName) });
    if (!tf.getKernel(BATCH_NORM_GRAD_KERNEL, backendName)) tf.registerKernel({ kernelName: BATCH_NORM_GRAD_KERNEL, backendName, kernelFunc: gradKernel(backendName) });
  }
  tf.registerGradient({
    kernelName: BATCH_NORM_KERNEL,
    inputsToSave: ['x', 'gamma'],
    outputsToSave: [true, true, true],
    gradFunc: (dys, saved, attrs) => {
      const [x, gamma, y, mean, variance] = saved as tf.Tensor[];
      // only y carries a gradient: mean and variance feed the moving averages, outside the loss
      const dy = Array.isArray(dys) ? dys[0]! : dys;
      const [dx, dgamma, dbeta] = tf.engine().runKernel(BATCH_NORM_GRAD_KERNEL, { dy, x: x!, gamma: gamma!, mean: mean!, variance: variance!, y: y! }, attrs) as tf.Tensor[];
      return { x: () => dx!, gamma: () => dgamma!, beta: () => dbeta! };
    },
  });
}

/** Whether the kernels run on the active backend. */
export function batchNormAvailable(): boolean {
  return (BACKENDS as readonly string[]).includes(tf.getBackend());
}

/**
 * Training-mode batch normalisation over all axes but the last, then ReLU when `relu` is set:
 * returns y and the batch's per-channel mean and (biased) variance, for the moving averages.
 * Differentiable in x, gamma and beta.
 */
export function batchNormRelu(
  x: tf.Tensor,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  opts: { epsilon: number; relu: boolean },
): { y: tf.Tensor; mean: tf.Tensor1D; variance: tf.Tensor1D } {
  registerBatchNormKernels();
  const [y, mean, variance] = tf.engine().runKernel(BATCH_NORM_KERNEL, { x, gamma, beta }, opts as unknown as tf.NamedAttrMap) as tf.Tensor[];
  return { y: y!, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
}
