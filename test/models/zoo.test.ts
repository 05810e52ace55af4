import { beforeAll, describe, expect, test } from 'vitest';
import { initEngine, tf } from '../../src/engine/backend.js';
import { ArgumentError } from '../../src/errors.js';
import { ACTIVATION_BUDGET_BYTES, Classifier, memoryBoundBatch } from '../../src/models/classifier.js';
import { buildModel } from '../../src/models/zoo.js';

beforeAll(async () => {
  await initEngine();
});

function summary(m: tf.LayersModel): Array<[string, string, number]> {
  return m.layers.map((l) => [l.name, JSON.stringify((l.outputShape as number[]).slice(1)), l.countParams()]);
}

describe('buildModel', () => {
  test('mnist-mlp is 784 – 300 – 100 – 10 (Table 2)', () => {
    const m = buildModel('mnist-mlp', { inputShape: [28, 28, 1], numClasses: 10 });
    expect(summary(m)).toEqual([
      ['input', '[28,28,1]', 0],
      ['flatten', '[784]', 0],
      ['fc1', '[300]', 784 * 300 + 300],
      ['fc2', '[100]', 300 * 100 + 100],
      ['fc3', '[10]', 100 * 10 + 10],
    ]);
    expect(new Classifier(m).numClasses).toBe(10);
    m.dispose();
  });

  test('cifar-cnn at full width has 300-filter convs and Table 2 pooling', () => {
    const m = buildModel('cifar-cnn', { inputShape: [32, 32, 3], numClasses: 10 });
    expect(summary(m)).toEqual([
      ['input', '[32,32,3]', 0],
      ['conv1', '[32,32,300]', 3 * 3 * 3 * 300 + 300],
      ['pool1', '[16,16,300]', 0],
      ['conv2', '[16,16,300]', 2 * 2 * 300 * 300 + 300],
      ['pool2', '[8,8,300]', 0],
      ['conv3', '[8,8,300]', 3 * 3 * 300 * 300 + 300],
      ['pool3', '[4,4,300]', 0],
      ['flatten', '[4800]', 0],
      ['fc1', '[300]', 4800 * 300 + 300],
      ['fc2', '[100]', 30100],
      ['fc3', '[10]', 1010],
    ]);
    m.dispose();
  });

  test('width scales conv channels only', () => {
    const m = buildModel('cifar-cnn', { inputShape: [32, 32, 3], numClasses: 10, width: 0.25 });
    const s = summary(m);
    expect(s[1][1]).toBe('[32,32,75]');
    expect(s[5][1]).toBe('[8,8,75]');
    expect(s[8]).toEqual(['fc1', '[300]', 4 * 4 * 75 * 300 + 300]);
    m.dispose();
  });

  test('imagenet-alexnet follows Table 2 and builds at 224 and 64 pixels', () => {
    const big = buildModel('imagenet-alexnet', { inputShape: [224, 224, 3], numClasses: 10, width: 0.125 });
    expect(big.layers.map((l) => l.name)).toEqual([
      'input', 'conv1', 'conv2', 'pool1', 'conv3', 'pool2', 'conv4', 'conv5', 'pool3', 'flatten', 'fc1', 'fc2', 'fc3',
    ]);
    expect(summary(big).map((r) => r[1])).toEqual([
      '[224,224,3]', '[56,56,12]', '[56,56,32]', '[27,27,32]', '[27,27,16]', '[13,13,16]', '[13,13,16]', '[13,13,16]',
      '[6,6,16]', '[576]', '[1024]', '[1024]', '[10]',
    ]);
    expect((big.getLayer('pool1').getConfig() as { padding: string }).padding).toBe('valid');
    big.dispose();
    // 64×64 (ImageNet-10 here): same sequence, kernels and strides; 'same'-padded pools keep a 2×2 map for fc1
    const small = buildModel('imagenet-alexnet', { inputShape: [64, 64, 3], numClasses: 10 });
    expect((small.getLayer('conv1').getConfig() as { kernelSize: number[]; strides: number[] }).kernelSize).toEqual([11, 11]);
    expect((small.getLayer('conv1').getConfig() as { strides: number[] }).strides).toEqual([4, 4]);
    expect(summary(small)).toEqual([
      ['input', '[64,64,3]', 0],
      ['conv1', '[16,16,96]', 11 * 11 * 3 * 96 + 96],
      ['conv2', '[16,16,256]', 5 * 5 * 96 * 256 + 256],
      ['pool1', '[8,8,256]', 0],
      ['conv3', '[8,8,128]', 3 * 3 * 256 * 128 + 128],
      ['pool2', '[4,4,128]', 0],
      ['conv4', '[4,4,128]', 3 * 3 * 128 * 128 + 128],
      ['conv5', '[4,4,128]', 3 * 3 * 128 * 128 + 128],
      ['pool3', '[2,2,128]', 0],
      ['flatten', '[512]', 0],
      ['fc1', '[1024]', 512 * 1024 + 1024],
      ['fc2', '[1024]', 1024 * 1024 + 1024],
      ['fc3', '[10]', 10250],
    ]);
    small.dispose();
  });

  test('seeded: equal seeds give equal weights, other seeds differ', () => {
    const a = buildModel('mnist-mlp', { inputShape: [4, 4, 1], numClasses: 3, seed: 5 });
    const b = buildModel('mnist-mlp', { inputShape: [4, 4, 1], numClasses: 3, seed: 5 });
    const c = buildModel('mnist-mlp', { inputShape: [4, 4, 1], numClasses: 3, seed: 6 });
    const w = (m: tf.LayersModel) => Array.from(m.getLayer('fc2').getWeights()[0].dataSync());
    expect(w(a)).toEqual(w(b));
    expect(w(a)).not.toEqual(w(c));
    // the layers of one model get different seeds
    expect(Array.from(a.getLayer('fc1').getWeights()[0].dataSync()).slice(0, 5)).not.toEqual(w(a).slice(0, 5));
    [a, b, c].forEach((m) => m.dispose());
  });

  test('outputs are probabilities', () => {
    const m = buildModel('cifar-cnn', { inputShape: [8, 8, 3], numClasses: 4, width: 0.02, seed: 1 });
    const p = tf.tidy(() => m.predict(tf.randomUniform([2, 8, 8, 3], 0, 1, 'float32', 3)) as tf.Tensor2D);
    const sums = tf.tidy(() => Array.from(p.sum(1).dataSync()));
    expect(sums[0]).toBeCloseTo(1, 5);
    expect(sums[1]).toBeCloseTo(1, 5);
    p.dispose();
    m.dispose();
  });

  test('rejects bad arguments with helpful messages', () => {
    expect(() => buildModel('resnet', { inputShape: [32, 32, 3], numClasses: 10 })).toThrow(ArgumentError);
    expect(() => buildModel('resnet', { inputShape: [32, 32, 3], numClasses: 10 })).toThrow(
      /unknown architecture 'resnet'; expected one of mnist-mlp, cifar-cnn, imagenet-alexnet/,
    );
    expect(() => buildModel('mnist-mlp', { inputShape: [28, 28] as unknown as [number, number, number], numClasses: 10 })).toThrow(
      /inputShape must be \[h, w, c\]/,
    );
    expect(() => buildModel('mnist-mlp', { inputShape: [28, 28, 1], numClasses: 1 })).toThrow(/numClasses must be an integer ≥ 2, got 1/);
    expect(() => buildModel('cifar-cnn', { inputShape: [32, 32, 3], numClasses: 10, width: 0 })).toThrow(/width: expected a positive number, got 0/);
    expect(() => buildModel('cifar-cnn', { inputShape: [2, 2, 3], numClasses: 10, width: 0.01 })).toThrow(
      /too small for cifar-cnn: layer pool2 \(2×2 max-pool\) sees a 1×1 map/,
    );
  });
});

