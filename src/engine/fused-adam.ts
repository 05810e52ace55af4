/**
 * Adam in one kernel per variable.
 *
 * `tf.train.adam` updates each variable with about fifteen element-wise kernels (two moment
 * updates, bias corrections, a square root, a division, the assignment...). On a small model that
 * dispatch dominates: of the 183 kernels of an MNIST MLP training step at batch 128, 90 are Adam's.
 * {@link FusedAdamOptimizer} computes the same update — tfjs's formula, step for step — in a single
 * `PclAdamUpdate` kernel that reads the variable, its gradient and both moments once and writes the
 * three new tensors in one pass. The kernel exists for the `wasm` backend (in place on the heap, no
 * copies) and the `cpu` backend (the reference in tests); on any other backend (WebGL, WebGPU) the
 * optimizer falls back to the same formula written with tfjs ops, so it runs wherever tfjs runs.
 */
import * as tf from '@tensorflow/tfjs';
import { ArgumentError, assert } from '../errors.js';
import type { HeapViewBackend } from './kernels/heap.js';

/** A named tensor, as optimizers exchange weights (tfjs does not export the type). */
type NamedTensor = { name: string; tensor: tf.Tensor };

/** Name of the fused kernel (registered by {@link registerFusedAdamKernels}). */
export const ADAM_UPDATE_KERNEL = 'PclAdamUpdate';

/** Attributes of one fused Adam update. */
interface AdamUpdateAttrs {
  /** Learning rate. */
  lr: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  /** 1 − β1^t and 1 − β2^t for this step t (the bias corrections). */
  c1: number;
  c2: number;
}

/**
 * The update on plain arrays: writes x', m', v' (may alias x, m, v). The same arithmetic order as
 * tfjs's `AdamOptimizer`: m' = β1·m + (1−β1)·g; v' = β2·v + (1−β2)·g²;
 * x' = x − lr · (m'/c1) / (√(v'/c2) + ε).
 */
function adamLoop(
  x: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  xo: Float32Array,
  mo: Float32Array,
  vo: Float32Array,
  a: AdamUpdateAttrs,
): void {
  const { lr, beta1, beta2, epsilon, c1, c2 } = a;
  const ob1 = 1 - beta1;
  const ob2 = 1 - beta2;
  const n = x.length;
  for (let i = 0; i < n; i++) {
    const gi = g[i]!;
    const mi = beta1 * m[i]! + ob1 * gi;
    const vi = beta2 * v[i]! + ob2 * gi * gi;
    mo[i] = mi;
    vo[i] = vi;
    xo[i] = x[i]! - (lr * (mi / c1)) / (Math.sqrt(vi / c2) + epsilon);
  }
}

/** What the kernel needs from the cpu backend. */
interface CpuBackend {
  data: { get(id: object): { values: Float32Array } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo;
}

function checkInputs(inputs: tf.NamedTensorInfoMap): [tf.TensorInfo, tf.TensorInfo, tf.TensorInfo, tf.TensorInfo] {
  const { x, g, m, v } = inputs as Record<string, tf.TensorInfo | undefined>;
  assert(x !== undefined && g !== undefined && m !== undefined && v !== undefined, () => `${ADAM_UPDATE_KERNEL}: needs inputs x, g, m and v`, ArgumentError);
  const size = tf.util.sizeFromShape(x.shape);
  for (const [name, t] of [['x', x], ['g', g], ['m', m], ['v', v]] as const) {
    assert(t.dtype === 'float32', () => `${ADAM_UPDATE_KERNEL}: ${name} must be float32, got ${t.dtype}`, ArgumentError);
    assert(
      tf.util.sizeFromShape(t.shape) === size,
      () => `${ADAM_UPDATE_KERNEL}: ${name} has shape [${t.shape.join(', ')}], expected the variable's [${x.shape.join(', ')}]`,
      ArgumentError,
    );
  }
  return [x, g, m, v];
}

const wasmAdamUpdate: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const [x, g, m, v] = checkInputs(inputs);
  const be = backend as unknown as HeapViewBackend;
  // outputs first: allocating may grow the heap and detach earlier views
  const xo = be.makeOutput(x.shape, 'float32');
  const mo = be.makeOutput(x.shape, 'float32');
  const vo = be.makeOutput(x.shape, 'float32');
  const f = (t: tf.TensorInfo) => be.typedArrayFromHeap(t) as Float32Array;
  adamLoop(f(x), f(g), f(m), f(v), f(xo), f(mo), f(vo), attrs as unknown as AdamUpdateAttrs);
  return [xo, mo, vo];
};

