import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';
import type { Detector, ScoreSurrogate } from '../../../src/defense/types.js';
import { Classifier } from '../../../src/models/classifier.js';
import { Rng } from '../../../src/util/rng.js';

/** Gaussian blobs rendered as 4×4×1 "images": class c = a fixed random pattern + N(0, σ²) noise. */
export interface Blobs {
  x: tf.Tensor4D;
  y: tf.Tensor1D;
}

const H = 4;
const K = 3;

function patterns(seed: number): Float32Array[] {
  const rng = new Rng(seed);
  return Array.from({ length: K }, () => Float32Array.from({ length: H * H }, () => 0.2 + 0.6 * rng.next()));
}

/** `perClass` samples of each of the 3 classes (rows in class order), noise σ = `sigma`. Caller owns tensors. */
export function blobs(perClass: number, seed: number, sigma = 0.08, patternSeed = 1): Blobs {
  const pats = patterns(patternSeed);
  const rng = new Rng(seed);
  const n = perClass * K;
  const x = new Float32Array(n * H * H);
  const y = new Int32Array(n);
  for (let s = 0; s < n; s++) {
    const c = Math.floor(s / perClass);
    y[s] = c;
    for (let j = 0; j < H * H; j++) x[s * H * H + j] = pats[c][j] + sigma * rng.normal();
  }
  return { x: tf.tensor4d(x, [n, H, H, 1]), y: tf.tensor1d(y, 'int32') };
}

/**
 * A small chain victim (flatten → h1 dense 12 relu → h2 dense 6 tanh → out dense 3 softmax),
 * (tanh at the checkpoint: a 6-unit ReLU layer has dead units that make many features identical),
 * seeded and trained for a few epochs on blobs. Caller owns the classifier's model.
 */
export async function tinyVictim(seed = 0): Promise<Classifier> {
  const init = (s: number) => tf.initializers.glorotUniform({ seed: seed * 10 + s });
  const model = tf.sequential({
    layers: [
      tf.layers.flatten({ inputShape: [H, H, 1], name: 'flatten' }),
      tf.layers.dense({ units: 12, activation: 'relu', name: 'h1', kernelInitializer: init(1) }),
      tf.layers.dense({ units: 6, activation: 'tanh', name: 'h2', kernelInitializer: init(2) }),
      tf.layers.dense({ units: K, activation: 'softmax', name: 'out', kernelInitializer: init(3) }),
    ],
  });
  model.compile({ optimizer: tf.train.adam(0.02), loss: 'sparseCategoricalCrossentropy' });
  const { x, y } = blobs(100, seed + 100);
  const yf = y.toFloat();
  try {
    await model.fit(x, yf, { epochs: 30, batchSize: 32, shuffle: false, verbose: 0 });
  } finally {
    tf.dispose([x, y, yf]);
  }
  return new Classifier(model);
}

/** Fraction of rows where the classifier predicts the label. */
export function accuracy(c: Classifier, b: Blobs): number {
  return tf.tidy(() => tf.mean(tf.equal(c.predict(b.x), b.y).toFloat()).dataSync()[0]);
}

/** The victim's predicted labels for `x` (the class the latent defenders score under). */
export function predictedLabels(victim: Classifier, x: tf.Tensor4D): Int32Array {
  const p = victim.predict(x);
  const v = Int32Array.from(p.dataSync());
  p.dispose();
  return v;
}

/**
 * Images just past `victim`'s decision boundary (a minimal attack's endpoints): along the segment from each image of
 * `x` [n, 4, 4, 1] to another one the victim labels differently, bisect to where the prediction changes and keep the
 * first point past it; `count` of them.
 */
export function boundaryImages(victim: Classifier, x: tf.Tensor4D, count: number): tf.Tensor4D {
  const px = predictedLabels(victim, x);
  const n = x.shape[0];
  const imgs = x.reshape([n, -1]).arraySync() as number[][];
  const out: number[][] = [];
  for (let s = 0; out.length < count && s < n; s++) {
    const t = (s * 7 + 3) % n;
    if (px[t] === px[s]) continue;
    let lo = 0;
    let hi = 1;
    const at = (u: number) => imgs[s]!.map((v, j) => (1 - u) * v + u * imgs[t]![j]!);
    for (let it = 0; it < 30; it++) {
      const mid = (lo + hi) / 2;
      const xi = tf.tensor4d(at(mid), [1, H, H, 1]);
      const p = predictedLabels(victim, xi)[0];
      xi.dispose();
      if (p === px[s]) lo = mid;
      else hi = mid;
    }
    out.push(at(hi));
  }
  return tf.tensor4d(out.flat(), [out.length, H, H, 1]);
}

/**
 * Checks a one-component defender's surrogate against the defender on `x` (3 classes): its `scores` equal `score`
 * under the victim's labels, and `excess` > 0 exactly where `flags` (the defender's flags at its SP) are set. Returns
 * the surrogate and the one-hot labels (the caller disposes both).
 */
export async function expectSurrogateMatches(det: Detector, victim: Classifier, x: tf.Tensor4D, flags: Uint8Array): Promise<{ sur: ScoreSurrogate; oh: tf.Tensor2D }> {
  const sur = det.surrogate!();
  const oh = tf.oneHot(tf.tensor1d(predictedLabels(victim, x), 'int32'), K) as tf.Tensor2D;
  const sv = sur.scores(x, oh).dataSync();
  const ev = sur.excess(x, oh).dataSync();
  const se = await det.score(x);
  for (let i = 0; i < se.length; i++) {
    expect(sv[i]).toBeCloseTo(se[i]!, 4);
    expect(ev[i]! > 0).toBe(flags[i] === 1);
  }
  return { sur, oh };
}
