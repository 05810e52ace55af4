/**
 * The dense training path (issue 11, MLP step): `PclDense` and the log-sum-exp cross-entropy must give
 * the layers path's values and gradients on every engine, run fewer kernels, and refuse bad inputs.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { initEngine, tf } from '../../src/engine/backend.js';
import { DENSE_KERNEL, SOFTMAX_XENT_KERNEL, dense, denseChain, softmaxCrossEntropy } from '../../src/engine/dense-chain.js';
import { ArgumentError } from '../../src/errors.js';
import { ENGINES, expectClose, nativeAddon, useEngine } from '../fixtures/engines.js';
import { nativeKernelsActive, registerNativeKernels } from '../../src/engine/native-kernels.js';
import { buildModel } from '../../src/models/zoo.js';
import { crossEntropy, makeTrainStep, trainClassifier } from '../../src/models/train.js';
import { Rng } from '../../src/util/rng.js';
import type { Dataset } from '../../src/data/types.js';

beforeAll(async () => {
  await initEngine();
});
afterAll(async () => {
  await tf.setBackend('wasm');
});

const close = expectClose;

/** Counts kernel launches by name while `fn` runs. */
function countKernels(fn: () => void): Map<string, number> {
  const counts = new Map<string, number>();
  const engine = tf.engine();
  const orig = engine.runKernel;
  engine.runKernel = function (this: unknown, name: string, inputs: tf.NamedTensorMap, attrs?: tf.NamedAttrMap) {
    counts.set(name, (counts.get(name) ?? 0) + 1);
    return orig.call(engine, name, inputs, attrs);
  } as typeof orig;
  try {
    fn();
  } finally {
    engine.runKernel = orig;
  }
  return counts;
}

const engines = ENGINES;

