import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../src/util/rng.js';
import { Classifier } from '../../src/models/classifier.js';

/** An affine classifier z = flatten(x)·W + b on [h,w,c] inputs, W row-major [D, K]. */
export function linearClassifier(shape: [number, number, number], w: number[], b: number[]): Classifier {
  const d = shape[0] * shape[1] * shape[2];
  const k = b.length;
  const m = tf.sequential({
    layers: [tf.layers.flatten({ inputShape: shape }), tf.layers.dense({ units: k, useBias: true })],
  });
  tf.tidy(() => m.layers[1].setWeights([tf.tensor2d(w, [d, k]), tf.tensor1d(b)]));
  return new Classifier(m);
}

/** Seeded uniform numbers in [lo, hi). */
export function uniform(rng: Rng, n: number, lo: number, hi: number): number[] {
  return Array.from({ length: n }, () => lo + (hi - lo) * rng.next());
}

/** A fixed-weight 2-layer ReLU network 4×4×1 → 8 → 3 (weights from a seeded PRNG), with softmax output. */
export function tinyMlp(seed = 1): Classifier {
  const rng = new Rng(seed);
  const m = tf.sequential({
    layers: [
      tf.layers.flatten({ inputShape: [4, 4, 1] }),
      tf.layers.dense({ units: 8, activation: 'relu' }),
      tf.layers.dense({ units: 3, activation: 'softmax' }),
    ],
  });
  tf.tidy(() => {
    m.layers[1].setWeights([tf.tensor2d(uniform(rng, 16 * 8, -1, 1), [16, 8]), tf.tensor1d(uniform(rng, 8, -0.1, 0.1))]);
    m.layers[2].setWeights([tf.tensor2d(uniform(rng, 8 * 3, -1, 1), [8, 3]), tf.tensor1d(uniform(rng, 3, -0.1, 0.1))]);
  });
  return new Classifier(m);
}

/**
 * Three Gaussian blobs on 4×4×1 images (σ = 0.12, clipped to [0,1]) around seeded means in
 * [0.25, 0.75] (fixed): `n` images per class, drawn with `seed`. Returns x [3n,4,4,1] and labels.
 */
export function blobs(n: number, seed = 3): { x: tf.Tensor4D; y: Int32Array } {
  const meanRng = new Rng(3); // the same three classes for every draw
  const means = [0, 1, 2].map(() => uniform(meanRng, 16, 0.25, 0.75));
  const rng = new Rng(seed);
  const data: number[] = [];
  const y = new Int32Array(3 * n);
  for (let i = 0; i < 3 * n; i++) {
    const c = i % 3;
    y[i] = c;
    for (let j = 0; j < 16; j++) data.push(Math.min(1, Math.max(0, means[c][j] + 0.12 * rng.normal())));
  }
  return { x: tf.tensor4d(data, [3 * n, 4, 4, 1]), y };
}

/** A small MLP 4×4×1 → 16 → 3 trained (seeded) on `blobs`; clean accuracy is near 100 %. */
export async function trainedBlobModel(): Promise<Classifier> {
  const m = tf.sequential({
    layers: [
      tf.layers.flatten({ inputShape: [4, 4, 1] }),
      tf.layers.dense({ units: 16, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 7 }) }),
      tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 8 }) }),
    ],
  });
  m.compile({ optimizer: tf.train.adam(0.03), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  const { x, y } = blobs(100, 3);
  const yt = tf.tensor1d(y, 'float32');
  await m.fit(x, yt, { epochs: 40, batchSize: 32, shuffle: false, verbose: 0 });
  tf.dispose([x, yt]);
  return new Classifier(m);
}

/** Accuracy of `model` on x against labels y. */
export async function accuracy(model: Classifier, x: tf.Tensor4D, y: ArrayLike<number>): Promise<number> {
  const p = model.predict(x);
  const pred = await p.data();
  p.dispose();
  let ok = 0;
  for (let i = 0; i < y.length; i++) if (pred[i] === y[i]) ok++;
  return ok / y.length;
}

/** Runs `fn` once to warm up, then again, and returns how many tensors the second run left behind. */
export async function leakedTensors(fn: () => Promise<unknown>): Promise<number> {
  await fn();
  const before = tf.memory().numTensors;
  await fn();
  return tf.memory().numTensors - before;
}
