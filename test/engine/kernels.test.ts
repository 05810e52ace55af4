import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { Rng } from '../../src/util/rng.js';

/** Seeded N(0,1) data of `shape`, optionally rounded to multiples of `step` (forces max ties). */
function randn(shape: number[], seed: number, step?: number): { shape: number[]; data: Float32Array } {
  const rng = new Rng(seed);
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) {
    const v = rng.normal();
    data[i] = step ? Math.round(v / step) * step : v;
  }
  return { shape, data };
}

type Data = { shape: number[]; data: Float32Array };

/** Runs `fn` on `backend` with fresh tensors made from `inputs`; returns the outputs' values. */
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

/** max |a − b| / max(1, max |b|) over all outputs, after checking shapes agree. */
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

/** Compares wasm (with the replacement kernels) against the cpu reference. */
async function compare(inputs: Data[], fn: (...xs: tf.Tensor[]) => tf.Tensor | tf.Tensor[]): Promise<number> {
  const want = await on('cpu', inputs, fn);
  const got = await on('wasm', inputs, fn);
  return relErr(got, want);
}

type Pad = 'same' | 'valid' | [[0, 0], [number, number], [number, number], [0, 0]];
interface ConvCase {
  name: string;
  x: [number, number, number, number];
  f: [number, number, number, number];
  s: number | [number, number];
  pad: Pad;
}