describe.each(engines)('dense chain on %s', (eng) => {
  useEngine(eng);

  test('the intended engine is active', () => {
    expect(tf.getBackend()).toBe(eng === 'cpu' ? 'cpu' : 'wasm');
    if (eng !== 'cpu') expect(nativeKernelsActive()).toBe(eng === 'native');
  });

  test('dense(): values and gradients of x·W + b (and its ReLU) match tfjs ops', () => {
    const x = tf.randomNormal([5, 7], 0, 1, 'float32', 1) as tf.Tensor2D;
    const w = tf.randomNormal([7, 3], 0, 1, 'float32', 2) as tf.Tensor2D;
    const b = tf.randomNormal([3], 0, 1, 'float32', 3) as tf.Tensor1D;
    const up = tf.randomNormal([5, 3], 0, 1, 'float32', 4);
    for (const act of ['relu', 'linear'] as const) {
      const ref = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => {
        const lin = tf.add(tf.matMul(xx as tf.Tensor2D, ww as tf.Tensor2D), bb);
        return act === 'relu' ? tf.relu(lin) : lin;
      };
      const ours = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => dense(xx as tf.Tensor2D, ww as tf.Tensor2D, bb as tf.Tensor1D, act);
      const [yRef, yOurs] = [ref(x, w, b), ours(x, w, b)];
      close(yOurs.dataSync(), yRef.dataSync(), 1e-5);
      if (act === 'relu') expect(Math.min(...yOurs.dataSync())).toBe(0); // some rows cut by the ReLU
      const gRef = tf.grads((xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(ref(xx, ww, bb), up)))([x, w, b]);
      const gOurs = tf.grads((xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(ours(xx, ww, bb), up)))([x, w, b]);
      for (let i = 0; i < 3; i++) close(gOurs[i]!.dataSync(), gRef[i]!.dataSync(), 1e-5);
      tf.dispose([yRef, yOurs, ...gRef, ...gOurs]);
    }
    tf.dispose([x, w, b, up]);
  });

  test('softmaxCrossEntropy: mean loss and logit gradient match tf.losses.softmaxCrossEntropy; float labels are cast', () => {
    const z = tf.mul(tf.randomNormal([9, 4], 0, 1, 'float32', 5), 8) as tf.Tensor2D; // large logits: the log-sum-exp form must hold
    const yi = tf.tensor1d([0, 1, 2, 3, 3, 2, 1, 0, 2], 'int32');
    const yf = tf.cast(yi, 'float32') as tf.Tensor1D;
    const oh = tf.oneHot(yi, 4);
    const ref = (zz: tf.Tensor) => tf.losses.softmaxCrossEntropy(oh, zz) as tf.Scalar;
    const [lRef, lOurs] = [ref(z), softmaxCrossEntropy(z, yf)];
    expect(lOurs.dataSync()[0]).toBeCloseTo(lRef.dataSync()[0]!, 4);
    const gRef = tf.grad(ref)(z);
    const gOurs = tf.grad((zz: tf.Tensor) => tf.mul(softmaxCrossEntropy(zz as tf.Tensor2D, yi), 3))(z);
    close(gOurs.dataSync(), tf.mul(gRef, 3).dataSync(), 1e-5);
    const bad = softmaxCrossEntropy(z, tf.tensor1d([0, 1, 2, 3, 4, 0, 0, 0, 0], 'int32'));
    expect(Number.isNaN(bad.dataSync()[0])).toBe(true); // a label outside [0, K)
    tf.dispose([z, yi, yf, oh, lRef, lOurs, gRef, gOurs, bad]);
  });

  test('softmaxCrossEntropy with minProb is the layers path’s clipped loss: capped, and flat for a row past the cap', () => {
    // row 0: the true class at p ≈ e⁻³⁰ (past the 1e-7 floor); row 1: an ordinary row
    const z = tf.tensor2d([[0, 30, 0], [1, 2, 0.5]]);
    const y = tf.tensor1d([0, 1], 'int32');
    const ref = (zz: tf.Tensor) => crossEntropy(tf.softmax(zz) as tf.Tensor2D, y);
    const ours = (zz: tf.Tensor) => softmaxCrossEntropy(zz as tf.Tensor2D, y, { minProb: 1e-7 });
    const [lRef, lOurs] = [ref(z), ours(z)];
    expect(lOurs.dataSync()[0]).toBeCloseTo(lRef.dataSync()[0]!, 4);
    const row1 = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(0.5)) - 2;
    expect(lOurs.dataSync()[0]).toBeCloseTo((-Math.log(1e-7) + row1) / 2, 4);
    const [gRef, gOurs] = [tf.grad(ref)(z), tf.grad(ours)(z)];
    close(gOurs.dataSync(), gRef.dataSync(), 1e-5);
    expect(Array.from(gOurs.dataSync().slice(0, 3)).map(Math.abs)).toEqual([0, 0, 0]); // flat past the cap
    const unclipped = tf.grad((zz: tf.Tensor) => softmaxCrossEntropy(zz as tf.Tensor2D, y))(z);
    expect(Math.abs(unclipped.dataSync()[0]!)).toBeGreaterThan(0.4); // without minProb, row 0 still pulls
    expect(() => softmaxCrossEntropy(z, y, { minProb: 0 })).toThrow(/minProb must lie in \(0, 1\)/);
    tf.dispose([z, y, lRef, lOurs, gRef, gOurs, unclipped]);
  });

  test('the kernels refuse bad shapes and dtypes with an ArgumentError', () => {
    const x = tf.zeros([2, 3]);
    const w = tf.zeros([4, 5]);
    const b = tf.zeros([5]);
    expect(() => tf.engine().runKernel(DENSE_KERNEL, { x, w, b }, { activation: 'relu' })).toThrow(/do not chain/);
    expect(() => tf.engine().runKernel(DENSE_KERNEL, { x: tf.zeros([2, 4], 'int32'), w, b }, { activation: 'relu' })).toThrow(ArgumentError);
    expect(() => tf.engine().runKernel(SOFTMAX_XENT_KERNEL, { logits: x, labels: tf.zeros([3], 'int32') })).toThrow(/labels must be int32 \[2\]/);
    tf.dispose([x, w, b]);
  });

  test('denseChain: the MLP’s logits are the model’s pre-softmax, one training step equals the layers path’s, with a third of the kernels and no input gradient', () => {
    const model = buildModel('mnist-mlp', { inputShape: [28, 28, 1], numClasses: 10, width: 0.25, batchNorm: false });
    const chain = denseChain(model);
    expect(chain?.output).toBe('softmax');
    const x = tf.randomUniform([16, 28, 28, 1], 0, 1, 'float32', 6) as tf.Tensor4D;
    const y = tf.tensor1d(Array.from({ length: 16 }, (_, i) => i % 10), 'int32');
    const p = tf.tidy(() => tf.softmax(chain!.logits(x)));
    const q = model.predict(x) as tf.Tensor;
    close(p.dataSync(), q.dataSync(), 1e-5);
    const start = model.getWeights().map((t) => t.clone());
    const after = (fast: boolean) => {
      model.setWeights(start);
      const opt = tf.train.sgd(0.5);
      const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
      const counts = countKernels(() =>
        tf.tidy(() => {
          opt.minimize(() => (fast ? softmaxCrossEntropy(chain!.logits(x), y) : crossEntropy(model.apply(x, { training: true }) as tf.Tensor2D, y)), false, vars);
        }),
      );
      opt.dispose();
      return { w: model.getWeights().map((t) => t.dataSync().slice()), counts };
    };
    const fast = after(true);
    const slow = after(false);
    for (let i = 0; i < fast.w.length; i++) close(fast.w[i]!, slow.w[i]!, 2e-5);
    expect(Math.abs(fast.w[0]![0]! - start[0]!.dataSync()[0]!)).toBeGreaterThan(1e-6); // the step moved the weights
    const total = (c: Map<string, number>) => [...c.values()].reduce((a, b) => a + b, 0);
    expect(total(fast.counts)).toBeLessThan(total(slow.counts) / 2);
    expect(fast.counts.get(DENSE_KERNEL)).toBe(3);
    // dW for 3 layers, dX for the upper 2: the first layer's input gradient is never computed
    expect(fast.counts.get('BatchMatMul')).toBe(5);
    tf.dispose([x, y, p, q, ...start]);
    model.dispose();
  });

  test('denseChain: undefined for what is not a plain dense chain', () => {
    const cnn = buildModel('cifar-cnn', { inputShape: [8, 8, 3], numClasses: 10, width: 0.05, batchNorm: false });
    expect(denseChain(cnn)).toBeUndefined();
    cnn.dispose();
    const softHidden = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 3, activation: 'softmax' }), tf.layers.dense({ units: 2, activation: 'softmax' })] });
    expect(denseChain(softHidden)).toBeUndefined();
    const noBias = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 3, activation: 'relu', useBias: false }), tf.layers.dense({ units: 2, activation: 'softmax' })] });
    expect(denseChain(noBias)).toBeUndefined();
    // Dense on a rank-4 input acts on the last axis: not a flattening chain
    const noFlatten = tf.sequential({ layers: [tf.layers.dense({ inputShape: [2, 2, 3], units: 3, activation: 'relu' }), tf.layers.dense({ units: 2, activation: 'softmax' })] });
    expect(denseChain(noFlatten)).toBeUndefined();
    const plain = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 3, activation: 'relu' }), tf.layers.dense({ units: 2 })] });
    expect(denseChain(plain)?.output).toBe('linear');
    for (const m of [softHidden, noBias, noFlatten, plain]) m.dispose();
  });
});

