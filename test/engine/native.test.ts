/**
 * The native engine (oneDNN kernels on the wasm backend's tensors, `src/engine/native*.ts`) against
 * the `cpu` backend. Runs where the addon is built (`apt-get install libdnnl-dev` then `npm ci`);
 * CI sets PCL_REQUIRE_NATIVE=1 so that a missing addon fails there instead of leaving these
 * comparisons out. The wasm kernels themselves are tested with the native engine off in
 * kernels.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import os from 'node:os';
import { initEngine } from '../../src/engine/backend.js';
import { WorkerPool, defaultPoolSize } from '../../src/engine/pool.js';
import { loadNativeAddon, nativeThreads, type NativeAddon } from '../../src/engine/native.js';
import { registerNativeKernels } from '../../src/engine/native-kernels.js';
import { ADAM_UPDATE_KERNEL } from '../../src/engine/fused-adam.js';
import { Rng } from '../../src/util/rng.js';

type Data = { shape: number[]; data: Float32Array };

function randn(shape: number[], seed: number, step?: number): Data {
  const rng = new Rng(seed);
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) {
    const v = rng.normal();
    data[i] = step ? Math.round(v / step) * step : v;
  }
  return { shape, data };
}

async function on(backend: 'cpu' | 'wasm', inputs: Data[], fn: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[]) {
  await tf.setBackend(backend);
  const xs = inputs.map((d) => tf.tensor(d.data, d.shape));
  try {
    const out = fn(...xs);
    const outs = Array.isArray(out) ? out : [out];
    const vals = outs.map((o) => ({ shape: o.shape.slice(), data: o.dataSync() as Float32Array }));
    tf.dispose(outs);
    return vals;
  } finally {
    tf.dispose(xs);
  }
}

function relErr(got: Data[], want: Data[]): number {
  expect(got.map((g) => g.shape)).toEqual(want.map((w) => w.shape));
  let worst = 0;
  for (let k = 0; k < want.length; k++) {
    let scale = 1;
    for (const v of want[k]!.data) scale = Math.max(scale, Math.abs(v));
    for (let i = 0; i < want[k]!.data.length; i++) {
      worst = Math.max(worst, Math.abs(got[k]!.data[i]! - want[k]!.data[i]!) / scale);
    }
  }
  return worst;
}

const load = loadNativeAddon();
const hasNative = load.addon !== undefined;

/** Calls per addon function, counted by the wrapper registered in beforeAll. */
const calls = new Map<string, number>();
function counted(addon: NativeAddon): NativeAddon {
  const wrapper: Record<string, unknown> = {};
  const names = ['setThreads', 'info', 'clearCache', 'conv2d', 'conv2dBackpropInput', 'conv2dBackpropFilter', 'matMul', 'maxPool', 'maxPoolGrad', 'mul', 'sum', 'adamUpdate'];
  for (const name of names) {
    const fn = (addon as unknown as Record<string, (...a: unknown[]) => unknown>)[name]!;
    wrapper[name] = (...args: unknown[]) => {
      calls.set(name, (calls.get(name) ?? 0) + 1);
      return fn.apply(addon, args);
    };
  }
  return wrapper as unknown as NativeAddon;
}

/** Compares wasm + native against cpu, and checks that `kernel` ran natively. */
async function compare(inputs: Data[], fn: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[], kernel?: string): Promise<number> {
  const want = await on('cpu', inputs, fn);
  const before = kernel ? (calls.get(kernel) ?? 0) : 0;
  const got = await on('wasm', inputs, fn);
  if (kernel) expect(calls.get(kernel) ?? 0, `native ${kernel} calls`).toBeGreaterThan(before);
  return relErr(got, want);
}

