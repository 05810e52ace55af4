/**
 * One C&W optimisation core for plain C&W L2 and the adaptive attack (issue 10): the adaptive attack
 * with λ = 0 must be plain C&W, bit for bit, including the final binary-search step that runs at each
 * row's upper bound (the adaptive copy of the loop had lost it).
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, test } from 'vitest';
import { initEngine } from '../../src/engine/backend.js';
import { AdaptiveLatentAttack } from '../../src/attacks/adaptive-latent.js';
import { CarliniWagnerL2, carliniWagnerL2Core, finalStepConstants, type CwExtraLoss } from '../../src/attacks/carlini-wagner-l2.js';
import { Rng } from '../../src/util/rng.js';
import { leakedTensors, tinyMlp, uniform } from './fixtures.js';

await initEngine();

describe('carliniWagnerL2Core', () => {
  test('finalStepConstants: the last of ≥ 10 steps uses each row’s upper bound where one is known', () => {
    const consts = Float64Array.from([0.5, 3, 7]);
    const upper = Float64Array.from([1, 1e10, 4]);
    finalStepConstants(8, 10, consts, upper); // not the last step
    expect(Array.from(consts)).toEqual([0.5, 3, 7]);
    finalStepConstants(9, 10, consts, upper);
    expect(Array.from(consts)).toEqual([1, 3, 4]); // row 1 never succeeded: unchanged
    const short = Float64Array.from([0.5]);
    finalStepConstants(4, 5, short, Float64Array.from([1])); // short searches keep their bisection
    expect(Array.from(short)).toEqual([0.5]);
  });

  test('the core runs the final step at the upper bound: the last constants are ones that succeeded before', async () => {
    const net = tinyMlp(4);
    const x = tf.tensor4d(uniform(new Rng(5), 6 * 16, 0, 1), [6, 4, 4, 1]);
    const p = net.predict(x);
    const y = Int32Array.from(await p.data());
    p.dispose();
    const steps: Float64Array[] = [];
    const r = await carliniWagnerL2Core(net, x, y, { confidence: 0, binarySteps: 10, iterations: 40, lr: 0.05, initialConst: 1e-2, abortEarly: false }, { onStep: (_, c) => steps.push(c) });
    expect(steps).toHaveLength(10);
    const q = net.predict(r.adversarial);
    const fooled = Array.from(await q.data()).map((v, i) => v !== y[i]);
    q.dispose();
    expect(fooled.filter(Boolean).length).toBeGreaterThan(0);
    // each constant of the last step equals a constant some earlier step used (the smallest that succeeded), never a fresh bisection midpoint
    for (let i = 0; i < y.length; i++) {
      if (!fooled[i]) continue; // never succeeded: no upper bound, the search just grows c
      const earlier = steps.slice(0, 9).map((c) => c[i]);
      expect(earlier).toContain(steps[9][i]);
    }
    tf.dispose([x, r.adversarial]);
  });

  test('AdaptiveLatentAttack with λ = 0 is plain C&W L2, bit for bit (one loop, final step included)', async () => {
    const net = tinyMlp(4);
    const x = tf.tensor4d(uniform(new Rng(6), 8 * 16, 0, 1), [8, 4, 4, 1]);
    const p = net.predict(x);
    const y = Array.from(await p.data());
    p.dispose();
    const params = { confidence: 0, binarySteps: 10, iterations: 30, lr: 0.05, initialConst: 1e-2, abortEarly: true };
    const plain = await new CarliniWagnerL2(params).run(net, x, y);
    const adaptive = await new AdaptiveLatentAttack([], { ...params, lambda: 0 }).run(net, x, y);
    expect(Array.from(await adaptive.adversarial.data())).toEqual(Array.from(await plain.adversarial.data()));
    expect(Array.from(adaptive.success)).toEqual(Array.from(plain.success));
    expect(Array.from(adaptive.iterations!)).toEqual(Array.from(plain.iterations!));
    expect(plain.success.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    tf.dispose([plain.adversarial, adaptive.adversarial]);
    expect(await leakedTensors(async () => (await new AdaptiveLatentAttack([], { ...params, lambda: 0, binarySteps: 2 }).run(net, x, y)).adversarial.dispose())).toBe(0);
    x.dispose();
  });

  test('per-row early abort: each row gets what attacking it alone gives, and finished rows stop early', async () => {
    const net = tinyMlp(4);
    const n = 6;
    const x = tf.tensor4d(uniform(new Rng(11), n * 16, 0, 1), [n, 4, 4, 1]);
    const p = net.predict(x);
    const y = Int32Array.from(await p.data());
    p.dispose();
    // an extra loss with per-row data (a pull towards a row-specific image), so that dropping rows must gather it by `rows`
    const pull = tf.tensor4d(uniform(new Rng(12), n * 16, 0, 1), [n, 4, 4, 1]);
    const extraFor = (sub: tf.Tensor4D): CwExtraLoss => (im, _ohC, rows) => {
      const d = tf.sum(tf.square(tf.sub(im, tf.gather(sub, rows))), [1, 2, 3]) as tf.Tensor1D;
      return { penalty: tf.mul(d, 0.05) as tf.Tensor1D, violation: tf.sub(d, 1.5) as tf.Tensor1D };
    };
    const params = { confidence: 0, binarySteps: 5, iterations: 60, lr: 0.05, initialConst: 0.1, abortEarly: true };
    for (const withExtra of [false, true]) {
      const batch = await carliniWagnerL2Core(net, x, y, params, withExtra ? { extraLoss: extraFor(pull) } : {});
      const advB = await batch.adversarial.data();
      batch.adversarial.dispose();
      // rows left at different iterations: the batch did not run every row to the end
      expect(Math.min(...batch.iterations)).toBeLessThan(Math.max(...batch.iterations));
      expect(Math.max(...batch.iterations)).toBeLessThanOrEqual(5 * 60);
      for (let i = 0; i < n; i++) {
        const xi = tf.slice(x, [i, 0, 0, 0], [1, 4, 4, 1]);
        const pi = tf.slice(pull, [i, 0, 0, 0], [1, 4, 4, 1]);
        const one = await carliniWagnerL2Core(net, xi, y.subarray(i, i + 1), params, withExtra ? { extraLoss: extraFor(pi) } : {});
        const adv1 = await one.adversarial.data();
        expect(one.iterations[0]).toBe(batch.iterations[i]);
        for (let j = 0; j < 16; j++) expect(advB[i * 16 + j]).toBeCloseTo(adv1[j]!, 5);
        tf.dispose([xi, pi, one.adversarial]);
      }
    }
    // 'batch' scope: one iteration count for the whole batch (Carlini's code)
    const whole = await carliniWagnerL2Core(net, x, y, { ...params, abortScope: 'batch' });
    expect(new Set(whole.iterations).size).toBe(1);
    whole.adversarial.dispose();
    expect(await leakedTensors(async () => (await carliniWagnerL2Core(net, x, y, { ...params, binarySteps: 2 }, { extraLoss: extraFor(pull) })).adversarial.dispose())).toBe(0);
    tf.dispose([x, pull]);
  });

  test('CarliniWagnerL2 rejects an unknown abortScope', () => {
    expect(() => new CarliniWagnerL2({ abortScope: 'none' as 'row' })).toThrow(/'abortScope' must be 'row' or 'batch'/);
  });
});
