import * as tf from '@tensorflow/tfjs';
import { describe, expect, test } from 'vitest';
import { initEngine } from '../../src/engine/backend.js';
import { CarliniWagnerL2 } from '../../src/attacks/carlini-wagner-l2.js';
import { Rng } from '../../src/util/rng.js';
import { leakedTensors, linearClassifier, tinyMlp, uniform } from './fixtures.js';

await initEngine(); // before describe bodies build their models

const D = 16;

describe('CarliniWagnerL2', () => {
  test('on a binary affine classifier it finds (nearly) the minimal L2, never below the closed form', async () => {
    const rng = new Rng(21);
    const w = uniform(rng, D * 2, -1, 1);
    const b = [0.05, -0.05];
    const model = linearClassifier([4, 4, 1], w, b);
    const n = 4;
    const xs = uniform(rng, n * D, 0.35, 0.65);
    const wd = Array.from({ length: D }, (_, j) => w[j * 2 + 1] - w[j * 2]);
    const nw = Math.hypot(...wd);
    const f = (i: number) => b[1] - b[0] + wd.reduce((a, v, j) => a + v * xs[i * D + j], 0);
    const y = Array.from({ length: n }, (_, i) => (f(i) > 0 ? 1 : 0));
    const x = tf.tensor4d(xs, [n, 4, 4, 1]);
    const r = await new CarliniWagnerL2({ binarySteps: 10, iterations: 300, lr: 0.01 }).run(model, x, y);
    for (let i = 0; i < n; i++) {
      const dist = Math.abs(f(i)) / nw; // exact distance to the decision boundary
      expect(r.success[i]).toBe(1);
      expect(r.l2[i]).toBeGreaterThanOrEqual(dist - 1e-4);
      expect(r.l2[i]).toBeLessThanOrEqual(dist * 1.05 + 1e-3);
    }
    tf.dispose([x, r.adversarial]);
  });

  test('never reports an unsuccessful example as successful; failures return the original input', async () => {
    const net = tinyMlp(4);
    const rng = new Rng(8);
    const n = 12;
    const xs = uniform(rng, n * D, 0, 1);
    const x = tf.tensor4d(xs, [n, 4, 4, 1]);
    const p = net.predict(x);
    const y = Array.from(await p.data());
    // a starved budget: some rows succeed, some fail
    const r = await new CarliniWagnerL2({ binarySteps: 2, iterations: 8, initialConst: 0.3, lr: 0.05 }).run(net, x, y);
    const q = net.predict(r.adversarial);
    const pred = await q.data();
    const adv = await r.adversarial.data();
    let fails = 0;
    for (let i = 0; i < n; i++) {
      expect(r.success[i]).toBe(Number(pred[i] !== y[i])); // independent forward pass agrees
      if (!r.success[i]) {
        fails++;
        for (let j = 0; j < D; j++) expect(adv[i * D + j]).toBe(Math.fround(xs[i * D + j]));
        expect(r.l2[i]).toBe(0);
      }
    }
    expect(fails).toBeGreaterThan(0);
    expect(fails).toBeLessThan(n);
    // the full default-style search fools every row
    const full = await new CarliniWagnerL2({ binarySteps: 6, iterations: 100 }).run(net, x, y);
    expect(Array.from(full.success)).toEqual(new Array(n).fill(1));
    tf.dispose([x, p, q, r.adversarial, full.adversarial]);
  });

  test('confidence κ leaves a margin of at least κ between the best other logit and the true one', async () => {
    const net = tinyMlp(4);
    const rng = new Rng(9);
    const n = 4;
    const x = tf.tensor4d(uniform(rng, n * D, 0, 1), [n, 4, 4, 1]);
    const p = net.predict(x);
    const y = Array.from(await p.data());
    const kappa = 0.5;
    const r = await new CarliniWagnerL2({ confidence: kappa, binarySteps: 6, iterations: 100 }).run(net, x, y);
    const z = net.logits(r.adversarial);
    const zz = await z.data();
    for (let i = 0; i < n; i++) {
      if (!r.success[i]) continue;
      const row = Array.from(zz.slice(i * 3, i * 3 + 3));
      const other = Math.max(...row.filter((_, k) => k !== y[i]));
      expect(other - row[y[i]]).toBeGreaterThanOrEqual(kappa - 1e-4);
    }
    expect(r.success.reduce((a, v) => a + v, 0)).toBeGreaterThan(0);
    tf.dispose([x, p, z, r.adversarial]);
  });

  test('leaks no tensors', async () => {
    const net = tinyMlp(4);
    const x = tf.tensor4d(uniform(new Rng(1), 3 * D, 0, 1), [3, 4, 4, 1]);
    const leaked = await leakedTensors(async () =>
      (await new CarliniWagnerL2({ binarySteps: 2, iterations: 12 }).run(net, x, [0, 1, 2])).adversarial.dispose(),
    );
    expect(leaked).toBe(0);
    x.dispose();
  });
});
