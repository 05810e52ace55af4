/**
 * The fused batch-norm training path (issue 15, the CIFAR-10 victim): `PclBatchNorm` must give
 * tfjs-layers' training-mode values, gradients and moving averages on every engine, and
 * `makeTrainStep` on a batch-normalised CNN must take the same step as the layers path.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { initEngine, tf } from '../../src/engine/backend.js';
import { BATCH_NORM_GRAD_KERNEL, BATCH_NORM_KERNEL, batchNormRelu } from '../../src/engine/batch-norm.js';
import { ArgumentError } from '../../src/errors.js';
import { ENGINES, expectClose, useEngine } from '../fixtures/engines.js';
import { buildModel } from '../../src/models/zoo.js';
import { batchNormChain } from '../../src/models/bn-chain.js';
import { makeTrainStep } from '../../src/models/train.js';

beforeAll(async () => {
  await initEngine();
});
afterAll(async () => {
  await tf.setBackend('wasm');
});

const close = expectClose;

/** tfjs's own training-mode batch norm (as tfjs-layers computes it), then ReLU. */
function reference(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, epsilon: number, relu: boolean) {
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  const { mean, variance } = tf.moments(x, axes);
  const y = tf.batchNorm(x, mean, variance, beta, gamma, epsilon);
  return { y: relu ? tf.relu(y) : y, mean, variance };
}

/** A small batch-normalised CNN of the zoo's shape (conv – bn – relu – pool …, flatten, dense). */
function smallBnModel(seed = 3): tf.LayersModel {
  const input = tf.input({ shape: [8, 8, 3] });
  let h = tf.layers.conv2d({ filters: 5, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: tf.initializers.glorotUniform({ seed }) }).apply(input) as tf.SymbolicTensor;
  h = tf.layers.batchNormalization({ momentum: 0.9, epsilon: 1e-5, gammaInitializer: tf.initializers.randomUniform({ minval: 0.5, maxval: 1.5, seed }), betaInitializer: tf.initializers.randomUniform({ minval: -0.2, maxval: 0.2, seed: seed + 1 }) }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.activation({ activation: 'relu' }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.maxPooling2d({ poolSize: 2 }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.conv2d({ filters: 4, kernelSize: 2, padding: 'same', useBias: false, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 2 }) }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.batchNormalization({ momentum: 0.8, epsilon: 1e-3 }).apply(h) as tf.SymbolicTensor; // no ReLU after it
  h = tf.layers.flatten().apply(h) as tf.SymbolicTensor;
  h = tf.layers.dense({ units: 6, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 3 }) }).apply(h) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 4 }) }).apply(h) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

const engines = ENGINES;

