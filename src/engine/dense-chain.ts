/**
 * A short training path for dense classifiers (the MNIST MLP): fewer, fused kernels per step.
 *
 * Through tfjs-layers, one training step of the 784-300-100-10 MLP at batch 128 runs about a hundred
 * kernels: tfjs fuses `matMul + bias + relu` only outside gradient recording, so each hidden layer
 * runs `BatchMatMul`, `Add` and `Relu` (and their gradients) separately, the layers engine wraps
 * every output in `Identity`, and the loss on clipped softmax probabilities costs ~40 small kernels
 * forward and back. On a model this small, dispatch is most of the step.
 *
 * Two kernels with registered gradients shorten it:
 * - `PclDense` (x·W + b, then ReLU or nothing): forward through the backend's own `_FusedMatMul`
 *   (the native engine's oneDNN kernel when it is active); its gradient computes only what the tape
 *   asks for (no input gradient for the first layer).
 * - `PclSoftmaxXent` (per-row cross-entropy of softmax(logits) against integer labels, log-sum-exp
 *   form) and its gradient kernel `PclSoftmaxXentGrad` (softmax − one-hot, scaled by dy), each one
 *   pass over the logits.
 *
 * {@link denseChain} recognises a model that is a plain chain of `Flatten` and `Dense` layers (ReLU or
 * linear hidden layers, a softmax or linear output) and returns its logits function built on
 * `PclDense`; `pcl train` then uses {@link softmaxCrossEntropy} on the logits. Both kernels exist for
 * the wasm and cpu backends; elsewhere {@link denseChain} returns undefined and training keeps the
 * layers path.
 */
import * as tf from '@tensorflow/tfjs';
import { ArgumentError, assert } from '../errors.js';
import type { HeapViewBackend } from './kernels/heap.js';

/** Kernel names (registered by {@link registerDenseChainKernels}). */
export const DENSE_KERNEL = 'PclDense';
export const SOFTMAX_XENT_KERNEL = 'PclSoftmaxXent';
export const SOFTMAX_XENT_GRAD_KERNEL = 'PclSoftmaxXentGrad';

const BACKENDS = ['wasm', 'cpu'] as const;
type Activation = 'relu' | 'linear';

