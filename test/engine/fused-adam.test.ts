import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { initEngine, tf } from '../../src/engine/backend.js';
import { ADAM_UPDATE_KERNEL, FusedAdamOptimizer, adamStep, fusedAdam, fusedAdamAvailable } from '../../src/engine/fused-adam.js';
import { ArgumentError } from '../../src/errors.js';
import { loadNativeAddon } from '../../src/engine/native.js';
import { nativeKernelsActive, registerNativeKernels, unregisterNativeKernels } from '../../src/engine/native-kernels.js';

beforeAll(async () => {
  await initEngine();
});
afterAll(async () => {
  await tf.setBackend('wasm');
});

// The wasm case runs the JS kernel on the heap; the native (C++) kernel is checked in native.test.ts.
const nativeAddon = loadNativeAddon().addon;

/** A small least-squares problem with two variables (a matrix and a bias) and a fixed data set. */
let made = 0;
function problem(seed: number) {
  const tag = made++;
  const w = tf.variable(tf.randomNormal([7, 5], 0, 1, 'float32', seed), true, `w_${tag}`);
  const b = tf.variable(tf.randomNormal([5], 0, 1, 'float32', seed + 1), true, `b_${tag}`);
  const x = tf.randomNormal([16, 7], 0, 1, 'float32', 99);
  const t = tf.randomNormal([16, 5], 0, 1, 'float32', 98);
  const loss = () => tf.mean(tf.square(tf.sub(tf.add(tf.matMul(x, w), b), t))) as tf.Scalar;
  const dispose = () => tf.dispose([w, b, x, t]);
  return { w, b, loss, dispose, vars: [w, b] };
}

/** Runs `steps` steps of `opt` (lr changed to lr/2 from step 3 on, as a schedule would) and returns the variables' values. */
/** Adam's learning rate is a plain field on both optimizers (protected in tfjs's typings). */
type WithLr = { learningRate: number };

function run(optimizer: tf.Optimizer, seed: number, steps = 6): Float32Array[] {
  const opt = optimizer as unknown as tf.Optimizer & WithLr;
  const p = problem(seed);
  try {
    for (let i = 0; i < steps; i++) {
      if (i === 3) opt.learningRate /= 2;
      tf.tidy(() => {
        opt.minimize(p.loss, false, p.vars);
      });
    }
    return p.vars.map((v) => v.dataSync() as Float32Array);
  } finally {
    p.dispose();
    opt.dispose();
  }
}

function expectClose(a: Float32Array[], b: Float32Array[], tol: number) {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) {
    expect(a[i]!.length).toBe(b[i]!.length);
    for (let j = 0; j < a[i]!.length; j++) expect(Math.abs(a[i]![j]! - b[i]![j]!)).toBeLessThan(tol * (1 + Math.abs(b[i]![j]!)));
  }
}

