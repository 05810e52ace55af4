import * as tf from '@tensorflow/tfjs';
import { describe, expect, test } from 'vitest';
import { initEngine } from '../../src/engine/backend.js';
import { PgdL2, projectL2, uniformL2Ball } from '../../src/attacks/pgd-l2.js';
import { makeAttack } from '../../src/attacks/registry.js';
import { Rng } from '../../src/util/rng.js';
import { leakedTensors, linearClassifier, tinyMlp, uniform } from './fixtures.js';

await initEngine(); // before describe bodies build their models

const D = 16;

describe('PGD L2', () => {
  const net = tinyMlp(3);
  const n = 8;
  const xs = uniform(new Rng(2), n * D, 0, 1);
  const y = [0, 1, 2, 0, 1, 2, 0, 1];

  test('stays in the L2 ε-ball and the bounds, runs every step; the random start is seeded', async () => {
    const x = tf.tensor4d(xs, [n, 4, 4, 1]);
    const pgd = new PgdL2({ eps: 0.5, steps: 7, relStepSize: 0.2 });
    const r1 = await pgd.run(net, x, y, { seed: 5 });
    const r2 = await pgd.run(net, x, y, { seed: 5 });
    const r3 = await pgd.run(net, x, y, { seed: 6 });
    const [a1, a2, a3] = [await r1.adversarial.data(), await r2.adversarial.data(), await r3.adversarial.data()];
    expect(Array.from(a1)).toEqual(Array.from(a2));
    expect(Array.from(a1)).not.toEqual(Array.from(a3));
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < D; j++) {
        const v = a1[i * D + j];
        expect(v >= 0 && v <= 1).toBe(true);
        s += (v - Math.fround(xs[i * D + j])) ** 2;
      }
      expect(Math.sqrt(s)).toBeLessThanOrEqual(0.5 + 1e-5);
      expect(r1.l2[i]).toBeCloseTo(Math.sqrt(s), 4);
    }
    expect(Array.from(r1.iterations!)).toEqual(new Array(n).fill(7));
    tf.dispose([x, r1.adversarial, r2.adversarial, r3.adversarial]);
  });

  test('on a linear model without random start, it walks straight down the margin: ‖δ‖ = min(ε, steps·step) along −(w_y − w_other)', async () => {
    // two classes, z0 = x·w, z1 = 0; from label 0 the cross-entropy gradient direction is −w, so every
    // step moves by step·(−w/‖w‖) until the ε-sphere, and the result is x − ε·w/‖w‖ (bounds far away)
    const w = Array.from({ length: D }, (_, i) => (i % 2 ? 1 : -1) * (0.5 + i / D));
    const model = linearClassifier([4, 4, 1], w.flatMap((v) => [v, 0]), [0, 0]);
    const x = tf.fill([1, 4, 4, 1], 0.5) as tf.Tensor4D;
    const norm = Math.hypot(...w);
    for (const [steps, expected] of [[2, 0.2], [10, 0.3]] as const) {
      const r = await new PgdL2({ eps: 0.3, steps, relStepSize: 1 / 3, randomStart: false }).run(model, x, [0]);
      const a = await r.adversarial.data();
      for (let j = 0; j < D; j++) expect(a[j]).toBeCloseTo(0.5 - (expected * w[j]) / norm, 5);
      expect(r.l2[0]).toBeCloseTo(expected, 5);
      r.adversarial.dispose();
    }
    x.dispose();
  });

  test('the random start is uniform in the ball: radii follow P(r ≤ t) = (t/ε)^d', () => {
    const m = 4000;
    const pts = uniformL2Ball([m, 2, 2, 1], 2, 11); // d = 4
    const r = tf.tidy(() => tf.norm(pts.reshape([m, 4]), 2, 1));
    const radii = r.dataSync();
    tf.dispose([pts, r]);
    for (const t of [1, 1.5, 1.9]) {
      const frac = radii.filter((v) => v <= t).length / m;
      expect(Math.abs(frac - (t / 2) ** 4)).toBeLessThan(0.03);
    }
    expect(Math.max(...radii)).toBeLessThanOrEqual(2 + 1e-5);
  });

  test('projectL2 leaves short rows alone and scales long rows onto the sphere', () => {
    const d = tf.tensor4d([0.3, 0.4, 0, 0, 3, 4, 0, 0], [2, 2, 2, 1]);
    const p = projectL2(d, 1);
    expect(Array.from(p.dataSync())).toEqual([0.3, 0.4, 0, 0, 0.6, 0.8, 0, 0].map((v) => expect.closeTo(v, 6)));
    tf.dispose([d, p]);
  });

  test('rejects bad parameters, naming them', () => {
    expect(() => new PgdL2({ eps: -1 })).toThrow(/'eps' must be a number in \[0, Infinity\], got -1/);
    expect(() => new PgdL2({ steps: 0 })).toThrow(/'steps' must be an integer/);
    expect(() => makeAttack('pgd-l2', { stepSize: 0.1 })).toThrow(/unknown parameter 'stepSize'; expected one of eps, steps, relStepSize, randomStart/);
    expect(makeAttack('l2pgd').name).toBe('pgd-l2');
  });

  test('leaks no tensors', async () => {
    const x = tf.tensor4d(xs, [n, 4, 4, 1]);
    const leaked = await leakedTensors(async () => (await new PgdL2({ steps: 3 }).run(net, x, y)).adversarial.dispose());
    expect(leaked).toBe(0);
    x.dispose();
  });
});