interface CpuBackend {
  data: { get(id: object): { values: Float32Array | Int32Array } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo;
}

/** A view of `t` with another shape (same data; kernels read the shape from the TensorInfo). */
const view = (t: tf.TensorInfo, shape: number[]): tf.TensorInfo => ({ dataId: t.dataId, shape, dtype: t.dtype });

const denseKernel =
  (backendName: string): tf.KernelFunc =>
  ({ inputs, backend, attrs }) => {
    const { x, w, b } = inputs as Record<string, tf.TensorInfo | undefined>;
    assert(x !== undefined && w !== undefined && b !== undefined, () => `${DENSE_KERNEL}: needs inputs x, w and b`, ArgumentError);
    assert(x.shape.length === 2 && w.shape.length === 2 && b.shape.length === 1, () => `${DENSE_KERNEL}: expects x [m, k], w [k, n] and b [n]`, ArgumentError);
    const [m, k] = x.shape as [number, number];
    const [kw, n] = w.shape as [number, number];
    assert(k === kw && b.shape[0] === n, () => `${DENSE_KERNEL}: shapes x [${x.shape}], w [${w.shape}], b [${b.shape}] do not chain`, ArgumentError);
    for (const [name, t] of [['x', x], ['w', w], ['b', b]] as const) {
      assert(t.dtype === 'float32', () => `${DENSE_KERNEL}: ${name} must be float32, got ${t.dtype}`, ArgumentError);
    }
    const fused = tf.getKernel('_FusedMatMul', backendName);
    assert(fused !== undefined, () => `${DENSE_KERNEL}: the ${backendName} backend has no _FusedMatMul kernel`);
    const out = fused.kernelFunc({
      inputs: { a: view(x, [1, m, k]), b: view(w, [1, k, n]), bias: b },
      backend,
      attrs: { transposeA: false, transposeB: false, activation: (attrs as { activation: Activation }).activation },
    }) as tf.TensorInfo;
    return view(out, [m, n]);
  };

/** log Σ_j exp(z[o + j]) over one row of K logits, shifted by the row's maximum. */
function rowLogSumExp(z: Float32Array, o: number, kk: number): number {
  let mx = -Infinity;
  for (let j = 0; j < kk; j++) mx = Math.max(mx, z[o + j]!);
  let s = 0;
  for (let j = 0; j < kk; j++) s += Math.exp(z[o + j]! - mx);
  return mx + Math.log(s);
}

/** Per-row loss min(log-sum-exp − z_y, maxLoss) of logits z [m, K] and labels y [m] (in [0, K)). */
function xentLoop(z: Float32Array, y: Int32Array, m: number, kk: number, maxLoss: number, loss: Float32Array): void {
  for (let i = 0; i < m; i++) {
    const yi = y[i]!;
    loss[i] = yi >= 0 && yi < kk ? Math.min(rowLogSumExp(z, i * kk, kk) - z[i * kk + yi]!, maxLoss) : NaN;
  }
}

/** dz = (softmax(z) − onehot(y)) · dy per row; 0 for a row whose loss exceeds maxLoss (clipped: flat there). */
function xentGradLoop(z: Float32Array, y: Int32Array, dy: Float32Array, m: number, kk: number, maxLoss: number, dz: Float32Array): void {
  for (let i = 0; i < m; i++) {
    const o = i * kk;
    const lse = rowLogSumExp(z, o, kk);
    const g = lse - z[o + y[i]!]! > maxLoss ? 0 : dy[i]!;
    for (let j = 0; j < kk; j++) dz[o + j] = (Math.exp(z[o + j]! - lse) - (j === y[i] ? 1 : 0)) * g;
  }
}

function checkXent(name: string, z: tf.TensorInfo | undefined, y: tf.TensorInfo | undefined): [number, number] {
  assert(z !== undefined && y !== undefined, () => `${name}: needs inputs logits and labels`, ArgumentError);
  assert(z.shape.length === 2 && z.dtype === 'float32', () => `${name}: logits must be float32 [m, K], got ${z.dtype} [${z.shape}]`, ArgumentError);
  assert(y.dtype === 'int32' && y.shape.length === 1 && y.shape[0] === z.shape[0], () => `${name}: labels must be int32 [${z.shape[0]}], got ${y.dtype} [${y.shape}]`, ArgumentError);
  return z.shape as [number, number];
}

/** The loss cap of a cross-entropy kernel call (Infinity: none). */
const maxLossOf = (attrs: tf.NamedAttrMap | undefined): number => {
  const v = (attrs as { maxLoss?: number } | undefined)?.maxLoss;
  return typeof v === 'number' && v > 0 ? v : Infinity;
};

const xentKernel =
  (backendName: string): tf.KernelFunc =>
  ({ inputs, backend, attrs }) => {
    const { logits, labels } = inputs as Record<string, tf.TensorInfo | undefined>;
    const [m, kk] = checkXent(SOFTMAX_XENT_KERNEL, logits, labels);
    const maxLoss = maxLossOf(attrs);
    if (backendName === 'wasm') {
      const be = backend as unknown as HeapViewBackend;
      const out = be.makeOutput([m], 'float32');
      xentLoop(be.typedArrayFromHeap(logits!) as Float32Array, be.typedArrayFromHeap(labels!) as Int32Array, m, kk, maxLoss, be.typedArrayFromHeap(out) as Float32Array);
      return out;
    }
    const be = backend as unknown as CpuBackend;
    const loss = new Float32Array(m);
    xentLoop(be.data.get(logits!.dataId).values as Float32Array, be.data.get(labels!.dataId).values as Int32Array, m, kk, maxLoss, loss);
    return be.makeTensorInfo([m], 'float32', loss);
  };

const xentGradKernel =
  (backendName: string): tf.KernelFunc =>
  ({ inputs, backend, attrs }) => {
    const { logits, labels, dy } = inputs as Record<string, tf.TensorInfo | undefined>;
    const [m, kk] = checkXent(SOFTMAX_XENT_GRAD_KERNEL, logits, labels);
    const maxLoss = maxLossOf(attrs);
    assert(dy !== undefined && dy.dtype === 'float32' && dy.shape.length === 1 && dy.shape[0] === m, () => `${SOFTMAX_XENT_GRAD_KERNEL}: dy must be float32 [${m}]`, ArgumentError);
    if (backendName === 'wasm') {
      const be = backend as unknown as HeapViewBackend;
      const out = be.makeOutput([m, kk], 'float32');
      const f = (t: tf.TensorInfo) => be.typedArrayFromHeap(t);
      xentGradLoop(f(logits!) as Float32Array, f(labels!) as Int32Array, f(dy) as Float32Array, m, kk, maxLoss, f(out) as Float32Array);
      return out;
    }
    const be = backend as unknown as CpuBackend;
    const dz = new Float32Array(m * kk);
    const v = (t: tf.TensorInfo) => be.data.get(t.dataId).values;
    xentGradLoop(v(logits!) as Float32Array, v(labels!) as Int32Array, v(dy) as Float32Array, m, kk, maxLoss, dz);
    return be.makeTensorInfo([m, kk], 'float32', dz);
  };

let registered = false;

/**
 * Registers the three kernels on the wasm and cpu backends and their gradients (tfjs's global
 * registries, which nothing here unregisters). Idempotent and cheap after the first call, so the ops
 * below call it on every use.
 */
export function registerDenseChainKernels(): void {
  if (registered) return;
  registered = true;
  for (const backendName of BACKENDS) {
    if (!tf.getKernel(DENSE_KERNEL, backendName)) tf.registerKernel({ kernelName: DENSE_KERNEL, backendName, kernelFunc: denseKernel(backendName) });
    if (!tf.getKernel(SOFTMAX_XENT_KERNEL, backendName)) tf.registerKernel({ kernelName: SOFTMAX_XENT_KERNEL, backendName, kernelFunc: xentKernel(backendName) });
    if (!tf.getKernel(SOFTMAX_XENT_GRAD_KERNEL, backendName)) {
      tf.registerKernel({ kernelName: SOFTMAX_XENT_GRAD_KERNEL, backendName, kernelFunc: xentGradKernel(backendName) });
    }
  }
  tf.registerGradient({
    kernelName: DENSE_KERNEL,
    inputsToSave: ['x', 'w'],
    outputsToSave: [true],
    gradFunc: (dy, saved, attrs) => {
      const [x, w, y] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
      const g = dy as tf.Tensor2D;
      // the pre-activation gradient, computed once for the three closures the tape may call
      const d = (attrs as { activation: Activation }).activation === 'relu' ? tf.mul(g, tf.step(y)) : g;
      return {
        x: () => tf.matMul(d, w, false, true),
        w: () => tf.matMul(x, d, true, false),
        b: () => tf.sum(d, 0),
      };
    },
  });
  tf.registerGradient({
    kernelName: SOFTMAX_XENT_KERNEL,
    inputsToSave: ['logits', 'labels'],
    gradFunc: (dy, saved, attrs) => {
      const [logits, labels] = saved as [tf.Tensor2D, tf.Tensor1D];
      return {
        logits: () => tf.engine().runKernel(SOFTMAX_XENT_GRAD_KERNEL, { logits, labels, dy: dy as tf.Tensor }, attrs) as tf.Tensor,
        labels: () => tf.zerosLike(labels),
      };
    },
  });
}

/** Whether the kernels run on the active backend. */
export function denseChainAvailable(): boolean {
  return (BACKENDS as readonly string[]).includes(tf.getBackend());
}

/** x·W + b, then ReLU when `activation` is 'relu': one `PclDense` kernel (differentiable). */
export function dense(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D, activation: Activation = 'linear'): tf.Tensor2D {
  registerDenseChainKernels();
  return tf.engine().runKernel(DENSE_KERNEL, { x, w, b }, { activation } as unknown as tf.NamedAttrMap) as tf.Tensor2D;
}

/**
 * Mean cross-entropy of softmax(`logits`) [m, K] against `labels` [m] (class indices, any numeric
 * dtype), in log-sum-exp form: two kernels forward, two back. A label outside [0, K) gives NaN.
 * With `minProb`, each row's loss is −log(max(p_y, minProb)) — flat (zero gradient) where the true
 * class's probability is below it — which is what the layers path of `pcl train` (`crossEntropy` in `models/train.ts`)
 * computes with its clip at 10⁻⁷.
 */
export function softmaxCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D, opts: { minProb?: number } = {}): tf.Scalar {
  registerDenseChainKernels();
  const { minProb } = opts;
  assert(minProb === undefined || (minProb > 0 && minProb < 1), () => `softmaxCrossEntropy: minProb must lie in (0, 1), got ${minProb}`, ArgumentError);
  const attrs = { maxLoss: minProb === undefined ? 0 : -Math.log(minProb) };
  return tf.tidy(() => {
    const y = labels.dtype === 'int32' ? labels : tf.cast(labels, 'int32');
    return tf.mean(tf.engine().runKernel(SOFTMAX_XENT_KERNEL, { logits, labels: y }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor1D) as tf.Scalar;
  });
}

/** What {@link denseChain} found: the logits function and the output layer's activation. */
export interface DenseChain {
  /** Logits (the output layer before its softmax) of images x, through `PclDense` kernels. */
  logits(x: tf.Tensor): tf.Tensor2D;
  /** The output layer's activation ('softmax' or 'linear'). */
  output: 'softmax' | 'linear';
}

interface DenseLike {
  getClassName(): string;
  activation?: { getClassName(): string };
  useBias?: boolean;
  kernel?: { read(): tf.Tensor };
  bias?: { read(): tf.Tensor };
}

/**
 * The dense path of `model` when it is a plain chain input → [Flatten] → Dense … Dense (hidden
 * layers ReLU or linear, with bias; the output softmax or linear, with bias) on a backend that has
 * the kernels; otherwise undefined (use `model.apply`). The returned function reads the layers'
 * current weights on each call, so it follows training.
 */
export function denseChain(model: tf.LayersModel): DenseChain | undefined {
  if (!denseChainAvailable()) return undefined;
  if (model.inputs.length !== 1 || model.outputs.length !== 1) return undefined;
  const layers = model.layers as unknown as DenseLike[];
  const steps: { layer: DenseLike; act: Activation }[] = [];
  let output: 'softmax' | 'linear' | undefined;
  let flattenAt = -1;
  for (let i = 0; i < layers.length; i++) {
    const l = layers[i]!;
    const cls = l.getClassName();
    if (cls === 'InputLayer' && i === 0) continue;
    if (cls === 'Flatten' && steps.length === 0 && flattenAt < 0) {
      flattenAt = i;
      continue;
    }
    if (cls !== 'Dense' || !l.useBias || !l.kernel || !l.bias) return undefined;
    const act = l.activation?.getClassName().toLowerCase();
    const last = i === layers.length - 1;
    if (last && (act === 'softmax' || act === 'linear')) output = act;
    else if (!last && (act === 'relu' || act === 'linear')) steps.push({ layer: l, act });
    else return undefined;
    if (last) steps.push({ layer: l, act: 'linear' });
  }
  if (output === undefined || steps.length === 0) return undefined;
  // without a Flatten, Dense acts on the last axis of a higher-rank input: only a rank-2 input is a plain chain
  if (flattenAt < 0 && model.inputs[0]!.shape.length !== 2) return undefined;
  // a chain in the functional API could still branch; require each layer to feed the next only
  for (const l of model.layers) if (l.inboundNodes.length !== 1) return undefined;
  registerDenseChainKernels();
  return {
    output,
    logits: (x: tf.Tensor) =>
      tf.tidy(() => {
        let h = (x.rank === 2 ? x : tf.reshape(x, [x.shape[0]!, -1])) as tf.Tensor2D;
        for (const { layer, act } of steps) h = dense(h, layer.kernel!.read() as tf.Tensor2D, layer.bias!.read() as tf.Tensor1D, act);
        return h;
      }),
  };
}