test('the native engine is active when built, and CI requires it', async () => {
  const info = await initEngine('wasm');
  if (process.env.PCL_REQUIRE_NATIVE === '1') expect(load.addon, hasNative ? '' : (load as { reason: string }).reason).toBeDefined();
  if (hasNative) {
    expect(info.native?.kernels).toEqual(expect.arrayContaining(['Conv2D', 'FusedConv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter', 'BatchMatMul', '_FusedMatMul', 'MaxPool', 'MaxPoolGrad']));
    expect(info.native?.onednn).toMatch(/^\d+\.\d+/);
    expect(info.summary).toMatch(/native \(oneDNN/);
  } else {
    expect(info.native).toBeUndefined();
    expect(info.summary).toMatch(/native engine off/);
  }
});

test('PCL_NATIVE_THREADS sets the thread count and is validated', () => {
  const old = process.env.PCL_NATIVE_THREADS;
  try {
    process.env.PCL_NATIVE_THREADS = '3';
    expect(nativeThreads()).toBe(3);
    process.env.PCL_NATIVE_THREADS = 'two';
    expect(() => nativeThreads()).toThrow(/PCL_NATIVE_THREADS: expected a positive integer, got 'two'/);
  } finally {
    if (old === undefined) delete process.env.PCL_NATIVE_THREADS;
    else process.env.PCL_NATIVE_THREADS = old;
  }
});

describe.runIf(hasNative)('WorkerPool workers', () => {
  test('each worker runs the native engine on cores / pool size threads, and gets the main thread\'s results', async () => {
    await initEngine('wasm');
    const pool = new WorkerPool({ size: 2 });
    try {
      const task = new URL('./native-pool-task.ts', import.meta.url);
      const out = await pool.map<Record<string, never>, { threads: number | null; threadId: number; grad: number[] }>(task.href, 'nativeThreadsTask', [{}, {}]);
      const want = Math.max(1, Math.floor(os.availableParallelism() / defaultPoolSize()));
      for (const o of out) expect(o.threads).toBe(want);
      const { nativeThreadsTask } = await import('./native-pool-task.js');
      const here = await nativeThreadsTask();
      expect(here.threads).toBe(Number(process.env.PCL_NATIVE_THREADS ?? os.availableParallelism()));
      for (const o of out) for (let i = 0; i < here.grad.length; i++) expect(o.grad[i]).toBeCloseTo(here.grad[i]!, 4);
    } finally {
      await pool.close();
    }
  });
});

describe.runIf(hasNative)('native kernels match cpu', () => {
  beforeAll(async () => {
    await initEngine('wasm');
    registerNativeKernels(counted(load.addon!));
  });
  afterAll(async () => {
    registerNativeKernels(load.addon!);
    await tf.setBackend('wasm');
  });

  type Pad = 'same' | 'valid' | [[0, 0], [number, number], [number, number], [0, 0]];
  interface ConvCase {
    name: string;
    x: [number, number, number, number];
    f: [number, number, number, number];
    s: number | [number, number];
    pad: Pad;
    d?: number | [number, number];
  }
  const CONV: ConvCase[] = [
    { name: 'batch 1, 3x3 s1 same, odd sizes', x: [1, 7, 5, 3], f: [3, 3, 3, 4], s: 1, pad: 'same' },
    { name: '3x2 s2 same', x: [2, 8, 9, 2], f: [3, 2, 2, 5], s: 2, pad: 'same' },
    { name: '3x3 s2 valid, odd sizes', x: [3, 9, 7, 4], f: [3, 3, 4, 3], s: 2, pad: 'valid' },
    { name: '1x1 s1 valid', x: [1, 6, 6, 1], f: [1, 1, 1, 2], s: 1, pad: 'valid' },
    { name: '5x4 strides [2,3] same', x: [2, 11, 10, 3], f: [5, 4, 3, 2], s: [2, 3], pad: 'same' },
    { name: '2x2 s1 same (asymmetric padding)', x: [2, 5, 5, 20], f: [2, 2, 20, 17], s: 1, pad: 'same' },
    { name: '3x3 s2 valid, even size (uncovered last row)', x: [1, 8, 8, 3], f: [3, 3, 3, 2], s: 2, pad: 'valid' },
    { name: 'explicit padding', x: [2, 6, 7, 2], f: [3, 3, 2, 3], s: 1, pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
    { name: 'wide, 3x3 s2 same, odd sizes', x: [2, 9, 7, 33], f: [3, 3, 33, 19], s: 2, pad: 'same' },
    { name: 'wide, batch 1, 2x2 s1 valid', x: [1, 8, 8, 17], f: [2, 2, 17, 5], s: 1, pad: 'valid' },
  ];
  const DILATED: ConvCase[] = [
    { name: 'dilation 2, same', x: [2, 9, 8, 3], f: [3, 3, 3, 4], s: 1, pad: 'same', d: 2 },
    { name: 'dilation [2,3], valid', x: [1, 11, 12, 5], f: [2, 3, 5, 6], s: 1, pad: 'valid', d: [2, 3] },
  ];
  const outShape = (c: ConvCase) =>
    tf.backend_util.computeConv2DInfo(c.x, c.f, c.s, 1, c.pad).outShape as [number, number, number, number];

  test.each([...CONV, ...DILATED])('Conv2D: $name', async (c) => {
    const err = await compare(
      [randn(c.x, 1), randn(c.f, 2)],
      (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, c.s, c.pad, 'NHWC', c.d ?? 1),
      'conv2d',
    );
    expect(err).toBeLessThan(1e-5);
  });

  const ACTS = ['linear', 'relu', 'relu6', 'elu', 'sigmoid', 'leakyrelu'] as const;
  test.each(ACTS)('FusedConv2D with bias and %s', async (act) => {
    const c = CONV[8]!;
    const err = await compare(
      [randn(c.x, 3), randn(c.f, 4), randn([c.f[3]], 5)],
      (x, w, b) =>
        tf.fused.conv2d({ x: x as tf.Tensor4D, filter: w as tf.Tensor4D, strides: c.s, pad: c.pad, bias: b, activation: act, leakyreluAlpha: 0.3 }),
      'conv2d',
    );
    expect(err).toBeLessThan(1e-5);
  });

  test.each(CONV)('Conv2DBackpropInput: $name', async (c) => {
    const err = await compare(
      [randn(outShape(c), 6), randn(c.f, 7)],
      (dy, w) =>
        tf.engine().runKernel('Conv2DBackpropInput', { dy: dy!, filter: w! }, {
          strides: c.s,
          pad: c.pad,
          dataFormat: 'NHWC',
          dimRoundingMode: undefined,
          inputShape: c.x,
        } as unknown as tf.NamedAttrMap) as tf.Tensor,
      'conv2dBackpropInput',
    );
    expect(err).toBeLessThan(1e-5);
  });

  test.each(CONV)('Conv2DBackpropFilter: $name', async (c) => {
    const err = await compare(
      [randn(c.x, 8), randn(outShape(c), 9)],
      (x, dy) =>
        tf.engine().runKernel('Conv2DBackpropFilter', { x: x!, dy: dy! }, {
          strides: c.s,
          pad: c.pad,
          dataFormat: 'NHWC',
          dimRoundingMode: undefined,
          filterShape: c.f,
        } as unknown as tf.NamedAttrMap) as tf.Tensor,
      'conv2dBackpropFilter',
    );
    expect(err).toBeLessThan(1e-5);
  });

  const MM: { name: string; a: number[]; b: number[]; tA: boolean; tB: boolean }[] = [];
  for (const tA of [false, true]) {
    for (const tB of [false, true]) {
      MM.push({ name: `2-D tA=${tA} tB=${tB}`, a: tA ? [13, 7] : [7, 13], b: tB ? [5, 13] : [13, 5], tA, tB });
      MM.push({ name: `batched 3-D tA=${tA} tB=${tB}`, a: tA ? [3, 6, 4] : [3, 4, 6], b: tB ? [3, 9, 6] : [3, 6, 9], tA, tB });
    }
  }
  MM.push({ name: '1-row product', a: [1, 31], b: [31, 17], tA: false, tB: false });
  MM.push({ name: 'broadcast batch of 1 (a)', a: [1, 5, 3], b: [4, 3, 7], tA: false, tB: false });
  MM.push({ name: 'broadcast batch of 1 (b), rank 4', a: [2, 3, 5, 3], b: [1, 1, 7, 3], tA: false, tB: true });
  test.each(MM)('BatchMatMul: $name', async (c) => {
    const err = await compare([randn(c.a, 10), randn(c.b, 11)], (a, b) => tf.matMul(a!, b!, c.tA, c.tB), 'matMul');
    expect(err).toBeLessThan(1e-5);
  });

  test('BatchMatMul with a broadcast the native kernel does not cover falls back and is still right', async () => {
    const err = await compare([randn([4, 1, 3, 5], 12), randn([1, 2, 5, 7], 13)], (a, b) => tf.matMul(a!, b!));
    expect(err).toBeLessThan(1e-5);
  });

  test.each(ACTS)('_FusedMatMul with bias and %s', async (act) => {
    const err = await compare(
      [randn([9, 14], 14), randn([11, 14], 15), randn([11], 16)],
      (a, b, bias) => tf.fused.matMul({ a: a!, b: b!, transposeB: true, bias, activation: act, leakyreluAlpha: 0.3 }),
      'matMul',
    );
    expect(err).toBeLessThan(1e-5);
  });

  interface PoolCase {
    name: string;
    x: [number, number, number, number];
    f: number | [number, number];
    s: number | [number, number];
    pad: 'same' | 'valid';
  }
  const POOL: PoolCase[] = [
    { name: '2x2 s2 valid', x: [2, 8, 8, 3], f: 2, s: 2, pad: 'valid' },
    { name: 'batch 1, 2x2 s2 valid, odd sizes', x: [1, 7, 9, 2], f: 2, s: 2, pad: 'valid' },
    { name: '2x2 s2 same, odd sizes', x: [2, 7, 5, 2], f: 2, s: 2, pad: 'same' },
    { name: '3x3 s2 same (overlapping)', x: [2, 9, 8, 3], f: 3, s: 2, pad: 'same' },
    { name: '3x3 s1 same', x: [1, 6, 7, 2], f: 3, s: 1, pad: 'same' },
    { name: '2x3 strides [1,2] valid', x: [2, 6, 9, 2], f: [2, 3], s: [1, 2], pad: 'valid' },
    { name: '3x3 s3 same, odd sizes', x: [1, 10, 11, 1], f: 3, s: 3, pad: 'same' },
  ];
  test.each(POOL)('MaxPool: $name', async (c) => {
    const err = await compare([randn(c.x, 17)], (x) => tf.maxPool(x as tf.Tensor4D, c.f, c.s, c.pad), 'maxPool');
    expect(err).toBe(0);
  });
  for (const variant of ['continuous', 'ties', 'relu ties'] as const) {
    test.each(POOL)(`MaxPoolGrad, ${variant}: $name`, async (c) => {
      const x = randn(c.x, 18, variant === 'continuous' ? undefined : 0.5);
      if (variant === 'relu ties') x.data.forEach((v, i) => (x.data[i] = Math.max(0, v)));
      const dy = randn(tf.backend_util.computePool2DInfo(c.x, c.f, c.s, 1, c.pad).outShape, 19);
      const err = await compare(
        [x, dy],
        (xt, dyt) => {
          const y = tf.maxPool(xt as tf.Tensor4D, c.f, c.s, c.pad);
          const dx = tf.engine().runKernel('MaxPoolGrad', { dy: dyt!, input: xt!, output: y }, {
            filterSize: c.f,
            strides: c.s,
            pad: c.pad,
            dimRoundingMode: undefined,
          } as unknown as tf.NamedAttrMap) as tf.Tensor;
          y.dispose();
          return dx;
        },
        'maxPoolGrad',
      );
      expect(err).toBeLessThan(1e-6);
    });
  }

  test.each([
    { name: 'same shape', a: [64, 33, 32], b: [64, 33, 32] },
    { name: 'broadcast (falls back)', a: [64, 33, 31], b: [31] },
  ])('Multiply, $name', async (c) => {
    const err = await compare([randn(c.a, 26), randn(c.b, 27)], (a, b) => tf.mul(a!, b!), c.a.length === c.b.length ? 'mul' : undefined);
    expect(err).toBeLessThan(1e-6);
  });

  test.each([
    { name: 'leading axes (bias gradient)', shape: [8, 33, 31, 30], axis: [0, 1, 2], keepDims: false },
    { name: 'leading axis, keepDims', shape: [300, 257], axis: 0, keepDims: true },
    { name: 'trailing axes', shape: [7, 40, 33, 31], axis: [2, 3], keepDims: false },
    { name: 'trailing axis, negative, keepDims', shape: [257, 300], axis: -1, keepDims: true },
    { name: 'middle axis (falls back)', shape: [40, 50, 41], axis: 1, keepDims: false },
  ])('Sum, $name', async (c) => {
    const native = !(c.name.includes('falls back'));
    const err = await compare([randn(c.shape, 28)], (x) => tf.sum(x!, c.axis, c.keepDims), native ? 'sum' : undefined);
    expect(err).toBeLessThan(1e-5);
  });

  test.each([
    { name: 'leading axes (batch-norm moments)', shape: [8, 33, 31, 30], axis: [0, 1, 2], keepDims: true },
    { name: 'trailing axes', shape: [7, 40, 33, 31], axis: [2, 3], keepDims: false },
    { name: 'middle axis (falls back)', shape: [40, 50, 41], axis: 1, keepDims: false },
  ])('Mean, $name', async (c) => {
    const native = !(c.name.includes('falls back'));
    const err = await compare([randn(c.shape, 29)], (x) => tf.mean(x!, c.axis, c.keepDims), native ? 'sum' : undefined);
    expect(err).toBeLessThan(1e-5);
  });

  test.each([
    { name: 'small (one thread)', shape: [300, 100] },
    { name: 'large (parallel), odd size', shape: [785, 301] },
  ])('PclAdamUpdate (fused Adam), $name', async (c) => {
    const attrs = { lr: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, c1: 1 - 0.9 ** 3, c2: 1 - 0.999 ** 3 } as unknown as tf.NamedAttrMap;
    const v = randn(c.shape, 33);
    v.data.forEach((x, i) => (v.data[i] = Math.abs(x))); // second moments are non-negative
    const err = await compare(
      [randn(c.shape, 30), randn(c.shape, 31), randn(c.shape, 32), v],
      (x, g, m, vv) => tf.engine().runKernel(ADAM_UPDATE_KERNEL, { x: x!, g: g!, m: m!, v: vv! }, attrs) as tf.Tensor[],
      'adamUpdate',
    );
    expect(err).toBeLessThan(1e-5);
  });

  test('the input gradient an attack takes (CNN, cross-entropy) matches cpu', async () => {
    const inputs = [randn([5, 12, 12, 3], 20), randn([3, 3, 3, 8], 21), randn([2, 2, 8, 6], 22), randn([6 * 3 * 3, 4], 23), randn([4], 24)];
    const err = await compare(inputs, (x, w1, w2, w3, b3) => {
      const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 1], 'int32'), 4);
      const g = tf.grad((xx: tf.Tensor) => {
        const h1 = tf.fused.conv2d({ x: xx as tf.Tensor4D, filter: w1 as tf.Tensor4D, strides: 1, pad: 'same', activation: 'relu' });
        const p1 = tf.maxPool(h1, 2, 2, 'same'); // 12 → 6
        const h2 = tf.relu(tf.conv2d(p1, w2 as tf.Tensor4D, 2, 'same')); // 6 → 3
        const p2 = tf.maxPool(h2, 1, 1, 'valid');
        const logits = tf.fused.matMul({ a: tf.reshape(p2, [5, 54]), b: w3 as tf.Tensor2D, bias: b3 });
        return tf.losses.softmaxCrossEntropy(labels, logits, undefined, tf.Reduction.SUM);
      })(x!);
      labels.dispose();
      return g;
    });
    expect(err).toBeLessThan(1e-4);
  });

  test('a tiny CNN model.fit gives the same weights as on cpu', async () => {
    const xs = randn([16, 8, 8, 1], 25);
    const labels = new Float32Array(16 * 3);
    for (let i = 0; i < 16; i++) labels[i * 3 + (i % 3)] = 1;
    const fit = async (backend: 'cpu' | 'wasm') => {
      await tf.setBackend(backend);
      const model = tf.sequential({
        layers: [
          tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
          tf.layers.maxPooling2d({ poolSize: 2 }),
          tf.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
          tf.layers.flatten(),
          tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }),
        ],
      });
      model.compile({ optimizer: tf.train.sgd(0.1), loss: 'categoricalCrossentropy' });
      const x = tf.tensor(xs.data, xs.shape);
      const y = tf.tensor(labels, [16, 3]);
      const hist = await model.fit(x, y, { epochs: 2, batchSize: 8, shuffle: false, verbose: 0 });
      const weights = model.getWeights().map((t) => ({ shape: t.shape.slice(), data: t.dataSync() as Float32Array }));
      tf.dispose([x, y]);
      model.dispose();
      return { loss: hist.history.loss as number[], weights };
    };
    const cpu = await fit('cpu');
    const before = calls.get('conv2dBackpropFilter') ?? 0;
    const wasm = await fit('wasm');
    expect(calls.get('conv2dBackpropFilter') ?? 0).toBeGreaterThan(before);
    expect(relErr(wasm.weights, cpu.weights)).toBeLessThan(1e-4);
    for (let i = 0; i < cpu.loss.length; i++) expect(wasm.loss[i]).toBeCloseTo(cpu.loss[i]!, 4);
  });

  test('native kernels leak no tensors and no wasm heap allocations', async () => {
    await tf.setBackend('wasm');
    const x = tf.randomNormal([2, 9, 8, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const w = tf.randomNormal([3, 3, 3, 4], 0, 1, 'float32', 2) as tf.Tensor4D;
    const a = tf.reshape(x, [18, 24]);
    const run = () => {
      const [gx, gw] = tf.grads((xx: tf.Tensor, ww: tf.Tensor) =>
        tf.sum(tf.maxPool(tf.fused.conv2d({ x: xx as tf.Tensor4D, filter: ww as tf.Tensor4D, strides: 2, pad: 'same', activation: 'relu' }), 2, 2, 'same')),
      )([x, w]);
      const m1 = tf.matMul(a, a, true, false);
      const m2 = tf.fused.matMul({ a, b: a, transposeB: true, activation: 'relu' });
      tf.dispose([gx, gw, m1, m2]);
    };
    run();
    const backend = tf.backend() as unknown as { numDataIds(): number };
    const before = { ...tf.memory(), ids: backend.numDataIds() };
    for (let i = 0; i < 20; i++) run();
    expect(tf.memory().numTensors).toBe(before.numTensors);
    expect(tf.memory().numBytes).toBe(before.numBytes);
    expect(backend.numDataIds()).toBe(before.ids);
    tf.dispose([x, w, a]);
  });
});

