import * as tf from '@tensorflow/tfjs';
import { describe, expect, test } from 'vitest';
import { initEngine } from '../../src/engine/backend.js';
import { FGSM, fgsmStep } from '../../src/attacks/fgsm.js';
import { Rng } from '../../src/util/rng.js';
import { leakedTensors, linearClassifier, uniform } from './fixtures.js';

await initEngine(); // before describe bodies build their models

const D = 16;
const K = 3;

/** ∇ₓ CE for an affine model, by hand: W·(softmax(z) − e_y). */
function ceGradLinear(x: number[], w: number[], b: number[], y: number): number[] {
  const z = b.map((bk, k) => bk + x.reduce((a, xj, j) => a + xj * w[j * K + k], 0));
  const mx = Math.max(...z);
  const e = z.map((v) => Math.exp(v - mx));
  const s = e.reduce((a, v) => a + v, 0);
  const p = e.map((v) => v / s);
  return x.map((_, j) => p.reduce((a, pk, k) => a + w[j * K + k] * (pk - (k === y ? 1 : 0)), 0));
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
