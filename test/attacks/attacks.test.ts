import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, test } from 'vitest';
import { initEngine } from '../../src/engine/backend.js';
import { ATTACK_NAMES, makeAttack, runAttack, summarize, type Attack } from '../../src/attacks/index.js';
import type { Classifier } from '../../src/models/classifier.js';
import { accuracy, blobs, leakedTensors, trainedBlobModel } from './fixtures.js';

await initEngine();

/** Every attack, with a budget small enough for a unit test (foolbox's AttackTestTarget table). */
const TARGETS: Array<{ name: string; make: () => Attack; maxLinf?: number; maxL2?: number }> = [
  { name: 'fgsm', make: () => makeAttack('fgsm', { eps: 0.3 }), maxLinf: 0.3 },
  { name: 'bim', make: () => makeAttack('bim', { eps: 0.2, stepSize: 0.05, steps: 10 }), maxLinf: 0.2 },
  { name: 'pgd', make: () => makeAttack('pgd', { eps: 0.2, stepSize: 0.05, steps: 10 }), maxLinf: 0.2 },
  { name: 'jsma', make: () => makeAttack('jsma', { gamma: 0.5, theta: 1 }) },
  { name: 'deepfool', make: () => makeAttack('deepfool', {}) },
  { name: 'cw-l2', make: () => makeAttack('cw-l2', { binarySteps: 4, iterations: 60 }) },
  { name: 'pgd-l2', make: () => makeAttack('pgd-l2', { eps: 1, steps: 20 }), maxL2: 1 },
];

describe('attacks on a small trained model', () => {
  let model: Classifier;
  let x: tf.Tensor4D;
  let y: Int32Array;
  let clean: number;
  beforeAll(async () => {
    model = await trainedBlobModel();
    ({ x, y } = blobs(12, 99)); // held-out draw of the same blobs
    clean = await accuracy(model, x, y);
  });

  test('the victim is accurate on clean data', () => {
    expect(clean).toBeGreaterThanOrEqual(0.9);
  });

  test.each(TARGETS)('$name lowers accuracy, stays in bounds and budget, and leaks nothing', async ({ make, maxLinf, maxL2 }) => {
    const attack = make();
    const r = await runAttack(attack, model, x, y, { batchSize: 16, seed: 1 });
    expect(r.adversarial.shape).toEqual(x.shape);
    const adv = await r.adversarial.data();
    expect(Math.min(...adv)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...adv)).toBeLessThanOrEqual(1);
    const advAcc = await accuracy(model, r.adversarial, y);
    expect(advAcc).toBeLessThan(clean - 0.3);
    if (maxLinf !== undefined) for (const v of r.linf) expect(v).toBeLessThanOrEqual(maxLinf + 1e-6);
    if (maxL2 !== undefined) for (const v of r.l2) expect(v).toBeLessThanOrEqual(maxL2 + 1e-5);
    const s = summarize(r);
    expect(s.n).toBe(y.length);
    expect(s.successRate).toBeGreaterThan(0.3);
    r.adversarial.dispose();
    const leaked = await leakedTensors(async () => (await runAttack(attack, model, x.slice(0, 5), y.subarray(0, 5), { batchSize: 3 })).adversarial.dispose());
    // x.slice above makes one tensor per call
    expect(leaked).toBe(1);
  });

  test.each(TARGETS)('$name reports progress as (done, total), ending at done = total', async ({ make }) => {
    const calls: Array<[number, number]> = [];
    const r = await make().run(model, x, y, { seed: 1, onProgress: (done, total) => calls.push([done, total]) });
    r.adversarial.dispose();
    expect(calls.length).toBeGreaterThan(0);
    for (const [done, total] of calls) {
      expect(Number.isInteger(done) && Number.isInteger(total)).toBe(true);
      expect(done).toBeGreaterThanOrEqual(0);
      expect(done).toBeLessThanOrEqual(total);
    }
    const [lastDone, lastTotal] = calls[calls.length - 1];
    expect(lastDone).toBe(lastTotal);
  });

  test('runAttack in batches gives the same result as one call, and reports progress to the end', async () => {
    const a = makeAttack('deepfool', { maxIter: 10 });
    const one = await a.run(model, x, y);
    const seen: number[] = [];
    const many = await runAttack(a, model, x, y, { batchSize: 7, onProgress: (d) => seen.push(d) });
    expect(Array.from(many.success)).toEqual(Array.from(one.success));
    const [p, q] = [await one.adversarial.data(), await many.adversarial.data()];
    for (let i = 0; i < p.length; i++) expect(q[i]).toBeCloseTo(p[i], 5);
    expect(seen[seen.length - 1]).toBe(y.length);
    tf.dispose([one.adversarial, many.adversarial]);
  });
});

describe('makeAttack', () => {
  test('knows every attack and its aliases', () => {
    expect(ATTACK_NAMES).toEqual(['fgsm', 'bim', 'jsma', 'deepfool', 'cw-l2', 'pgd-l2']);
    expect(makeAttack('cw').name).toBe('cw-l2');
    expect((makeAttack('pgd').params as { randomStart: boolean }).randomStart).toBe(true);
    expect(makeAttack('cw-l2').params).toEqual({ confidence: 0, binarySteps: 20, iterations: 500, lr: 0.1, initialConst: 1e-3, abortEarly: true, abortScope: 'row' });
  });
  test('rejects unknown attacks and parameters, naming the valid ones', () => {
    expect(() => makeAttack('foo')).toThrow(/unknown attack 'foo'; expected one of fgsm, bim, jsma, deepfool, cw-l2, pgd-l2/);
    expect(() => makeAttack('fgsm', { epsilon: 1 })).toThrow(/unknown parameter 'epsilon'; expected one of eps/);
  });
});