const CONV_CASES: ConvCase[] = [
  { name: 'batch 1, 3x3 s1 same, odd sizes', x: [1, 7, 5, 3], f: [3, 3, 3, 4], s: 1, pad: 'same' },
  { name: '3x2 s2 same', x: [2, 8, 9, 2], f: [3, 2, 2, 5], s: 2, pad: 'same' },
  { name: '3x3 s2 valid, odd sizes', x: [3, 9, 7, 4], f: [3, 3, 4, 3], s: 2, pad: 'valid' },
  { name: '1x1 s1 valid', x: [1, 6, 6, 1], f: [1, 1, 1, 2], s: 1, pad: 'valid' },
  { name: '5x4 strides [2,3] same', x: [2, 11, 10, 3], f: [5, 4, 3, 2], s: [2, 3], pad: 'same' },
  { name: '2x2 s1 valid', x: [2, 5, 5, 2], f: [2, 2, 2, 2], s: 1, pad: 'valid' },
  { name: '3x3 s2 valid, even size (uncovered last row)', x: [1, 8, 8, 3], f: [3, 3, 3, 2], s: 2, pad: 'valid' },
  { name: 'explicit padding', x: [2, 6, 7, 2], f: [3, 3, 2, 3], s: 1, pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
  // ≥ 16 input channels: Conv2DBackpropFilter takes its convolution form.
  { name: 'wide, 3x3 s2 same, odd sizes', x: [2, 9, 7, 20], f: [3, 3, 20, 6], s: 2, pad: 'same' },
  { name: 'wide, batch 1, 2x2 s1 valid', x: [1, 8, 8, 17], f: [2, 2, 17, 5], s: 1, pad: 'valid' },
  { name: 'wide, 3x3 s2 valid, even size', x: [3, 8, 10, 16], f: [3, 3, 16, 4], s: [2, 1], pad: 'valid' },
  { name: 'wide, explicit padding', x: [2, 5, 6, 16], f: [3, 2, 16, 3], s: 1, pad: [[0, 0], [2, 0], [1, 1], [0, 0]] },
];

function outShape(c: ConvCase): [number, number, number, number] {
  const info = tf.backend_util.computeConv2DInfo(c.x, c.f, c.s, 1, c.pad);
  return info.outShape as [number, number, number, number];
}

beforeAll(async () => {
  // These tests cover the wasm kernels; the native engine has its own (native.test.ts).
  process.env.PCL_NATIVE = '0';
  const info = await initEngine('wasm');
  expect(info.native).toBeUndefined();
  expect(info.fastKernels).toEqual(
    expect.arrayContaining(['Conv2DBackpropFilter', 'Conv2DBackpropInput', 'MaxPoolGrad', 'BatchMatMul']),
  );
});

afterAll(async () => {
  await tf.setBackend('wasm');
});

describe('Conv2DBackpropFilter on wasm matches cpu', () => {
  test.each(CONV_CASES)('$name', async (c) => {
    const x = randn(c.x, 1);
    const dy = randn(outShape(c), 2);
    const err = await compare([x, dy], (xt, dyt) =>
      tf.engine().runKernel('Conv2DBackpropFilter', { x: xt!, dy: dyt! }, {
        strides: c.s,
        pad: c.pad,
        dataFormat: 'NHWC',
        dimRoundingMode: undefined,
        filterShape: c.f,
      } as unknown as tf.NamedAttrMap) as tf.Tensor,
    );
    expect(err).toBeLessThan(1e-4);
  });
});

describe('NCHW data format', () => {
  const nchw = (sh: number[]) => [sh[0]!, sh[3]!, sh[1]!, sh[2]!];
  for (const c of [CONV_CASES[1]!, CONV_CASES[8]!]) {
    test(`Conv2DBackpropFilter and Conv2DBackpropInput, ${c.name}`, async () => {
      const x = randn(nchw(c.x), 17);
      const dy = randn(nchw(outShape(c)), 18);
      const w = randn(c.f, 19);
      const attrs = { strides: c.s, pad: c.pad, dataFormat: 'NCHW', dimRoundingMode: undefined };
      const err = await compare([x, dy, w], (xt, dyt, wt) => [
        tf.engine().runKernel('Conv2DBackpropFilter', { x: xt!, dy: dyt! }, {
          ...attrs,
          filterShape: c.f,
        } as unknown as tf.NamedAttrMap) as tf.Tensor,
        tf.engine().runKernel('Conv2DBackpropInput', { dy: dyt!, filter: wt! }, {
          ...attrs,
          inputShape: nchw(c.x),
        } as unknown as tf.NamedAttrMap) as tf.Tensor,
      ]);
      expect(err).toBeLessThan(1e-4);
    });
  }
});

describe('Conv2DBackpropInput on wasm matches cpu', () => {
  test.each(CONV_CASES)('$name', async (c) => {
    const dy = randn(outShape(c), 3);
    const w = randn(c.f, 4);
    const err = await compare([dy, w], (dyt, wt) =>
      tf.engine().runKernel('Conv2DBackpropInput', { dy: dyt!, filter: wt! }, {
        strides: c.s,
        pad: c.pad,
        dataFormat: 'NHWC',
        dimRoundingMode: undefined,
        inputShape: c.x,
      } as unknown as tf.NamedAttrMap) as tf.Tensor,
    );
    expect(err).toBeLessThan(1e-4);
  });

  test('conv2dTranspose (which runs Conv2DBackpropInput) matches cpu', async () => {
    const x = randn([2, 4, 5, 3], 5);
    const w = randn([3, 3, 6, 3], 6);
    const err = await compare([x, w], (xt, wt) =>
      tf.conv2dTranspose(xt as tf.Tensor4D, wt as tf.Tensor4D, [2, 8, 10, 6], 2, 'same'),
    );
    expect(err).toBeLessThan(1e-4);
  });
});

interface PoolCase {
  name: string;
  x: [number, number, number, number];
  f: number | [number, number];
  s: number | [number, number];
  pad: 'same' | 'valid';
}
const POOL_CASES: PoolCase[] = [
  { name: '2x2 s2 valid', x: [2, 8, 8, 3], f: 2, s: 2, pad: 'valid' },
  { name: 'batch 1, 2x2 s2 valid, odd sizes', x: [1, 7, 9, 2], f: 2, s: 2, pad: 'valid' },
  { name: '2x2 s2 same, odd sizes', x: [2, 7, 5, 2], f: 2, s: 2, pad: 'same' },
  { name: '3x3 s2 same (overlapping)', x: [2, 9, 8, 3], f: 3, s: 2, pad: 'same' },
  { name: '3x3 s1 same', x: [1, 6, 7, 2], f: 3, s: 1, pad: 'same' },
  { name: '2x3 strides [1,2] valid', x: [2, 6, 9, 2], f: [2, 3], s: [1, 2], pad: 'valid' },
  { name: '3x3 s3 same, odd sizes', x: [1, 10, 11, 1], f: 3, s: 3, pad: 'same' },
];

describe('MaxPoolGrad on wasm matches cpu', () => {
  // Inputs rounded to 0.5 (and ReLU'd in the second variant) make ties inside windows common:
  // the gradient must go to the first maximum only, exactly as the cpu kernel routes it.
  for (const variant of ['continuous', 'ties', 'relu ties'] as const) {
    test.each(POOL_CASES)(`${variant}: $name`, async (c) => {
      const x = randn(c.x, 7, variant === 'continuous' ? undefined : 0.5);
      if (variant === 'relu ties') x.data.forEach((v, i) => (x.data[i] = Math.max(0, v)));
      const yShape = tf.backend_util.computePool2DInfo(c.x, c.f, c.s, 1, c.pad).outShape;
      const dy = randn(yShape, 8);
      const err = await compare([x, dy], (xt, dyt) => {
        const y = tf.maxPool(xt as tf.Tensor4D, c.f, c.s, c.pad);
        const dx = tf.engine().runKernel('MaxPoolGrad', { dy: dyt!, input: xt!, output: y }, {
          filterSize: c.f,
          strides: c.s,
          pad: c.pad,
          dimRoundingMode: undefined,
        } as unknown as tf.NamedAttrMap) as tf.Tensor;
        y.dispose();
        return dx;
      });
      expect(err).toBeLessThan(1e-6);
    });
  }
});

describe('BatchMatMul with transposes on wasm matches cpu', () => {
  const cases: { name: string; a: number[]; b: number[]; tA: boolean; tB: boolean }[] = [];
  for (const tA of [false, true]) {
    for (const tB of [false, true]) {
      cases.push({ name: `2-D tA=${tA} tB=${tB}`, a: tA ? [13, 7] : [7, 13], b: tB ? [5, 13] : [13, 5], tA, tB });
      cases.push({ name: `batched 3-D tA=${tA} tB=${tB}`, a: tA ? [3, 6, 4] : [3, 4, 6], b: tB ? [3, 9, 6] : [3, 6, 9], tA, tB });
    }
  }
  cases.push({ name: 'broadcast batch, tA', a: [1, 2, 5, 3], b: [4, 2, 5, 7], tA: true, tB: false });
  cases.push({ name: 'broadcast batch, tB', a: [4, 1, 3, 5], b: [1, 2, 7, 5], tA: false, tB: true });
  test.each(cases)('$name', async (c) => {
    const err = await compare([randn(c.a, 9), randn(c.b, 10)], (a, b) => tf.matMul(a!, b!, c.tA, c.tB));
    expect(err).toBeLessThan(1e-5);
  });
});

describe('Slice on wasm (views the heap instead of copying the whole input) matches cpu', () => {
  const cases: { name: string; shape: number[]; begin: number[]; size: number[] }[] = [
    { name: 'rank 1', shape: [17], begin: [3], size: [9] },
    { name: 'rank 2 rows (contiguous)', shape: [9, 7], begin: [2, 0], size: [4, 7] },
    { name: 'rank 2 cols', shape: [9, 7], begin: [1, 2], size: [5, 3] },
    { name: 'rank 3, size -1', shape: [4, 5, 6], begin: [1, 1, 2], size: [-1, 3, -1] },
    { name: 'rank 4 inner whole', shape: [3, 5, 4, 6], begin: [1, 2, 0, 0], size: [2, 2, 4, 6] },
    { name: 'rank 4 partial channels', shape: [3, 5, 4, 6], begin: [0, 1, 1, 2], size: [3, 3, 2, 3] },
    { name: 'rank 5', shape: [2, 3, 2, 4, 5], begin: [1, 0, 1, 1, 1], size: [1, 3, 1, 2, 4] },
    { name: 'rank 6', shape: [2, 2, 3, 2, 3, 2], begin: [0, 1, 1, 0, 1, 0], size: [2, 1, 2, 2, 2, 2] },
    { name: 'empty', shape: [4, 5], begin: [1, 2], size: [0, 3] },
  ];
  test.each(cases)('$name', async (c) => {
    const err = await compare([randn(c.shape, 15)], (x) => tf.slice(x!, c.begin, c.size));
    expect(err).toBe(0);
  });
  test('int32 and bool tensors', async () => {
    const x = randn([4, 6, 5], 16);
    const err = await compare([x], (t) => {
      const i = tf.cast(tf.mul(t!, 10), 'int32');
      const b = tf.greater(t!, 0);
      const out = [tf.cast(tf.slice(i, [1, 2, 1], [2, 3, 3]), 'float32'), tf.cast(tf.slice(b, [0, 1, 0], [3, 4, 2]), 'float32')];
      tf.dispose([i, b]);
      return out;
    });
    expect(err).toBe(0);
  });
});

describe('Tile on wasm (block copies in the heap) matches cpu', () => {
  const cases: { name: string; shape: number[]; reps: number[] }[] = [
    { name: 'rank 1', shape: [5], reps: [3] },
    { name: 'rank 1, reps 1', shape: [7], reps: [1] },
    { name: 'batch-norm broadcast [1,1,1,c]', shape: [1, 1, 1, 6], reps: [4, 3, 5, 1] },
    { name: 'rank 2 both axes', shape: [3, 4], reps: [2, 3] },
    { name: 'rank 3 odd reps', shape: [2, 3, 2], reps: [3, 1, 5] },
    { name: 'rank 4 inner reps only', shape: [2, 2, 3, 2], reps: [1, 1, 1, 7] },
    { name: 'rank 5', shape: [2, 1, 3, 1, 2], reps: [2, 3, 1, 4, 2] },
    { name: 'empty axis', shape: [0, 3], reps: [2, 2] },
    { name: 'zero reps', shape: [2, 3], reps: [0, 2] },
  ];
  test.each(cases)('$name', async (c) => {
    const err = await compare([randn(c.shape, 21)], (x) => tf.tile(x!, c.reps));
    expect(err).toBe(0);
  });
  test('int32 and bool tensors', async () => {
    const x = randn([3, 1, 4], 22);
    const err = await compare([x], (t) => {
      const i = tf.cast(tf.mul(t!, 10), 'int32');
      const b = tf.greater(t!, 0);
      const out = [tf.cast(tf.tile(i, [2, 5, 1]), 'float32'), tf.cast(tf.tile(b, [1, 3, 2]), 'float32')];
      tf.dispose([i, b]);
      return out;
    });
    expect(err).toBe(0);
  });
});


describe('Identity on wasm shares the data (no copy), reference-counted', () => {
  const offset = (t: tf.Tensor) => (tf.backend() as unknown as { dataIdMap: { get(id: object): { memoryOffset: number } } }).dataIdMap.get(t.dataId)!.memoryOffset;
  test('a clone is the same heap memory; each owner can be disposed first; the memory goes with the last', async () => {
    await tf.setBackend('wasm');
    const before = tf.memory().numBytes;
    const x = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
    const c = tf.clone(x);
    expect(offset(c)).toBe(offset(x)); // one buffer for both
    x.dispose();
    expect(Array.from(await c.data())).toEqual([1, 2, 3, 4, 5, 6]); // still alive
    const r = tf.reshape(c, [3, 2]);
    c.dispose();
    expect(Array.from(await r.data())).toEqual([1, 2, 3, 4, 5, 6]);
    r.dispose();
    expect(tf.memory().numBytes).toBe(before);
    // int32 and bool too
    const i = tf.tensor1d([7, -8], 'int32');
    const b = tf.tensor1d([true, false], 'bool');
    const [ci, cb] = [tf.clone(i), tf.clone(b)];
    expect(offset(ci)).toBe(offset(i));
    tf.dispose([i, b]);
    expect([Array.from(await ci.data()), Array.from(await cb.data())]).toEqual([[7, -8], [1, 0]]);
    tf.dispose([ci, cb]);
  });
  test('a variable assigned after a clone leaves the clone unchanged; gradients through saved tensors match cpu', async () => {
    await tf.setBackend('wasm');
    const v = tf.variable(tf.tensor1d([1, 2, 3]));
    const c = tf.clone(v);
    v.assign(tf.tensor1d([9, 9, 9]));
    expect(Array.from(await c.data())).toEqual([1, 2, 3]);
    tf.dispose([v, c]);
    const err = await compare([randn([4, 5], 31), randn([5, 3], 32)], (a, w) =>
      tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.relu(tf.matMul(tf.clone(p) as tf.Tensor2D, q as tf.Tensor2D))))([a!, w!]),
    );
    expect(err).toBeLessThan(1e-5);
  });
});