describe('pcl train on the dense path', () => {
  test('trainClassifier: the dense path and the layers path learn the same blobs to the same accuracy', async () => {
    await tf.setBackend('wasm');
    if (nativeAddon) registerNativeKernels(nativeAddon);
    const rng = new Rng(3);
    const n = 600;
    const xs = new Float32Array(n * 16);
    const ys = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      ys[i] = i % 4;
      for (let j = 0; j < 16; j++) xs[i * 16 + j] = (j % 4 === ys[i] ? 0.8 : 0.2) + 0.15 * (rng.next() - 0.5);
    }
    const accs: number[] = [];
    const losses: number[] = [];
    for (const fastDense of [true, false]) {
      const model = buildModel('mnist-mlp', { inputShape: [4, 4, 1], numClasses: 4, width: 0.1, batchNorm: false });
      const x = tf.tensor4d(xs, [n, 4, 4, 1]);
      const y = tf.tensor1d(ys, 'int32');
      const data: Dataset = { name: 'idx', spec: 'blobs', split: 'train', x, y, indices: Int32Array.from({ length: n }, (_, i) => i), classNames: ['a', 'b', 'c', 'd'], numClasses: 4 };
      const hist = await trainClassifier(model, data, { epochs: 3, batchSize: 32, lr: 0.01, seed: 1, fastDense, progress: false });
      accs.push(hist.history.at(-1)!.accuracy);
      losses.push(hist.history.at(-1)!.loss);
      tf.dispose([x, y]);
      model.dispose();
    }
    expect(accs[0]).toBeGreaterThan(0.95);
    expect(Math.abs(accs[0]! - accs[1]!)).toBeLessThan(0.02);
    expect(losses[0]).toBeCloseTo(losses[1]!, 2);
  });

  test('makeTrainStep: the dense path is taken for the MLP and not for a CNN', () => {
    const mlp = buildModel('mnist-mlp', { inputShape: [28, 28, 1], numClasses: 10, width: 0.1, batchNorm: false });
    const cnn = buildModel('cifar-cnn', { inputShape: [8, 8, 3], numClasses: 10, width: 0.05, batchNorm: false });
    const opt = tf.train.sgd(0.1);
    expect(makeTrainStep(mlp, opt).path).toBe('dense');
    expect(makeTrainStep(mlp, opt, { fastDense: false }).path).toBe('layers');
    expect(makeTrainStep(cnn, opt).path).toBe('layers');
    opt.dispose();
    mlp.dispose();
    cnn.dispose();
  });
});