describe('batch norm option', () => {
  test('convK – convK_bn – convK_relu, no conv bias; pools and dense layers keep their names', () => {
    const m = buildModel('cifar-cnn', { inputShape: [8, 8, 3], numClasses: 4, width: 0.02, batchNorm: true });
    expect(m.layers.map((l) => l.name)).toEqual([
      'input', 'conv1', 'conv1_bn', 'conv1_relu', 'pool1', 'conv2', 'conv2_bn', 'conv2_relu', 'pool2',
      'conv3', 'conv3_bn', 'conv3_relu', 'pool3', 'flatten', 'fc1', 'fc2', 'fc3',
    ]);
    const cfg = m.getLayer('conv1').getConfig() as { useBias: boolean; activation: string };
    expect(cfg.useBias).toBe(false);
    expect(cfg.activation).toBe('linear');
    expect(m.getLayer('conv1_bn').getClassName()).toBe('BatchNormalization');
    // plain models have no BN layer
    const plain = buildModel('cifar-cnn', { inputShape: [8, 8, 3], numClasses: 4, width: 0.02 });
    expect(plain.layers.some((l) => l.getClassName() === 'BatchNormalization')).toBe(false);
    [m, plain].forEach((x) => x.dispose());
  });

  test('training mode normalises with batch statistics and moves the moving averages; inference uses them', () => {
    const m = buildModel('cifar-cnn', { inputShape: [8, 8, 3], numClasses: 4, width: 0.02, batchNorm: true, seed: 2 });
    const x = tf.randomUniform([16, 8, 8, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
    const bn = m.getLayer('conv1_bn');
    const movingMean = () => Array.from(bn.getWeights()[2].dataSync());
    expect(movingMean().every((v) => v === 0)).toBe(true);
    // conv1 output per channel over the batch: what BN in training mode subtracts
    const sub = tf.model({ inputs: m.inputs, outputs: [m.getLayer('conv1').output as tf.SymbolicTensor, bn.output as tf.SymbolicTensor] });
    const [pre, post] = sub.apply(x, { training: true }) as tf.Tensor[];
    const batchMean = tf.tidy(() => Array.from(pre.mean([0, 1, 2]).dataSync()));
    // after one training pass: moving = 0.9·0 + 0.1·batch mean
    movingMean().forEach((v, i) => expect(v).toBeCloseTo(0.1 * batchMean[i], 5));
    // normalised per channel: mean 0, variance 1 (gamma 1, beta 0 at init)
    const [mu, variance] = tf.tidy(() => {
      const mo = tf.moments(post, [0, 1, 2]);
      return [Array.from(mo.mean.dataSync()), Array.from(mo.variance.dataSync())];
    });
    mu.forEach((v) => expect(Math.abs(v)).toBeLessThan(1e-4));
    variance.forEach((v, i) => expect(v).toBeCloseTo(batchMean[i] === 0 ? 0 : 1, 2));
    // inference: (pre − moving mean) / sqrt(moving var + eps), from the moving statistics
    const [, inf] = sub.apply(x, { training: false }) as tf.Tensor[];
    const [pre2] = sub.apply(x, { training: false }) as tf.Tensor[];
    const w = bn.getWeights();
    const expected = tf.tidy(() => tf.div(tf.sub(pre2, w[2]), tf.sqrt(tf.add(w[3], 1e-5))).mul(w[0]).add(w[1]));
    const err = tf.tidy(() => tf.abs(tf.sub(expected, inf)).max().dataSync()[0]);
    expect(err).toBeLessThan(1e-4);
    tf.dispose([x, pre, post, inf, pre2, expected]);
    m.dispose();
  });

  test('a BN model trains (its gammas move), round-trips through saveClassifier, and its logits match', async () => {
    const { trainClassifier } = await import('../../src/models/train.js');
    const { saveClassifier, loadClassifier } = await import('../../src/models/io.js');
    const fs = await import('node:fs/promises');
    const os = await import('node:os');
    const path = await import('node:path');
    const m = buildModel('imagenet-alexnet', { inputShape: [64, 64, 3], numClasses: 3, width: 0.05, batchNorm: true, seed: 1 });
    const x = tf.randomUniform([12, 64, 64, 3], 0, 1, 'float32', 9) as tf.Tensor4D;
    const y = tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2], 'int32');
    const gamma0 = Array.from(m.getLayer('conv2_bn').getWeights()[0].dataSync());
    const before = tf.memory().numTensors;
    await trainClassifier(m, { name: 't', spec: 't', split: 'train', x, y, indices: new Int32Array(12), classNames: ['a', 'b', 'c'], numClasses: 3 }, {
      epochs: 2, batchSize: 6, lr: 1e-2, progress: false,
    });
    expect(tf.memory().numTensors).toBe(before);
    const gamma1 = Array.from(m.getLayer('conv2_bn').getWeights()[0].dataSync());
    expect(gamma1).not.toEqual(gamma0);
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pcl-bn-'));
    try {
      await saveClassifier(dir, m, { testAccuracy: 0, epochs: 2, seconds: 0 });
      const { model } = await loadClassifier(dir);
      const d = tf.tidy(() => tf.abs(tf.sub(model.predict(x) as tf.Tensor, m.predict(x) as tf.Tensor)).max().dataSync()[0]);
      expect(d).toBeLessThan(1e-6);
      const c = new Classifier(model);
      const e = tf.tidy(() => tf.abs(tf.sub(tf.softmax(c.logits(x)), model.predict(x) as tf.Tensor)).max().dataSync()[0]);
      expect(e).toBeLessThan(1e-5);
      model.dispose();
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
    tf.dispose([x, y]);
    m.dispose();
  });
});

describe('memory-bound batches (memoryBoundBatch, Classifier.batchFor)', () => {
  test('keep the requested batch for the MLP, cap the full-width CNN by its first convolution, never below 1', () => {
    const mlp = buildModel('mnist-mlp', { inputShape: [28, 28, 1], numClasses: 10 });
    const cnn = buildModel('cifar-cnn', { inputShape: [32, 32, 3], numClasses: 10, width: 1 });
    try {
      expect(memoryBoundBatch(mlp, 1000)).toBe(1000);
      // conv1 (same padding): 32 × 32 × 300 floats = 1,228,800 bytes per image → ⌊128 MiB / 1.23 MB⌋ = 109
      expect(memoryBoundBatch(cnn, 1000)).toBe(Math.floor(ACTIVATION_BUDGET_BYTES / (32 * 32 * 300 * 4)));
      expect(memoryBoundBatch(cnn, 50)).toBe(50);
      expect(new Classifier(cnn).batchFor(1000)).toBe(memoryBoundBatch(cnn, 1000));
      const huge = buildModel('cifar-cnn', { inputShape: [512, 512, 3], numClasses: 10, width: 1 });
      expect(memoryBoundBatch(huge, 1000)).toBe(1);
      huge.dispose();
    } finally {
      mlp.dispose();
      cnn.dispose();
    }
  });

  test('predict in capped batches gives the labels of one pass and leaks nothing', () => {
    const cnn = buildModel('cifar-cnn', { inputShape: [32, 32, 3], numClasses: 10, width: 0.25, seed: 3 });
    const victim = new Classifier(cnn);
    const x = tf.randomUniform([23, 32, 32, 3], 0, 1, 'float32', 4) as tf.Tensor4D;
    try {
      const one = victim.predict(x, 23);
      const before = tf.memory().numTensors;
      const many = victim.predict(x, 5); // 5 batches, the last of 3
      expect(tf.memory().numTensors).toBe(before + 1);
      expect(Array.from(many.dataSync())).toEqual(Array.from(one.dataSync()));
      tf.dispose([one, many]);
    } finally {
      x.dispose();
      cnn.dispose();
    }
  });
});