describe('composite kernels leak nothing', () => {
  test('every replaced kernel leaves the tensor and data-buffer counts unchanged', async () => {
    await tf.setBackend('wasm');
    const x = tf.randomNormal([2, 9, 8, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const w = tf.randomNormal([3, 3, 3, 4], 0, 1, 'float32', 2) as tf.Tensor4D;
    const a = tf.reshape(x, [18, 24]);
    const run = () => {
      const [gx, gw] = tf.grads((xx: tf.Tensor, ww: tf.Tensor) =>
        tf.sum(tf.maxPool(tf.relu(tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, 2, 'same')), 2, 2, 'same')),
      )([x, w]);
      const m1 = tf.matMul(a, a, true, false);
      const m2 = tf.matMul(a, a, false, true);
      tf.dispose([gx, gw, m1, m2]);
    };
    run();
    const before = tf.memory();
    const backend = tf.backend() as unknown as { numDataIds(): number };
    const idsBefore = backend.numDataIds();
    run();
    expect(tf.memory().numTensors).toBe(before.numTensors);
    expect(tf.memory().numDataBuffers).toBe(before.numDataBuffers);
    expect(backend.numDataIds()).toBe(idsBefore);
    tf.dispose([x, w, a]);
  });
});

describe('training through the replaced kernels', () => {
  test('tf.grads through conv + maxPool + dense on wasm matches cpu', async () => {
    const inputs = [
      randn([3, 9, 9, 2], 11),
      randn([3, 3, 2, 4], 12, undefined),
      randn([2, 2, 4, 5], 13),
      randn([2 * 2 * 5, 3], 14),
    ];
    inputs[1]!.data.forEach((v, i, a) => (a[i] = v * 0.5));
    const err = await compare(inputs, (x, w1, w2, w3) => {
      const loss = (xx: tf.Tensor, a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => {
        const h1 = tf.relu(tf.conv2d(xx as tf.Tensor4D, a as tf.Tensor4D, 1, 'same'));
        const p1 = tf.maxPool(h1, 2, 2, 'valid'); // 9 → 4
        const h2 = tf.relu(tf.conv2d(p1, b as tf.Tensor4D, 2, 'same')); // 4 → 2
        const logits = tf.matMul(tf.reshape(h2, [3, 20]), c as tf.Tensor2D);
        return tf.sum(tf.mul(tf.logSoftmax(logits), tf.tensor2d([[1, 0, 0], [0, 1, 0], [0, 0, 1]])));
      };
      return tf.grads(loss)([x!, w1!, w2!, w3!]);
    });
    expect(err).toBeLessThan(1e-4);
  });

  test('a tiny CNN model.fit on wasm gives the same weights as on cpu', async () => {
    const xs = randn([16, 8, 8, 1], 21);
    const labels = new Float32Array(16 * 3);
    for (let i = 0; i < 16; i++) labels[i * 3 + (i % 3)] = 1;
    const ys = { shape: [16, 3], data: labels };
    const fit = async (backend: 'cpu' | 'wasm') => {
      await tf.setBackend(backend);
      const model = tf.sequential({
        layers: [
          tf.layers.conv2d({
            inputShape: [8, 8, 1],
            filters: 4,
            kernelSize: 3,
            padding: 'same',
            activation: 'relu',
            kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
          }),
          tf.layers.maxPooling2d({ poolSize: 2 }),
          tf.layers.conv2d({
            filters: 4,
            kernelSize: 3,
            strides: 2,
            activation: 'relu',
            kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }),
          }),
          tf.layers.flatten(),
          tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }),
        ],
      });
      model.compile({ optimizer: tf.train.sgd(0.1), loss: 'categoricalCrossentropy' });
      const x = tf.tensor(xs.data, xs.shape);
      const y = tf.tensor(ys.data, ys.shape);
      const hist = await model.fit(x, y, { epochs: 2, batchSize: 8, shuffle: false, verbose: 0 });
      const weights = model.getWeights().map((t) => ({ shape: t.shape.slice(), data: t.dataSync() as Float32Array }));
      tf.dispose([x, y]);
      model.dispose();
      return { loss: hist.history.loss as number[], weights };
    };
    const cpu = await fit('cpu');
    const wasm = await fit('wasm');
    expect(wasm.loss.every(Number.isFinite)).toBe(true);
    expect(relErr(wasm.weights, cpu.weights)).toBeLessThan(1e-4);
    for (let i = 0; i < cpu.loss.length; i++) expect(wasm.loss[i]).toBeCloseTo(cpu.loss[i]!, 4);
  });
});