const cpuAdamUpdate: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const [x, g, m, v] = checkInputs(inputs);
  const be = backend as unknown as CpuBackend;
  const n = tf.util.sizeFromShape(x.shape);
  const xo = new Float32Array(n);
  const mo = new Float32Array(n);
  const vo = new Float32Array(n);
  const val = (t: tf.TensorInfo) => be.data.get(t.dataId).values;
  adamLoop(val(x), val(g), val(m), val(v), xo, mo, vo, attrs as unknown as AdamUpdateAttrs);
  return [be.makeTensorInfo(x.shape, 'float32', xo), be.makeTensorInfo(x.shape, 'float32', mo), be.makeTensorInfo(x.shape, 'float32', vo)];
};

/** Registers `PclAdamUpdate` on the wasm and cpu backends. Idempotent. */
export function registerFusedAdamKernels(): void {
  for (const [backendName, kernelFunc] of [
    ['wasm', wasmAdamUpdate],
    ['cpu', cpuAdamUpdate],
  ] as const) {
    if (!tf.getKernel(ADAM_UPDATE_KERNEL, backendName)) tf.registerKernel({ kernelName: ADAM_UPDATE_KERNEL, backendName, kernelFunc });
  }
}

/** Whether the fused kernel runs on the active backend (else the optimizer composes tfjs ops). */
export function fusedAdamAvailable(): boolean {
  return tf.getKernel(ADAM_UPDATE_KERNEL, tf.getBackend()) !== undefined;
}

