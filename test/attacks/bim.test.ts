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
