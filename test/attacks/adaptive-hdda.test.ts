import * as tf from '@tensorflow/tfjs';
import { describe, expect, test } from 'vitest';
import { initEngine } from '../../src/engine/backend.js';
import { disposeHddaTensors, hddaLogLikTensor, hddaTensors } from '../../src/attacks/hdda-tf.js';
import { fitHdda, hddaLogLikAll } from '../../src/defense/latent/hdda.js';
import { Rng } from '../../src/util/rng.js';

await initEngine();

/**
 * K classes of n anisotropic Gaussian samples in p dimensions (a few strong directions plus small
 * isotropic noise, like fine-tuned checkpoint features), optionally projected onto the unit sphere.
 */
function features(rng: Rng, k: number, n: number, p: number, sphere: boolean): { x: Float32Array; y: Int32Array } {
  const x = new Float32Array(k * n * p);
  const y = new Int32Array(k * n);
  for (let c = 0; c < k; c++) {
    const mean = Array.from({ length: p }, () => rng.normal());
    const dirs = Array.from({ length: 3 }, () => Array.from({ length: p }, () => rng.normal()));
    for (let s = 0; s < n; s++) {
      const row = (c * n + s) * p;
      y[c * n + s] = c;
      const coef = [2 * rng.normal(), rng.normal(), 0.5 * rng.normal()];
      let q = 0;
      for (let j = 0; j < p; j++) {
        const v = mean[j] + coef[0] * dirs[0][j] + coef[1] * dirs[1][j] + coef[2] * dirs[2][j] + 0.05 * rng.normal();
        x[row + j] = v;
        q += v * v;
      }
      if (sphere) for (let j = 0; j < p; j++) x[row + j] /= Math.sqrt(q);
    }
  }
  return { x, y };
}

describe('hddaLogLikTensor (tfjs twin of hddaLogLikAll)', () => {
  test.each([
    { dims: 'auto' as const, sphere: false },
    { dims: 'auto' as const, sphere: true },
    { dims: 2, sphere: true },
    { dims: 12, sphere: false }, // d = p: full-covariance Gaussian, no complement
  ])('matches hddaLogLikAll on random features (dims $dims, unit sphere $sphere)', ({ dims, sphere }) => {
    const rng = new Rng(5);
    const p = 12;
    const k = 3;
    const train = features(rng, k, 80, p, sphere);
    const model = fitHdda(train.x, p, train.y, k, { dims });
    // queries: fresh in-class samples plus far-off points, where −log p is large
    const q = features(new Rng(9), k, 10, p, sphere).x;
    const far = Float32Array.from({ length: 6 * p }, () => 3 * rng.normal());
    const all = new Float32Array(q.length + far.length);
    all.set(q);
    all.set(far, q.length);
    const ref = hddaLogLikAll(model, all);
    const h = hddaTensors(model);
    const phi = tf.tensor2d(all, [all.length / p, p]);
    const got = hddaLogLikTensor(h, phi);
    const v = got.dataSync();
    expect(got.shape).toEqual([all.length / p, k]);
    for (let i = 0; i < ref.length; i++) expect(Math.abs(v[i] - ref[i])).toBeLessThanOrEqual(2e-5 * Math.abs(ref[i]) + 2e-3);
    tf.dispose([phi, got]);
    disposeHddaTensors(h);
  });

  test('its gradient matches central finite differences of hddaLogLikAll', () => {
    const rng = new Rng(3);
    const p = 6;
    const train = features(rng, 2, 60, p, false);
    const model = fitHdda(train.x, p, train.y, 2, { dims: 2 });
    const x0 = Float64Array.from({ length: p }, (_, j) => train.x[j] + 0.3 * rng.normal());
    const h = hddaTensors(model);
    const g = tf.tidy(() => tf.grad((phi: tf.Tensor) => tf.sum(hddaLogLikTensor(h, phi as tf.Tensor2D).slice([0, 1], [1, 1])))(tf.tensor2d(Float32Array.from(x0), [1, p])));
    const gv = g.dataSync();
    const eps = 1e-4;
    for (let j = 0; j < p; j++) {
      const a = Float64Array.from(x0);
      const b = Float64Array.from(x0);
      a[j] += eps;
      b[j] -= eps;
      const fd = (hddaLogLikAll(model, a)[1] - hddaLogLikAll(model, b)[1]) / (2 * eps);
      expect(Math.abs(gv[j] - fd)).toBeLessThanOrEqual(1e-3 * Math.abs(fd) + 1e-2);
    }
    g.dispose();
    disposeHddaTensors(h);
  });

  test('leaks no tensors and rejects a feature dimension that does not match', () => {
    const rng = new Rng(4);
    const train = features(rng, 2, 30, 5, true);
    const model = fitHdda(train.x, 5, train.y, 2);
    const h = hddaTensors(model);
    const phi = tf.zeros([3, 5]) as tf.Tensor2D;
    const before = tf.memory().numTensors;
    hddaLogLikTensor(h, phi).dispose();
    expect(tf.memory().numTensors).toBe(before);
    const bad = tf.zeros([3, 4]) as tf.Tensor2D;
    expect(() => hddaLogLikTensor(h, bad)).toThrow(/expected phi of shape \[n, 5\], got \[3,4\]/);
    tf.dispose([phi, bad]);
    disposeHddaTensors(h);
  });
});