/** x', m', v' of one Adam update (new tensors): the fused kernel when `fused`, else tfjs ops. */
function adamUpdateOf(x: tf.Tensor, g: tf.Tensor, m: tf.Tensor, v: tf.Tensor, attrs: AdamUpdateAttrs, fused: boolean): { x: tf.Tensor; m: tf.Tensor; v: tf.Tensor } {
  if (fused) {
    const [xo, mo, vo] = tf.engine().runKernel(ADAM_UPDATE_KERNEL, { x, g, m, v }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
    return { x: xo!, m: mo!, v: vo! };
  }
  return tf.tidy(() => {
    const mo = tf.add(tf.mul(m, attrs.beta1), tf.mul(g, 1 - attrs.beta1));
    const vo = tf.add(tf.mul(v, attrs.beta2), tf.mul(tf.square(g), 1 - attrs.beta2));
    const upd = tf.div(tf.mul(tf.div(mo, attrs.c1), attrs.lr), tf.add(tf.sqrt(tf.div(vo, attrs.c2)), attrs.epsilon));
    return { x: tf.sub(x, upd), m: mo, v: vo };
  });
}

/** Hyperparameters and step number of {@link adamStep}. */
export interface AdamStepParams {
  lr: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  /** This update's step number t ≥ 1 (bias corrections 1 − β^t). */
  step: number;
}

/**
 * One Adam update of plain tensors (no variables, no optimizer): returns x', m', v' as new tensors
 * owned by the caller, with the arithmetic of {@link FusedAdamOptimizer} (the fused kernel where the
 * backend has it). For loops that reshape their state between steps, e.g. C&W dropping finished rows
 * of x, m and v together.
 */
export function adamStep(x: tf.Tensor, g: tf.Tensor, m: tf.Tensor, v: tf.Tensor, p: AdamStepParams): { x: tf.Tensor; m: tf.Tensor; v: tf.Tensor } {
  const beta1 = p.beta1 ?? 0.9;
  const beta2 = p.beta2 ?? 0.999;
  const epsilon = p.epsilon ?? tf.backend()?.epsilon() ?? 1e-7;
  assert(Number.isFinite(p.lr) && p.lr > 0, () => `adamStep: learning rate must be positive, got ${p.lr}`, ArgumentError);
  assert(Number.isInteger(p.step) && p.step >= 1, () => `adamStep: step must be an integer ≥ 1, got ${p.step}`, ArgumentError);
  assert(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, () => `adamStep: betas must lie in [0, 1), got ${beta1}, ${beta2}`, ArgumentError);
  for (const [name, t] of [['g', g], ['m', m], ['v', v]] as const) {
    assert(tf.util.arraysEqual(t.shape, x.shape), () => `adamStep: ${name} has shape [${t.shape.join(', ')}], expected x's [${x.shape.join(', ')}]`, ArgumentError);
  }
  registerFusedAdamKernels();
  const attrs = { lr: p.lr, beta1, beta2, epsilon, c1: 1 - Math.pow(beta1, p.step), c2: 1 - Math.pow(beta2, p.step) };
  return adamUpdateOf(x, g, m, v, attrs, fusedAdamAvailable());
}

/**
 * Adam (Kingma & Ba) with tfjs's defaults and update rule, one kernel per variable and step.
 * A drop-in for `tf.train.adam(lr, beta1, beta2, epsilon)` in `minimize`/`applyGradients` loops;
 * `learningRate` may be changed between steps (learning-rate schedules). The moments are
 * variables owned by the optimizer; `dispose()` frees them.
 */
export class FusedAdamOptimizer extends tf.Optimizer {
  static get className(): string {
    return 'PclFusedAdam';
  }

  private readonly moments = new Map<string, { name: string; m: tf.Variable; v: tf.Variable }>();

  constructor(
    public learningRate: number,
    public readonly beta1 = 0.9,
    public readonly beta2 = 0.999,
    public readonly epsilon = tf.backend()?.epsilon() ?? 1e-7,
  ) {
    super();
    assert(Number.isFinite(learningRate) && learningRate > 0, () => `FusedAdamOptimizer: learning rate must be positive, got ${learningRate}`, ArgumentError);
    assert(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, () => `FusedAdamOptimizer: betas must lie in [0, 1), got ${beta1}, ${beta2}`, ArgumentError);
  }

  override applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
    const list = Array.isArray(variableGradients)
      ? variableGradients
      : Object.keys(variableGradients).map((name) => ({ name, tensor: variableGradients[name]! }));
    const t = this.iterations + 1; // this step's number (incremented below, as tfjs's optimizers do)
    const c1 = 1 - Math.pow(this.beta1, t);
    const c2 = 1 - Math.pow(this.beta2, t);
    const fused = fusedAdamAvailable();
    for (const { name, tensor: grad } of list) {
      if (grad == null) continue;
      const variable = tf.engine().registeredVariables[name];
      assert(variable !== undefined, () => `FusedAdamOptimizer: no variable named '${name}'`, ArgumentError);
      const { m, v } = this.momentsFor(name, variable);
      tf.tidy(() => {
        const attrs = { lr: this.learningRate, beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon, c1, c2 };
        const r = adamUpdateOf(variable, grad, m, v, attrs, fused);
        variable.assign(r.x);
        m.assign(r.m);
        v.assign(r.v);
      });
    }
    this.incrementIterations();
  }

  override dispose(): void {
    for (const { m, v } of this.moments.values()) {
      m.dispose();
      v.dispose();
    }
    this.moments.clear();
    super.dispose();
  }

  override async getWeights(): Promise<NamedTensor[]> {
    const out: NamedTensor[] = [await this.saveIterations()];
    for (const { name, m } of this.moments.values()) out.push({ name: `${name}/m`, tensor: m });
    for (const { name, v } of this.moments.values()) out.push({ name: `${name}/v`, tensor: v });
    return out;
  }

  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    const rest = await this.extractIterations(weightValues);
    for (const { name, tensor } of rest) {
      const mv = this.momentsFor(name.replace(/\/[mv]$/, ''), tensor);
      (name.endsWith('/m') ? mv.m : mv.v).assign(tensor);
    }
  }

  /** The moment variables of the variable named `name` (zeros shaped like `like` the first time). */
  private momentsFor(name: string, like: tf.Tensor): { name: string; m: tf.Variable; v: tf.Variable } {
    let mv = this.moments.get(name);
    if (!mv) {
      mv = { name, m: tf.tidy(() => tf.zerosLike(like).variable(false)), v: tf.tidy(() => tf.zerosLike(like).variable(false)) };
      this.moments.set(name, mv);
    }
    return mv;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { learningRate: this.learningRate, beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon };
  }
}

/** `tf.train.adam`'s signature, fused where the backend has the kernel. */
export function fusedAdam(lr = 0.001, beta1 = 0.9, beta2 = 0.999, epsilon?: number): FusedAdamOptimizer {
  registerFusedAdamKernels();
  return new FusedAdamOptimizer(lr, beta1, beta2, epsilon);
}
