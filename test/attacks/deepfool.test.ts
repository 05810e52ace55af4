import * as tf from '@tensorflow/tfjs';
import { describe, expect, test } from 'vitest';
import { initEngine } from '../../src/engine/backend.js';
import { DeepFool } from '../../src/attacks/deepfool.js';
import { JACOBIAN_MAX_ROWS, logitsAndJacobian } from '../../src/attacks/common.js';
import { Rng } from '../../src/util/rng.js';
import { leakedTensors, linearClassifier, tinyMlp, uniform } from './fixtures.js';

await initEngine(); // before describe bodies build their models

const D = 16;
const K = 3;

describe('DeepFool', () => {
  const rng = new Rng(5);
  const w = uniform(rng, D * K, -1, 1);
  const b = uniform(rng, K, -0.2, 0.2);
  const model = linearClassifier([4, 4, 1], w, b);
  const n = 6;
  const xs = uniform(rng, n * D, 0.4, 0.6);
  const logit = (x: ArrayLike<number>, off: number, k: number) => {
    let s = b[k];
    for (let j = 0; j < D; j++) s += x[off + j] * w[j * K + k];
    return s;
  };
  // labels = the model's own predictions, so every row starts correctly classified
  const y = Array.from({ length: n }, (_, i) => {
    const z = [0, 1, 2].map((k) => logit(xs, i * D, k));
    return z.indexOf(Math.max(...z));
  });

  test('on an affine classifier one step lands on the nearest decision boundary (closed form)', async () => {
    const x = tf.tensor4d(xs, [n, 4, 4, 1]);
    const r = await new DeepFool({ maxIter: 1, overshoot: 0 }).run(model, x, y);
    const adv = await r.adversarial.data();
    for (let i = 0; i < n; i++) {
      // closed form: l = argmin_k |f_k|/‖w_k‖, r = |f_l|/‖w_l‖² · w_l
      let best = Infinity;
      let bl = -1;
      for (let k = 0; k < K; k++) {
        if (k === y[i]) continue;
        const f = logit(xs, i * D, k) - logit(xs, i * D, y[i]);
        const nw = Math.hypot(...Array.from({ length: D }, (_, j) => w[j * K + k] - w[j * K + y[i]]));
        if (Math.abs(f) / nw < best) {
          best = Math.abs(f) / nw;
          bl = k;
        }
      }
      const nw = Math.hypot(...Array.from({ length: D }, (_, j) => w[j * K + bl] - w[j * K + y[i]]));
      for (let j = 0; j < D; j++) {
        const expected = xs[i * D + j] + ((best + 1e-4) * (w[j * K + bl] - w[j * K + y[i]])) / nw;
        expect(expected).toBeGreaterThan(0); // the closed form needs no clipping here
        expect(expected).toBeLessThan(1);
        expect(adv[i * D + j]).toBeCloseTo(expected, 5);
      }
      // on the boundary between y and l (1e-4·‖w_l‖ past it), and the L2 is the distance to it
      expect(Math.abs(logit(adv, i * D, bl) - logit(adv, i * D, y[i]))).toBeLessThan(1e-3);
      expect(r.l2[i]).toBeCloseTo(best + 1e-4, 4);
      expect(r.success[i]).toBe(1);
      expect(r.iterations![i]).toBe(1);
    }
    tf.dispose([x, r.adversarial]);
  });

  test('fools a nonlinear network, stops moving rows once they are misclassified', async () => {
    const net = tinyMlp(2);
    const x = tf.tensor4d(xs, [n, 4, 4, 1]);
    const p = net.predict(x);
    const yp = Array.from(await p.data());
    const r = await new DeepFool().run(net, x, yp);
    expect(Array.from(r.success)).toEqual(new Array(n).fill(1));
    for (let i = 0; i < n; i++) {
      expect(r.predicted[i]).not.toBe(yp[i]);
      expect(r.iterations![i]).toBeGreaterThanOrEqual(1);
    }
    // a row already misclassified needs no step at all
    const wrong = yp.map((v) => (v + 1) % 3);
    const r2 = await new DeepFool().run(net, x, wrong);
    expect(Array.from(r2.iterations!)).toEqual(new Array(n).fill(0));
    expect(Array.from(r2.l2)).toEqual(new Array(n).fill(0));
    tf.dispose([x, p, r.adversarial, r2.adversarial]);
  });

  test('leaks no tensors', async () => {
    const x = tf.tensor4d(xs, [n, 4, 4, 1]);
    const leaked = await leakedTensors(async () => (await new DeepFool({ maxIter: 3 }).run(model, x, y)).adversarial.dispose());
    expect(leaked).toBe(0);
    x.dispose();
  });
});

describe('logitsAndJacobian', () => {
  test('splits the K·n tiled rows into passes of at most JACOBIAN_MAX_ROWS without changing any value', async () => {
    const model = tinyMlp(3);
    const rng = new Rng(9);
    const [h, w, c] = model.inputShape;
    const n = Math.ceil((JACOBIAN_MAX_ROWS + 1) / 2); // K·n > JACOBIAN_MAX_ROWS: several passes
    const x = tf.tensor4d(uniform(rng, n * h * w * c, 0, 1), [n, h, w, c]);
    const many = logitsAndJacobian(model, x);
    expect(many.jacobian.shape).toEqual([n, model.numClasses, h * w * c]);
    const got = await many.jacobian.data();
    // each row alone takes one pass (K rows): the same Jacobian row by row
    for (const i of [0, 1, n - 1]) {
      const one = logitsAndJacobian(model, x.slice([i, 0, 0, 0], [1, -1, -1, -1]) as tf.Tensor4D);
      const want = await one.jacobian.data();
      const row = got.subarray(i * want.length, (i + 1) * want.length);
      for (let j = 0; j < want.length; j++) expect(row[j]).toBeCloseTo(want[j], 5);
      tf.dispose([one.jacobian, one.logits]);
    }
    tf.dispose([many.jacobian, many.logits, x]);
  });
});
