import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { initEngine } from '../../../src/engine/backend.js';
import { InputDefender } from '../../../src/defense/input/input-defender.js';
import { Classifier } from '../../../src/models/classifier.js';
import { Rng } from '../../../src/util/rng.js';
import { NotFittedError, ShapeError } from '../../../src/errors.js';

/** 8×8 grey images: class 0 = horizontal stripes, class 1 = vertical stripes (random phase, contrast), plus pixel noise σ = 0.02. */
function stripes(n: number, seed: number): { x: Float32Array; y: Int32Array } {
  const rng = new Rng(seed);
  const x = new Float32Array(n * 64);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % 2;
    const phase = rng.next() * 2 * Math.PI;
    const amp = 0.2 + 0.25 * rng.next();
    for (let r = 0; r < 8; r++)
      for (let c = 0; c < 8; c++) x[i * 64 + r * 8 + c] = 0.5 + amp * Math.sin(phase + ((y[i] === 0 ? r : c) * Math.PI) / 2) + 0.02 * rng.normal();
  }
  return { x, y };
}

/** A fixed victim that tells the two stripe classes apart perfectly (row vs column variation). */
function stripeVictim(): Classifier {
  const m = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [8, 8, 1] }), tf.layers.dense({ units: 2, activation: 'softmax', useBias: false })] });
  // logit_0 − logit_1 = Σ |vertical differences| proxy: weight pixels so horizontal stripes (vary along rows) score class 0
  const w = new Float32Array(64 * 2);
  for (let r = 0; r < 8; r++)
    for (let c = 0; c < 8; c++) {
      // correlation with the class-specific sign pattern of the first two rows/columns
      const v = (r % 4 < 2 ? 1 : -1) * (c % 4 < 2 ? 1 : -1);
      w[(r * 8 + c) * 2] = 0;
      w[(r * 8 + c) * 2 + 1] = v;
    }
  m.layers[1].setWeights([tf.tensor2d(w, [64, 2])]);
  return new Classifier(m);
}

const params = { patchSize: 4, nAtoms: 16, patchesPerClass: 3000, nNonzero: 2, alpha: 0.05, epochs: 2, batchSize: 64, workers: 0 };