describe.each(['cpu', 'wasm'])('FusedAdamOptimizer on %s', (backend) => {
  beforeAll(async () => {
    await tf.setBackend(backend);
    if (backend === 'wasm') unregisterNativeKernels();
  });
  afterAll(() => {
    if (backend === 'wasm' && nativeAddon) registerNativeKernels(nativeAddon);
  });
  test('the JS kernel is what runs here (on wasm, the native engine is off for this block)', () => {
    expect(tf.getBackend()).toBe(backend);
    if (backend === 'wasm') expect(nativeKernelsActive()).toBe(false);
  });

  test('runs the fused kernel and matches tf.train.adam step for step, across a learning-rate change', () => {
    const opt = fusedAdam(0.05);
    expect(fusedAdamAvailable()).toBe(true);
    let calls = 0;
    const spy = (name: string) => {
      if (name === ADAM_UPDATE_KERNEL) calls++;
    };
    const engine = tf.engine();
    const origRun = engine.runKernel;
    engine.runKernel = function (this: unknown, name: string, inputs: tf.NamedTensorMap, attrs?: tf.NamedAttrMap) {
      spy(name);
      return origRun.call(engine, name, inputs, attrs);
    } as typeof origRun;
    let fused: Float32Array[];
    try {
      fused = run(opt, 1);
    } finally {
      engine.runKernel = origRun;
    }
    expect(calls).toBe(6 * 2); // one kernel per variable and step
    const ref = run(tf.train.adam(0.05), 1);
    expectClose(fused, ref, 2e-5);
    // and it did optimise: the variables moved
    const start = problem(1);
    const w0 = start.w.dataSync();
    start.dispose();
    expect(Math.abs(fused[0]![0]! - w0[0]!)).toBeGreaterThan(1e-3);
  });

  test('custom betas and epsilon match tf.train.adam with the same settings', () => {
    const fused = run(fusedAdam(0.01, 0.8, 0.99, 1e-4), 3);
    const ref = run(tf.train.adam(0.01, 0.8, 0.99, 1e-4), 3);
    expectClose(fused, ref, 2e-5);
  });

  test('adamStep on plain tensors follows the optimizer step for step, and checks its arguments', () => {
    const p = problem(7);
    const opt = fusedAdam(0.03, 0.9, 0.999, 1e-8);
    const w0 = p.w.dataSync()[0]!;
    // the same problem with plain tensors: x, m, v carried by hand, step numbers 1, 2, 3, ...
    let x: tf.Tensor = p.w.clone();
    let m: tf.Tensor = tf.zerosLike(x);
    let v: tf.Tensor = tf.zerosLike(x);
    try {
      for (let t = 1; t <= 5; t++) {
        const g = tf.tidy(() => tf.grad((w: tf.Tensor) => tf.mean(tf.square(tf.sub(tf.add(tf.matMul(tf.randomNormal([16, 7], 0, 1, 'float32', 99), w as tf.Tensor2D), p.b), tf.randomNormal([16, 5], 0, 1, 'float32', 98)))))(x));
        const r = adamStep(x, g, m, v, { lr: 0.03, epsilon: 1e-8, step: t });
        tf.dispose([g, x, m, v]);
        ({ x, m, v } = r);
        tf.tidy(() => {
          opt.minimize(p.loss, false, [p.w]);
        });
      }
      expectClose([x.dataSync() as Float32Array], [p.w.dataSync() as Float32Array], 1e-6);
      expect(Math.abs(x.dataSync()[0]! - w0)).toBeGreaterThan(1e-3);
      const bad = tf.zeros([2, 2]);
      expect(() => adamStep(x, bad, m, v, { lr: 0.1, step: 1 })).toThrow(/g has shape \[2, 2\], expected x's \[7, 5\]/);
      expect(() => adamStep(x, m, m, v, { lr: 0.1, step: 0 })).toThrow(ArgumentError);
      expect(() => adamStep(x, m, m, v, { lr: -1, step: 1 })).toThrow(/learning rate must be positive/);
      bad.dispose();
    } finally {
      tf.dispose([x, m, v]);
      opt.dispose();
      p.dispose();
    }
  });

  test('holds no tensors beyond its two moments per variable, and dispose frees them', () => {
    const p = problem(5);
    const opt = fusedAdam(0.01);
    try {
      tf.tidy(() => {
        opt.minimize(p.loss, false, p.vars);
      });
      const n = tf.memory().numTensors;
      for (let i = 0; i < 20; i++) {
        tf.tidy(() => {
          opt.minimize(p.loss, false, p.vars);
        });
      }
      expect(tf.memory().numTensors).toBe(n);
      opt.dispose();
      expect(tf.memory().numTensors).toBe(n - 4); // m and v of the two variables
    } finally {
      p.dispose();
    }
  });

  test('getWeights / setWeights: a restored optimizer continues exactly as the original', async () => {
    const a = problem(7);
    const b = problem(7);
    const oa = fusedAdam(0.02);
    const ob = fusedAdam(0.02);
    try {
      for (let i = 0; i < 3; i++) tf.tidy(() => void oa.minimize(a.loss, false, a.vars));
      // copy a's variables and optimizer state into b's
      b.w.assign(a.w);
      b.b.assign(a.b);
      const saved = await oa.getWeights();
      const [wa, ba, wb, bb] = [a.w.name, a.b.name, b.w.name, b.b.name];
      expect(saved.map((s) => s.name)).toEqual(['iter', `${wa}/m`, `${ba}/m`, `${wa}/v`, `${ba}/v`]);
      await ob.setWeights(saved.map((s) => ({ name: s.name.replace(wa, wb).replace(ba, bb), tensor: s.tensor })));
      for (let i = 0; i < 3; i++) {
        tf.tidy(() => void oa.minimize(a.loss, false, a.vars));
        tf.tidy(() => void ob.minimize(b.loss, false, b.vars));
      }
      expectClose([b.w.dataSync() as Float32Array], [a.w.dataSync() as Float32Array], 1e-6);
    } finally {
      a.dispose();
      b.dispose();
      oa.dispose();
      ob.dispose();
    }
  });

  test('the kernel refuses mismatched shapes and dtypes with an ArgumentError', () => {
    const x = tf.zeros([3, 2]);
    const g = tf.zeros([5]);
    const i = tf.zeros([3, 2], 'int32');
    const attrs = { lr: 0.1, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, c1: 0.1, c2: 0.001 } as unknown as tf.NamedAttrMap;
    try {
      expect(() => tf.engine().runKernel(ADAM_UPDATE_KERNEL, { x, g, m: x, v: x }, attrs)).toThrow(ArgumentError);
      expect(() => tf.engine().runKernel(ADAM_UPDATE_KERNEL, { x, g: i, m: x, v: x }, attrs)).toThrow(/g must be float32/);
    } finally {
      tf.dispose([x, g, i]);
    }
  });
});

describe('FusedAdamOptimizer without the kernel (WebGL, WebGPU...)', () => {
  test('falls back to the same formula in tfjs ops', async () => {
    await tf.setBackend('cpu');
    fusedAdam(0.05); // registers the kernels
    const config = tf.getKernel(ADAM_UPDATE_KERNEL, 'cpu')!;
    tf.unregisterKernel(ADAM_UPDATE_KERNEL, 'cpu');
    try {
      expect(fusedAdamAvailable()).toBe(false);
      const composed = run(new FusedAdamOptimizer(0.05), 11);
      const ref = run(tf.train.adam(0.05), 11);
      expectClose(composed, ref, 2e-5);
    } finally {
      tf.registerKernel(config);
    }
  });

  test('rejects a non-positive learning rate and betas outside [0, 1)', () => {
    expect(() => new FusedAdamOptimizer(0)).toThrow(ArgumentError);
    expect(() => new FusedAdamOptimizer(0.1, 1)).toThrow(/betas/);
  });
});
