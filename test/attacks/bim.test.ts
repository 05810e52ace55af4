import * as tf from '@tensorflow/tfjs';
import { describe, expect, test } from 'vitest';
import { initEngine } from '../../src/engine/backend.js';
import { BIM } from '../../src/attacks/bim.js';
import { FGSM } from '../../src/attacks/fgsm.js';
import { Rng } from '../../src/util/rng.js';
import { leakedTensors, tinyMlp, uniform } from './fixtures.js';

await initEngine(); // before describe bodies build their models

const D = 16;

describe('BIM / PGD', () => {
  const net = tinyMlp(3);
  const n = 8;
  const xs = uniform(new Rng(2), n * D, 0, 1);
  const y = [0, 1, 2, 0, 1, 2, 0, 1];

  test('one step of size ε is FGSM', async () => {
    const x = tf.tensor4d(xs, [n, 4, 4, 1]);
    const a = await new BIM({ eps: 0.2, stepSize: 0.2, steps: 1 }).run(net, x, y);
    const b = await new FGSM({ eps: 0.2 }).run(net, x, y);
    expect(Array.from(await a.adversarial.data())).toEqual(Array.from(await b.adversarial.data()));
    tf.dispose([x, a.adversarial, b.adversarial]);
  });

  test('stays in the ε-ball and the bounds; the random start is seeded', async () => {
    const x = tf.tensor4d(xs, [n, 4, 4, 1]);
    const pgd = new BIM({ eps: 0.1, stepSize: 0.03, steps: 7, randomStart: true });
    const r1 = await pgd.run(net, x, y, { seed: 5 });
    const r2 = await pgd.run(net, x, y, { seed: 5 });
    const r3 = await pgd.run(net, x, y, { seed: 6 });
    const [a1, a2, a3] = [await r1.adversarial.data(), await r2.adversarial.data(), await r3.adversarial.data()];
    expect(Array.from(a1)).toEqual(Array.from(a2));
    expect(Array.from(a1)).not.toEqual(Array.from(a3));
    for (let i = 0; i < n * D; i++) {
      expect(Math.abs(a1[i] - Math.fround(xs[i]))).toBeLessThanOrEqual(0.1 + 1e-6);
      expect(a1[i] >= 0 && a1[i] <= 1).toBe(true);
    }
    expect(Array.from(r1.iterations!)).toEqual(new Array(n).fill(7));
    tf.dispose([x, r1.adversarial, r2.adversarial, r3.adversarial]);
  });

  test('leaks no tensors', async () => {
    const x = tf.tensor4d(xs, [n, 4, 4, 1]);
    const leaked = await leakedTensors(async () => (await new BIM({ steps: 3, randomStart: true }).run(net, x, y)).adversarial.dispose());
    expect(leaked).toBe(0);
    x.dispose();
  });
});

describe('PGD L∞ runs to the end', () => {
  test('rows that are already misclassified keep stepping until the ε-box (no early stop)', async () => {
    // linear two-class model; from label 0 every step moves by α·sign(−w) until the box edge at ε.
    // The clean point is already misclassified (z0 < z1), so an early-stopping PGD would not move at all.
    const { linearClassifier } = await import('./fixtures.js');
    const w = Array.from({ length: D }, (_, i) => (i % 2 ? 1 : -1) * (0.5 + i / D));
    const model = linearClassifier([4, 4, 1], w.flatMap((v) => [v, 0]), [-100, 0]);
    const x = tf.fill([1, 4, 4, 1], 0.5) as tf.Tensor4D;
    const r = await new BIM({ eps: 0.1, stepSize: 0.01, steps: 40 }).run(model, x, [0]);
    const a = await r.adversarial.data();
    expect(r.success[0]).toBe(1);
    for (let j = 0; j < D; j++) expect(a[j]).toBeCloseTo(0.5 - 0.1 * Math.sign(w[j]), 5);
    tf.dispose([x, r.adversarial]);
  });
});