describe('InputDefender', () => {
  let det: InputDefender;
  let xTrain: tf.Tensor4D;
  let yTrain: tf.Tensor1D;
  let xTest: tf.Tensor4D;
  let yTest: tf.Tensor1D;
  let xNoisy: tf.Tensor4D;
  const dirs: string[] = [];

  beforeAll(async () => {
    await initEngine();
    const tr = stripes(400, 1);
    const te = stripes(100, 2);
    xTrain = tf.tensor4d(tr.x, [400, 8, 8, 1]);
    yTrain = tf.tensor1d(tr.y, 'int32');
    xTest = tf.tensor4d(te.x, [100, 8, 8, 1]);
    yTest = tf.tensor1d(te.y, 'int32');
    const rng = new Rng(3);
    xNoisy = tf.tensor4d(te.x.map((v) => Math.min(1, Math.max(0, v + (rng.next() < 0.5 ? -0.2 : 0.2)))), [100, 8, 8, 1]);
    det = await new InputDefender(undefined, params).fit(xTrain, yTrain, { seed: 4 });
  });
  afterAll(() => {
    tf.dispose([xTrain, yTrain, xTest, yTest, xNoisy]);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test('before fit: score, thresholds and save throw NotFittedError', async () => {
    const fresh = new InputDefender(undefined, params);
    expect(fresh.isFitted).toBe(false);
    await expect(fresh.score(xTest, yTest)).rejects.toThrow(NotFittedError);
    expect(() => fresh.thresholds(1)).toThrow(NotFittedError);
    await expect(fresh.save(path.join(tmpdir(), 'never'))).rejects.toThrow(NotFittedError);
  });

  test('fit resolves to a fitted detector with per-class sorted clean scores and leaves params untouched', () => {
    expect(det.isFitted).toBe(true);
    expect(det.numClasses).toBe(2);
    expect(det.params).toMatchObject(params);
    expect(det.grid.patchesPerImage).toBe(4);
    for (const k of [0, 1]) {
      const s = det.trainScores(k);
      expect(s.length).toBe(200);
      for (let i = 1; i < s.length; i++) expect(s[i]).toBeGreaterThanOrEqual(s[i - 1]);
    }
    expect(det.fitInfo!.trainCounts).toEqual([200, 200]);
  });

  test('clean images rebuild well (high PSNR); sign-noise images are flagged at SP = 1 %', async () => {
    const clean = await det.score(xTest, yTest);
    const noisy = await det.score(xNoisy, yTest);
    const meanPsnr = (s: Float32Array) => s.reduce((a, v) => a + det.rawFromScore(v), 0) / s.length;
    expect(meanPsnr(clean)).toBeGreaterThan(30);
    expect(meanPsnr(noisy)).toBeLessThan(meanPsnr(clean) - 10);
    const flagsNoisy = await det.detect(xNoisy, yTest, 1);
    const flagsClean = await det.detect(xTest, yTest, 1);
    expect(flagsNoisy.reduce((a, v) => a + v, 0)).toBeGreaterThanOrEqual(95);
    expect(flagsClean.reduce((a, v) => a + v, 0)).toBeLessThanOrEqual(10);
  });

  test('the wrong class dictionary rebuilds worse than the right one', async () => {
    const right = await det.score(xTest, yTest);
    const flipped = tf.tidy(() => tf.sub(1, yTest).toInt() as tf.Tensor1D);
    const wrong = await det.score(xTest, flipped);
    flipped.dispose();
    let worse = 0;
    for (let i = 0; i < 100; i++) if (wrong[i] > right[i]) worse++;
    expect(worse).toBeGreaterThanOrEqual(95);
  });

  test('reconstruct returns images of the input shape whose PSNR is the score', async () => {
    const rec = await det.reconstruct(xTest, yTest);
    expect(rec.shape).toEqual(xTest.shape);
    const mse = tf.tidy(() => tf.mean(tf.squaredDifference(rec, xTest), [1, 2, 3]).dataSync());
    rec.dispose();
    const s = await det.score(xTest, yTest);
    for (let i = 0; i < 5; i++) expect(det.rawFromScore(s[i])).toBeCloseTo(-10 * Math.log10(mse[i]), 2);
  });

  test('rejects bad shapes and missing labels with helpful messages', async () => {
    const flat = tf.zeros([3, 64]);
    const wrongSize = tf.zeros([3, 9, 9, 1]) as tf.Tensor4D;
    const badY = tf.tensor1d([0, 1], 'int32');
    try {
      await expect(det.score(flat as unknown as tf.Tensor4D, yTest)).rejects.toThrow(/expected x of rank 4/);
      await expect(det.score(wrongSize, badY)).rejects.toThrow(ShapeError);
      await expect(det.score(wrongSize, badY)).rejects.toThrow(/expected x of shape \[n,8,8,1\]/);
      await expect(det.score(xTest, badY)).rejects.toThrow(/expected yPred of shape \[100\]/);
      await expect(det.score(xTest)).rejects.toThrow(/no yPred given and no victim/);
      expect(() => new InputDefender(undefined, { nNonzero: 0 })).toThrow(/nNonzero/);
    } finally {
      tf.dispose([flat, wrongSize, badY]);
    }
  });

  test('with a victim: yPred defaults to its prediction, and fit is deterministic for a seed', async () => {
    const victim = stripeVictim();
    const withVictim = await new InputDefender(victim, params).fit(xTrain, yTrain, { seed: 4 });
    expect(Array.from(withVictim.dictionary(0))).toEqual(Array.from(det.dictionary(0)));
    const pred = victim.predict(xTest);
    try {
      expect(Array.from(await withVictim.score(xTest))).toEqual(Array.from(await withVictim.score(xTest, pred)));
    } finally {
      pred.dispose();
      victim.model.dispose();
    }
  });

  test('handles colour images: 3-channel patches, per-channel centring, non-divisible 10×10 by 4×4 grid', async () => {
    const rng = new Rng(8);
    const n = 120;
    const x = new Float32Array(n * 10 * 10 * 3);
    const y = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      y[i] = i % 2;
      const tint = [rng.next(), rng.next(), rng.next()];
      for (let r = 0; r < 10; r++)
        for (let c = 0; c < 10; c++)
          for (let ch = 0; ch < 3; ch++) x[((i * 10 + r) * 10 + c) * 3 + ch] = 0.3 * tint[ch] + 0.3 * ((y[i] === 0 ? r : c) % 2) + 0.01 * rng.normal();
    }
    const xt = tf.tensor4d(x, [n, 10, 10, 3]);
    const yt = tf.tensor1d(y, 'int32');
    const noisy = tf.tidy(() => tf.clipByValue(tf.add(xt, tf.mul(tf.sign(tf.randomNormal(xt.shape, 0, 1, 'float32', 5)), 0.2)), 0, 1)) as tf.Tensor4D;
    try {
      const d = await new InputDefender(undefined, { ...params, patchesPerClass: 1500 }).fit(xt, yt, { seed: 1 });
      expect(d.grid.dim).toBe(48);
      expect(d.grid.patchesPerImage).toBe(9);
      const clean = await d.score(xt, yt);
      const bad = await d.score(noisy, yt);
      let worse = 0;
      for (let i = 0; i < n; i++) if (bad[i] > clean[i]) worse++;
      expect(worse).toBe(n);
    } finally {
      tf.dispose([xt, yt, noisy]);
    }
  });

  test('fitting the classes in worker threads gives the same dictionaries as in-process', async () => {
    const par = await new InputDefender(undefined, { ...params, workers: 2 }).fit(xTrain, yTrain, { seed: 4 });
    expect(par.fitInfo!.parallelism).toBe('workers:2');
    expect(det.fitInfo!.parallelism).toBe('in-process');
    for (const k of [0, 1]) expect(Array.from(par.dictionary(k))).toEqual(Array.from(det.dictionary(k)));
    expect(Array.from(par.trainScores(1))).toEqual(Array.from(det.trainScores(1)));
  });

  test('scoring in worker threads (scoreWorkers = 2) gives the same scores as in-process', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pcl-input-w-'));
    dirs.push(dir);
    await det.save(dir);
    const loaded = await InputDefender.load(dir);
    const parallel = await InputDefender.load(dir, {}, { scoreWorkers: 2 });
    expect(parallel.params.scoreWorkers).toBe(2);
    // 2100 images → 4200 patches per class batch, enough to be split over the workers
    const xBig = tf.tile(xNoisy, [21, 1, 1, 1]) as tf.Tensor4D;
    const yBig = tf.tile(yTest, [21]) as tf.Tensor1D;
    try {
      expect(Array.from(await parallel.score(xBig, yBig))).toEqual(Array.from(await loaded.score(xBig, yBig)));
    } finally {
      tf.dispose([xBig, yBig]);
      parallel.dispose();
    }
  });
});
