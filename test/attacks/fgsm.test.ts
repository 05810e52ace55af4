import * as tf from '@tensorflow/tfjs';
import { describe, expect, test } from 'vitest';
import { initEngine } from '../../src/engine/backend.js';
import { FGSM, fgsmStep } from '../../src/attacks/fgsm.js';
import { Rng } from '../../src/util/rng.js';
import { leakedTensors, linearClassifier, uniform } from './fixtures.js';

await initEngine(); // before describe bodies build their models

const D = 16;
const K = 3;

/** ∇ₓ CE for an affine model, by hand in float64: W·(softmax(z) − e_y). */
function ceGradLinear(x: number[], w: number[], b: number[], y: number): number[] {
  const z = b.map((bk, k) => bk + x.reduce((a, xj, j) => a + xj * w[j * K + k], 0));
  const mx = Math.max(...z);
  const e = z.map((v) => Math.exp(v - mx));
  const s = e.reduce((a, v) => a + v, 0);
  const p = e.map((v) => v / s);
  // Σ_k (p_k − δ_ky) W_jk rewritten as Σ_{k≠y} p_k (W_jk − W_jy) (uses Σ p = 1): no 1 − p_y cancellation
  return x.map((_, j) => p.reduce((a, pk, k) => (k === y ? a : a + pk * (w[j * K + k] - w[j * K + y])), 0));
}

describe('FGSM', () => {
  const rng = new Rng(11);
  const w = uniform(rng, D * K, -1, 1);
  const b = uniform(rng, K, -0.2, 0.2);
  const model = linearClassifier([4, 4, 1], w, b);
  const n = 5;
  const xs = uniform(rng, n * D, 0.3, 0.7);
  const y = [0, 1, 2, 0, 1];

  test('the unclipped step moves every feature by exactly ε along sign(∇ CE) (hand-computed gradient)', async () => {
    const eps = 0.1;
    const x = tf.tensor4d(xs, [n, 4, 4, 1]);
    const step = fgsmStep(model, x, tf.tensor1d(y, 'int32'), eps);
    const got = await step.data();
    for (let i = 0; i < n; i++) {
      const g = ceGradLinear(xs.slice(i * D, (i + 1) * D), w, b, y[i]);
      let linf = 0;
      for (let j = 0; j < D; j++) {
        const delta = got[i * D + j] - xs[i * D + j];
        expect(delta).toBeCloseTo(eps * Math.sign(g[j]), 6);
        linf = Math.max(linf, Math.abs(delta));
      }
      expect(linf).toBeCloseTo(eps, 6);
    }
    tf.dispose([x, step]);
  });

  test('keeps the exact gradient sign on very confident rows (where softmax − onehot loses ∇z_y in float32)', async () => {
    const big = w.map((v) => v * 200); // logit margins of tens: p_y rounds to 1 in float32
    const conf = linearClassifier([4, 4, 1], big, b);
    const yc: number[] = [];
    for (let i = 0; i < n; i++) {
      const z = [0, 1, 2].map((k) => b[k] + xs.slice(i * D, (i + 1) * D).reduce((a, xj, j) => a + xj * big[j * K + k], 0));
      yc.push(z.indexOf(Math.max(...z)));
      const sorted = [...z].sort((p, q) => q - p);
      expect(sorted[0] - sorted[1]).toBeGreaterThan(17); // the regime this test is about
    }
    const x = tf.tensor4d(xs, [n, 4, 4, 1]);
    const step = fgsmStep(conf, x, tf.tensor1d(yc, 'int32'), 0.01);
    const got = await step.data();
    // the plain float32 softmax − onehot gradient, for contrast: it gets signs wrong here
    const oh = tf.oneHot(tf.tensor1d(yc, 'int32'), K);
    const naive = tf.grad((xi: tf.Tensor) => tf.neg(tf.sum(tf.mul(oh, tf.logSoftmax(conf.logits(xi as tf.Tensor4D))))))(x);
    const nv = await naive.data();
    let naiveWrong = 0;
    for (let i = 0; i < n; i++) {
      const g = ceGradLinear(xs.slice(i * D, (i + 1) * D), big, b, yc[i]); // float64 oracle
      for (let j = 0; j < D; j++) {
        expect(Math.sign(got[i * D + j] - xs[i * D + j])).toBe(Math.sign(g[j]));
        if (Math.sign(nv[i * D + j]) !== Math.sign(g[j])) naiveWrong++;
      }
    }
    expect(naiveWrong).toBeGreaterThan(0);
    tf.dispose([x, step, oh, naive]);
  });

  test('run clips to the bounds, reports L∞ ≤ ε, and success matches the model', async () => {
    const eps = 0.5; // large enough to hit the bounds
    const x = tf.tensor4d(xs, [n, 4, 4, 1]);
    const r = await new FGSM({ eps }).run(model, x, y);
    const adv = await r.adversarial.data();
    expect(Math.min(...adv)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...adv)).toBeLessThanOrEqual(1);
    for (let i = 0; i < n; i++) {
      expect(r.linf[i]).toBeLessThanOrEqual(eps + 1e-6);
      expect(r.success[i]).toBe(Number(r.predicted[i] !== y[i]));
    }
    expect(r.success.reduce((a, v) => a + v, 0)).toBeGreaterThan(0);
    tf.dispose([x, r.adversarial]);
  });

  test('rejects inputs outside the bounds and bad ε with helpful messages', async () => {
    const x = tf.fill([1, 4, 4, 1], 1.5) as tf.Tensor4D;
    await expect(new FGSM().run(model, x, [0])).rejects.toThrow(/inside the model bounds \[0, 1\]/);
    await expect(new FGSM().run(model, tf.zeros([2, 16]) as unknown as tf.Tensor4D, [0, 1])).rejects.toThrow(/expected x of rank 4/);
    expect(() => new FGSM({ eps: -1 })).toThrow(/'eps' must be a number/);
    x.dispose();
  });

  test('leaks no tensors', async () => {
    const x = tf.tensor4d(xs, [n, 4, 4, 1]);
    const leaked = await leakedTensors(async () => (await new FGSM({ eps: 0.1 }).run(model, x, y)).adversarial.dispose());
    expect(leaked).toBe(0);
    x.dispose();
  });
});