describe.each(engines)('fused batch norm on %s', (eng) => {
  useEngine(eng);

  test.each([true, false])('values and gradients match tfjs ops (relu %s)', (relu) => {
    const x = tf.add(tf.mul(tf.randomNormal([4, 5, 3, 7], 0, 1, 'float32', 1), 2), 10); // a large mean: the shifted sums must hold
    const gamma = tf.randomUniform([7], 0.5, 1.5, 'float32', 2) as tf.Tensor1D;
    const beta = tf.randomUniform([7], -0.5, 0.5, 'float32', 3) as tf.Tensor1D;
    const w = tf.randomNormal([4, 5, 3, 7], 0, 1, 'float32', 4); // a loss Σ w·y with a gradient that varies per value
    const ours = batchNormRelu(x, gamma, beta, { epsilon: 1e-5, relu });
    const ref = reference(x, gamma, beta, 1e-5, relu);
    close(ours.y.dataSync(), ref.y.dataSync(), 1e-4);
    close(ours.mean.dataSync(), ref.mean.dataSync(), 1e-5);
    close(ours.variance.dataSync(), ref.variance.dataSync(), 1e-4);
    const gOurs = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(w, batchNormRelu(a, g as tf.Tensor1D, b as tf.Tensor1D, { epsilon: 1e-5, relu }).y)))([x, gamma, beta]);
    const gRef = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(w, reference(a, g as tf.Tensor1D, b as tf.Tensor1D, 1e-5, relu).y)))([x, gamma, beta]);
    for (let i = 0; i < 3; i++) close(gOurs[i]!.dataSync(), gRef[i]!.dataSync(), 2e-3);
    // the ReLU mask matters: the gradient must differ from the unmasked one where y was clipped
    if (relu) {
      const noRelu = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(w, batchNormRelu(a, gamma, beta, { epsilon: 1e-5, relu: false }).y)))(x);
      expect(tf.max(tf.abs(tf.sub(noRelu, gOurs[0]!))).dataSync()[0]).toBeGreaterThan(1e-2);
      noRelu.dispose();
    }
    tf.dispose([x, gamma, beta, w, ours.y, ours.mean, ours.variance, ref.y, ref.mean, ref.variance, ...gOurs, ...gRef]);
  });

  test('a train step on a batch-normalised CNN equals the layers path (weights and moving statistics)', () => {
    const a = smallBnModel();
    const b = smallBnModel();
    b.setWeights(a.getWeights());
    const x = tf.randomUniform([6, 8, 8, 3], 0, 1, 'float32', 7);
    const y = tf.tensor1d([0, 1, 2, 0, 1, 2], 'int32');
    const fast = makeTrainStep(a, tf.train.sgd(0.1));
    const slow = makeTrainStep(b, tf.train.sgd(0.1), { fastBatchNorm: false });
    expect(fast.path).toBe('batch-norm');
    expect(slow.path).toBe('layers');
    for (let i = 0; i < 2; i++) {
      const [lf, cf] = fast.run(x, y);
      const [ls, cs] = slow.run(x, y);
      expect(lf).toBeCloseTo(ls, 4);
      expect(cf).toBe(cs);
    }
    const wa = a.getWeights();
    const wb = b.getWeights();
    for (let i = 0; i < wa.length; i++) close(wa[i]!.dataSync(), wb[i]!.dataSync(), 1e-4);
    // the moving averages moved (and equally): not left at their initial 0 / 1
    const mm = wa[a.weights.findIndex((w) => w.name.includes('moving_mean'))]!;
    expect(tf.max(tf.abs(mm)).dataSync()[0]).toBeGreaterThan(1e-3);
    tf.dispose([x, y]);
    a.dispose();
    b.dispose();
  });
});

describe('batch-norm chain and kernel inputs', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
  });

  test('zoo CNNs with batch norm take the fused path; without it, or non-chains, do not', () => {
    const bn = buildModel('cifar-cnn', { inputShape: [16, 16, 3], numClasses: 10, width: 0.05, batchNorm: true });
    const chain = batchNormChain(bn);
    expect(chain?.batchNorms).toBe(3);
    const plain = buildModel('cifar-cnn', { inputShape: [16, 16, 3], numClasses: 10, width: 0.05 });
    expect(batchNormChain(plain)).toBeUndefined();
    const input = tf.input({ shape: [4, 4, 2] });
    const h = tf.layers.batchNormalization().apply(input) as tf.SymbolicTensor;
    const branch = tf.layers.add().apply([h, input]) as tf.SymbolicTensor;
    const flat = tf.layers.flatten().apply(branch) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: 2, activation: 'softmax' }).apply(flat) as tf.SymbolicTensor;
    expect(batchNormChain(tf.model({ inputs: input, outputs: out }))).toBeUndefined();
    bn.dispose();
    plain.dispose();
  });

  test('bad shapes and dtypes are ArgumentErrors', () => {
    const x = tf.zeros([2, 3, 4]);
    const g = tf.ones([4]) as tf.Tensor1D;
    expect(() => batchNormRelu(x, tf.ones([3]) as tf.Tensor1D, g, { epsilon: 1e-3, relu: true })).toThrow(ArgumentError);
    expect(() => batchNormRelu(tf.zeros([2, 4], 'int32'), g, g, { epsilon: 1e-3, relu: true })).toThrow(ArgumentError);
    expect(() => batchNormRelu(x, g, g, { epsilon: 0, relu: true })).toThrow(ArgumentError);
    expect(() => tf.engine().runKernel(BATCH_NORM_GRAD_KERNEL, { dy: tf.zeros([2, 3, 5]), x, gamma: g, mean: g, variance: g, y: x }, { epsilon: 1e-3, relu: true } as unknown as tf.NamedAttrMap)).toThrow(ArgumentError);
    expect(BATCH_NORM_KERNEL).toBe('PclBatchNorm');
  });
});
