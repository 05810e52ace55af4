/** Types of the native engine's addon, shared by the core (backend.ts) and the Node loader (native.ts). */

/** The addon's functions (all synchronous; offsets are byte offsets in `heap`). */
export interface NativeAddon {
  setThreads(threads: number): void;
  info(): { onednn: string; threads: number; maxThreads: number; cachedPrimitives: number };
  clearCache(): void;
  conv2d(heap: ArrayBuffer, x: number, filter: number, out: number, geom: Int32Array, bias: number, act: number, alpha: number): void;
  conv2dBackpropInput(heap: ArrayBuffer, dy: number, filter: number, out: number, geom: Int32Array): void;
  conv2dBackpropFilter(heap: ArrayBuffer, x: number, dy: number, out: number, geom: Int32Array): void;
  matMul(
    heap: ArrayBuffer,
    a: number,
    b: number,
    out: number,
    dims: Int32Array,
    bias: number,
    biasLength: number,
    act: number,
    alpha: number,
  ): void;
  maxPool(heap: ArrayBuffer, x: number, out: number, geom: Int32Array): void;
  mul(heap: ArrayBuffer, a: number, b: number, out: number, size: number): void;
  sum(heap: ArrayBuffer, x: number, out: number, outer: number, inner: number, leading: number): void;
  maxPoolGrad(heap: ArrayBuffer, dy: number, x: number, out: number, geom: Int32Array): void;
  /** One Adam step (see `fused-adam.ts`); `coef` = [lr, beta1, beta2, epsilon, c1, c2]. */
  adamUpdate(heap: ArrayBuffer, x: number, g: number, m: number, v: number, xOut: number, mOut: number, vOut: number, size: number, coef: Float32Array): void;
  /** Training-mode batch norm of x [m, c] over its rows, then ReLU when relu = 1 (see `batch-norm.ts`). */
  batchNorm(heap: ArrayBuffer, x: number, gamma: number, beta: number, y: number, mean: number, variance: number, m: number, c: number, epsilon: number, relu: number): void;
  /** Its gradient: dx, dgamma, dbeta from dy and the forward's x, gamma, mean, variance and y. */
  batchNormGrad(
    heap: ArrayBuffer,
    dy: number,
    x: number,
    gamma: number,
    mean: number,
    variance: number,
    y: number,
    dx: number,
    dgamma: number,
    dbeta: number,
    m: number,
    c: number,
    epsilon: number,
    relu: number,
  ): void;
}

/** Result of {@link loadNativeAddon}: the addon, or why there is none. */
export type NativeLoad = { addon: NativeAddon; path: string } | { addon?: undefined; reason: string };
