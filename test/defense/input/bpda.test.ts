import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadDataset, disposeDataset, type Dataset } from '../../../src/data/index.js';
import { InputBpda, cleanTailScale, type BpdaLinearisation } from '../../../src/defense/input/bpda.js';
import { InputDefender } from '../../../src/defense/input/input-defender.js';
import { initEngine } from '../../../src/engine/backend.js';
import { Rng } from '../../../src/util/rng.js';

// A small real input defender (49 atoms per class, OMP codes) on an MNIST slice; the surrogate is
// checked against the defender itself and against finite differences with the OMP support held fixed.
let train: Dataset;
let test_: Dataset;
let det: InputDefender;
let bpda: InputBpda;
let labels: Int32Array;

beforeAll(async () => {
  await initEngine();
  train = await loadDataset('mnist', { split: 'train', limit: 2000, seed: 4 });
  test_ = await loadDataset('mnist', { split: 'test', limit: 8, seed: 5 });
  det = new InputDefender(undefined, { patchesPerClass: 2000, nAtoms: 49, codes: 'omp', workers: 1 });
  await det.fit(train.x, train.y, { seed: 0 });
  bpda = new InputBpda(det);
  labels = Int32Array.from(await test_.y.data());
});

afterAll(() => {
  det?.dispose();
  if (train) disposeDataset(train);
  if (test_) disposeDataset(test_);
});

/** Supports equal ⇔ the orthonormal bases are equal (same atoms, same order). */
async function sameSupport(a: tf.Tensor3D, b: tf.Tensor3D): Promise<boolean> {
  const d = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))));
  const v = (await d.data())[0];
  d.dispose();
  return v < 1e-5;
}

/** The surrogate's gradient along `trials` random directions = central finite differences of the surrogate itself. */
async function expectGradientMatchesFd(lin: BpdaLinearisation, x0: tf.Tensor4D, seed: number, trials: number): Promise<void> {
  const rng = new Rng(seed);
  const g = tf.grad((x: tf.Tensor) => tf.sum(lin.score(x as tf.Tensor4D)))(x0);
  try {
    for (let trial = 0; trial < trials; trial++) {
      const d = tf.tensor4d(Float32Array.from({ length: x0.size }, () => rng.normal()), x0.shape);
      const h = 1e-3; // the log in −PSNR is curved: larger steps leave the linear regime
      const [fd, an] = tf.tidy(() => {
        const up = lin.score(tf.add(x0, tf.mul(d, h)) as tf.Tensor4D);
        const dn = lin.score(tf.sub(x0, tf.mul(d, h)) as tf.Tensor4D);
        return [tf.div(tf.sub(up, dn), 2 * h), tf.sum(tf.mul(g, d).reshape([x0.shape[0], -1]), 1)];
      });
      const a = await fd.data();
      const b = await an.data();
      for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThan(1e-2 * Math.max(1, Math.abs(b[i])));
      tf.dispose([d, fd, an]);
    }
  } finally {
    g.dispose();
  }
}