describe.runIf(hasNative)('bad input reaching the native engine is a JavaScript error, never a crash', () => {
  const addon = load.addon!;
  const heap = new ArrayBuffer(4096);
  const geom = (over: Partial<Record<number, number>> = {}) => {
    // n h w ic kh kw oc oh ow sh sw dh dw pt pl pb pr: 1x4x4x1 input, 3x3x1x1 filter, valid → 2x2
    const g = Int32Array.from([1, 4, 4, 1, 3, 3, 1, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0]);
    for (const [k, v] of Object.entries(over)) g[Number(k)] = v!;
    return g;
  };

  test('tensors outside the heap, misaligned or negative offsets', () => {
    expect(() => addon.conv2d(heap, 4096, 0, 128, geom(), -1, 0, 0)).toThrow(/x: 16 floats at byte 4096 do not fit/);
    expect(() => addon.conv2d(heap, 2, 0, 128, geom(), -1, 0, 0)).toThrow(RangeError);
    expect(() => addon.conv2dBackpropFilter(heap, -8, 0, 128, geom())).toThrow(RangeError);
    expect(() => addon.matMul(heap, 0, 0, 0, Int32Array.from([1, 1, 100, 100, 100, 0, 0]), -1, 0, 0, 0)).toThrow(/do not fit/);
    expect(() => addon.maxPool(heap, 0, 4000, Int32Array.from([1, 4, 4, 8, 2, 2, 2, 2, 2, 2, 1, 1, 0, 0]))).toThrow(/do not fit/);
  });

  test('adamUpdate: out-of-heap tensors and malformed coefficients', () => {
    const coef = Float32Array.of(0.1, 0.9, 0.999, 1e-7, 0.1, 0.001);
    expect(() => addon.adamUpdate(heap, 0, 0, 0, 0, 0, 0, 3072, 512, coef)).toThrow(/v output: 512 floats at byte 3072 do not fit/);
    expect(() => addon.adamUpdate(heap, 0, 0, 0, 0, 0, 0, 0, 0, coef)).toThrow(/size must be positive/);
    expect(() => addon.adamUpdate(heap, 0, 0, 0, 0, 0, 0, 0, 4, coef.subarray(0, 5))).toThrow(/coefficients must be a Float32Array/);
    expect(() => addon.adamUpdate(heap, 0, 0, 0, 0, 0, 0, 0, 4, [1, 2, 3, 4, 5, 6] as unknown as Float32Array)).toThrow(TypeError);
  });

  test('inconsistent shapes and bad arguments', () => {
    expect(() => addon.conv2d(heap, 0, 64, 128, geom({ 7: 3 }), -1, 0, 0)).toThrow(/output 3x2 does not match input 4x4 with filter 3x3 \(expected 2x2\)/);
    expect(() => addon.conv2d(heap, 0, 64, 128, geom({ 4: 0 }), -1, 0, 0)).toThrow(/must be positive/);
    expect(() => addon.conv2d(heap, 0, 64, 128, geom().subarray(0, 5), -1, 0, 0)).toThrow(/geom: expected 17 values, got 5/);
    expect(() => addon.conv2d(heap, 0, 64, 128, geom(), -1, 9, 0)).toThrow(/activation: unknown code 9/);
    expect(() => addon.conv2d(new Float32Array(4) as unknown as ArrayBuffer, 0, 64, 128, geom(), -1, 0, 0)).toThrow(/heap: expected an ArrayBuffer/);
    expect(() => addon.matMul(heap, 0, 0, 0, Int32Array.from([2, 3, 2, 2, 2, 0, 0]), -1, 0, 0, 0)).toThrow(/do not broadcast/);
    expect(() => addon.conv2d(heap, 0.5, 64, 128, geom(), -1, 0, 0)).toThrow(/xOffset: expected an integer/);
    expect(() => addon.setThreads(0)).toThrow(/threads: expected 1\.\.1024, got 0/);
  });

  test('a wrong shape or dtype at a native kernel throws a named error', async () => {
    await initEngine('wasm');
    const dy = tf.zeros([1, 3, 3, 2]);
    const w = tf.zeros([3, 3, 1, 2]);
    const x = tf.zeros([1, 4, 4, 1]);
    try {
      expect(() =>
        tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { strides: 1, pad: 'valid', dataFormat: 'NHWC', inputShape: [1, 4, 4, 1] } as unknown as tf.NamedAttrMap),
      ).toThrow(/native kernel: dy must have shape \[1, 2, 2, 2\], got \[1, 3, 3, 2\]/);
      expect(() =>
        tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: 1, pad: 'valid', dataFormat: 'NHWC', filterShape: [3, 3, 1, 2] } as unknown as tf.NamedAttrMap),
      ).toThrow(/native kernel: dy must have shape/);
      expect(() => tf.engine().runKernel('BatchMatMul', { a: tf.zeros([2, 3]), b: tf.zeros([4, 5]) }, {})).toThrow(
        /matMul inner dimensions must agree/,
      );
      // int32 goes to the wasm kernel, which refuses it with an error of its own.
      expect(() => tf.engine().runKernel('BatchMatMul', { a: tf.ones([2, 3], 'int32'), b: tf.ones([3, 2], 'int32') }, {})).toThrow(
        /float32/,
      );
    } finally {
      tf.dispose([dy, w, x]);
    }
  });
});
