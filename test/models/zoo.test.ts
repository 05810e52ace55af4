import { beforeAll, describe, expect, test } from 'vitest';
import { initEngine, tf } from '../../src/engine/backend.js';
import { ArgumentError } from '../../src/errors.js';
import { Classifier } from '../../src/models/classifier.js';
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
    big.dispose();
    const small = buildModel('imagenet-alexnet', { inputShape: [64, 64, 3], numClasses: 10 });
    expect((small.getLayer('conv1').getConfig() as { kernelSize: number[]; strides: number[] }).kernelSize).toEqual([11, 11]);
    expect((small.getLayer('conv1').getConfig() as { strides: number[] }).strides).toEqual([4, 4]);
    expect(small.getLayer('pool3').outputShape).toEqual([null, 1, 1, 128]);
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
    expect(() => buildModel('imagenet-alexnet', { inputShape: [16, 16, 3], numClasses: 10 })).toThrow(/too small for imagenet-alexnet/);
  });
});