describe('InputBpda', () => {
  test('forward = the defender’s own score (−PSNR), for the predicted and for other classes', async () => {
    for (const cls of [labels, Int32Array.from(labels, (y) => (y + 3) % 10)]) {
      const lin = await bpda.linearise(test_.x, cls);
      try {
        const s = lin.score(test_.x);
        const got = await s.data();
        s.dispose();
        const want = await det.score(test_.x, tf.tensor1d(cls, 'int32'));
        for (let i = 0; i < cls.length; i++) {
          expect(got[i]).toBeCloseTo(want[i], 3);
          expect(lin.scoreAtPoint[i]).toBeCloseTo(want[i], 3);
        }
      } finally {
        lin.dispose();
      }
    }
    // another class's dictionary rebuilds a digit worse: a higher score
    const own = await det.score(test_.x, tf.tensor1d(labels, 'int32'));
    const other = await det.score(test_.x, tf.tensor1d(Int32Array.from(labels, (y) => (y + 3) % 10), 'int32'));
    expect(other.reduce((a, b) => a + b, 0)).toBeGreaterThan(own.reduce((a, b) => a + b, 0));
  });

  test('gradient = central finite differences of the surrogate with the support held fixed', async () => {
    const lin = await bpda.linearise(test_.x, labels);
    try {
      await expectGradientMatchesFd(lin, test_.x, 7, 3);
    } finally {
      lin.dispose();
    }
  });

  test('where the real OMP keeps its support, the real defender’s finite difference equals the surrogate gradient (exact given the support)', async () => {
    const n = test_.x.shape[0];
    const size = 28 * 28;
    const x0 = (await test_.x.data()) as Float32Array;
    const lin = await bpda.linearise(x0, labels);
    const rng = new Rng(11);
    // a direction on the digit's own pixels (flat background patches would leave the empty support)
    const dir = Float32Array.from(x0, (v) => (v > 0.05 && v < 0.95 ? rng.normal() : 0));
    const dT = tf.tensor4d(dir, test_.x.shape);
    const g = tf.grad((x: tf.Tensor) => tf.sum(lin.score(x as tf.Tensor4D)))(test_.x);
    const dd = tf.tidy(() => tf.sum(tf.mul(g, dT).reshape([n, -1]), 1));
    const an = await dd.data();
    tf.dispose([g, dd]);
    const h = 1e-3;
    const xp = Float32Array.from(x0, (v, j) => v + h * dir[j]);
    const xm = Float32Array.from(x0, (v, j) => v - h * dir[j]);
    const lp = await bpda.linearise(xp, labels);
    const lm = await bpda.linearise(xm, labels);
    let checked = 0;
    try {
      for (let i = 0; i < n; i++) {
        const bi = (t: tf.Tensor3D) => t.slice([i * 16, 0, 0], [16, -1, -1]);
        const [b0, bp, bm] = [bi(lin.basis), bi(lp.basis), bi(lm.basis)];
        const stable = (await sameSupport(b0, bp)) && (await sameSupport(b0, bm));
        tf.dispose([b0, bp, bm]);
        if (!stable) continue;
        checked++;
        const fd = (lp.scoreAtPoint[i] - lm.scoreAtPoint[i]) / (2 * h);
        expect(Math.abs(fd - an[i])).toBeLessThan(2e-2 * Math.max(1, Math.abs(an[i])));
        // and the surrogate's host score is the defender's own score at the shifted points
        const real = await det.score(tf.tensor4d(xp.subarray(i * size, (i + 1) * size), [1, 28, 28, 1]), tf.tensor1d([labels[i]], 'int32'));
        expect(real[0]).toBeCloseTo(lp.scoreAtPoint[i], 3);
      }
    } finally {
      [lin, lp, lm].forEach((l) => l.dispose());
      dT.dispose();
    }
    expect(checked).toBeGreaterThanOrEqual(n / 2);
  });

  test('score leaks no tensors; bad input is refused by name', async () => {
    const lin = await bpda.linearise(test_.x, labels);
    try {
      const before = tf.memory().numTensors;
      const s = lin.score(test_.x);
      expect(tf.memory().numTensors).toBe(before + 1);
      s.dispose();
      expect(() => lin.score(test_.x.slice([0, 0, 0, 0], [2, -1, -1, -1]))).toThrow(/expected x of shape \[8,28,28,1\], got \[2,28,28,1\]/);
    } finally {
      lin.dispose();
    }
    await expect(bpda.linearise(test_.x, [1, 2])).rejects.toThrow(/expected 8 classes/);
    await expect(bpda.linearise(test_.x, Int32Array.from(labels, () => 12))).rejects.toThrow(/classes\[0\] = 12 is not a class/);
  });

  test('overlapping patches (stride 2, the MNIST default): forward = the defender’s score, gradient = finite differences, no leaks', async () => {
    const ov = await new InputDefender(undefined, { patchesPerClass: 2000, nAtoms: 49, codes: 'omp', workers: 1, stride: 2 }).fit(train.x, train.y, { seed: 0 });
    const ob = new InputBpda(ov);
    try {
      expect(ob.grid.patchesPerImage).toBe(144); // origins 0, 2, …, 20, 21 on both axes
      const cls = Int32Array.from(labels, (y, i) => (i % 2 ? y : (y + 3) % 10));
      const lin = await ob.linearise(test_.x, cls);
      try {
        const want = await ov.score(test_.x, tf.tensor1d(cls, 'int32'));
        const before = tf.memory().numTensors;
        const s = lin.score(test_.x);
        expect(tf.memory().numTensors).toBe(before + 1);
        const got = await s.data();
        s.dispose();
        for (let i = 0; i < cls.length; i++) {
          expect(got[i]).toBeCloseTo(want[i], 3);
          expect(lin.scoreAtPoint[i]).toBeCloseTo(want[i], 3);
        }
        // the tiled surrogate's formula would give another value: the assembly (averaging) matters
        const tiledLin = await bpda.linearise(test_.x, cls);
        const tiled = await tiledLin.score(test_.x).data();
        tiledLin.dispose();
        expect(Array.from(tiled).some((v, i) => Math.abs(v - want[i]) > 0.05)).toBe(true);
        await expectGradientMatchesFd(lin, test_.x, 13, 1);
      } finally {
        lin.dispose();
      }
    } finally {
      ob.dispose();
      ov.dispose();
    }
  });

  test('thresholds at SP and clean tail scales', () => {
    const { thresholds, scales } = bpda.thresholdsAndScales(5);
    expect(Array.from(thresholds)).toEqual(Array.from(det.thresholds(5)));
    for (const s of scales) expect(s).toBeGreaterThan(0);
    expect(cleanTailScale(Float32Array.from({ length: 200 }, (_, i) => i))).toBeCloseTo(1.5, 6); // top 2 excess over 197: (1 + 2) / 2
  });
});
