import * as tf from '@tensorflow/tfjs';
import { describe, expect, test } from 'vitest';
import { initEngine } from '../../src/engine/backend.js';
import { JSMA, bestPairs, chooseTargets } from '../../src/attacks/jsma.js';
import { Rng } from '../../src/util/rng.js';
import { leakedTensors, tinyMlp, uniform } from './fixtures.js';

await initEngine(); // before describe bodies build their models

const D = 16;

describe('JSMA', () => {
  test('bestPairs matches a brute-force search over all admissible pairs', async () => {
    const rng = new Rng(3);
    const m = 5;
    const d = 7;
    const a = uniform(rng, m * d, -1, 1);
    const bb = uniform(rng, m * d, -1, 1);
    const dom = Array.from({ length: m * d }, () => (rng.next() < 0.7 ? 1 : 0));
    for (const increase of [true, false]) {
      const r = bestPairs(tf.tensor2d(a, [m, d]), tf.tensor2d(bb, [m, d]), tf.tensor2d(dom, [m, d]), increase);
      const [p, q, v] = [await r.p.data(), await r.q.data(), await r.valid.data()];
      for (let i = 0; i < m; i++) {
        let best = 0;
        let bestPair: [number, number] | undefined;
        for (let s = 0; s < d; s++) {
          for (let t = 0; t < d; t++) {
            if (s === t || !dom[i * d + s] || !dom[i * d + t]) continue;
            const ap = a[i * d + s] + a[i * d + t];
            const bp = bb[i * d + s] + bb[i * d + t];
            const ok = increase ? ap > 0 && bp < 0 : ap < 0 && bp > 0;
            if (ok && -ap * bp > best) {
              best = -ap * bp;
              bestPair = [s, t];
            }
          }
        }
        expect(v[i]).toBe(bestPair ? 1 : 0);
        if (bestPair) expect(new Set([p[i], q[i]])).toEqual(new Set(bestPair));
      }
      tf.dispose([r.p, r.q, r.valid]);
    }
  });

  test('target policies: random never picks the label, next is y+1, least-likely is the lowest clean logit', () => {
    const y = Int32Array.from({ length: 300 }, (_, i) => i % 10);
    const t = chooseTargets('random', y, 10, 4);
    const seen = new Set<number>();
    t.forEach((v, i) => {
      expect(v).not.toBe(y[i]);
      expect(v >= 0 && v < 10).toBe(true);
      seen.add(v);
    });
    expect(seen.size).toBe(10);
    expect(Array.from(chooseTargets('random', y, 10, 4))).toEqual(Array.from(t)); // seeded
    expect(Array.from(chooseTargets('next', Int32Array.from([0, 8, 9]), 10))).toEqual([1, 9, 0]);
    const logits = Float32Array.from([0.2, -1, 3, /* row 2 */ -5, 1, 0]);
    expect(Array.from(chooseTargets('least-likely', Int32Array.from([2, 0]), 3, 0, logits))).toEqual([1, 2]);
  });

  test('changes at most ⌊γ·D⌋ features, each by θ (clipped), and success means "classified as the target"', async () => {
    const net = tinyMlp(6);
    const rng = new Rng(10);
    const n = 10;
    const xs = uniform(rng, n * D, 0, 0.8);
    const x = tf.tensor4d(xs, [n, 4, 4, 1]);
    const p = net.predict(x);
    const y = Array.from(await p.data());
    for (const [gamma, saliencyOn] of [[0.25, 'probs'], [0.5, 'probs'], [0.5, 'logits']] as const) {
      const theta = 0.6;
      const r = await new JSMA({ gamma, theta, target: 'next', saliencyOn }).run(net, x, y);
      const adv = await r.adversarial.data();
      const q = net.predict(r.adversarial);
      const pred = await q.data();
      for (let i = 0; i < n; i++) {
        expect(r.targets![i]).toBe((y[i] + 1) % 3);
        expect(r.l0[i]).toBeLessThanOrEqual(Math.floor(gamma * D));
        expect(r.success[i]).toBe(Number(pred[i] === r.targets![i]));
        for (let j = 0; j < D; j++) {
          const before = Math.fround(xs[i * D + j]);
          const after = adv[i * D + j];
          if (after !== before) expect(after).toBeCloseTo(Math.min(1, before + theta), 6);
        }
      }
      expect(r.success.reduce((a, v) => a + v, 0)).toBeGreaterThan(0);
      tf.dispose([r.adversarial, q]);
    }
    tf.dispose([x, p]);
  });

  test('negative θ only decreases features; explicit targets are honoured and checked', async () => {
    const net = tinyMlp(6);
    const rng = new Rng(12);
    const n = 6;
    const xs = uniform(rng, n * D, 0.2, 1);
    const x = tf.tensor4d(xs, [n, 4, 4, 1]);
    const p = net.predict(x);
    const y = Array.from(await p.data());
    const targets = y.map((v) => (v + 2) % 3);
    const r = await new JSMA({ gamma: 0.5, theta: -1 }).run(net, x, y, { targets });
    expect(Array.from(r.targets!)).toEqual(targets);
    const adv = await r.adversarial.data();
    for (let i = 0; i < n * D; i++) expect(adv[i]).toBeLessThanOrEqual(Math.fround(xs[i]));
    await expect(new JSMA().run(net, x, y, { targets: y })).rejects.toThrow(/targets\[0\] must be a class/);
    expect(() => new JSMA({ gamma: 2 })).toThrow(/'gamma' must be a number in \[0, 1\]/);
    expect(() => new JSMA({ target: 'second' as never })).toThrow(/'target' must be one of random, next, least-likely/);
    tf.dispose([x, p, r.adversarial]);
  });

  test('leaks no tensors', async () => {
    const net = tinyMlp(6);
    const x = tf.tensor4d(uniform(new Rng(1), 3 * D, 0, 0.8), [3, 4, 4, 1]);
    const leaked = await leakedTensors(async () =>
      (await new JSMA({ gamma: 0.5, target: 'least-likely', pairChunk: 2 }).run(net, x, [0, 1, 2])).adversarial.dispose(),
    );
    expect(leaked).toBe(0);
    x.dispose();
  });
});
