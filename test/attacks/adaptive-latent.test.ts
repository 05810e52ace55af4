import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AdaptiveLatentAttack, componentThresholds } from '../../src/attacks/adaptive-latent.js';
import { adaptiveAttack } from '../../src/attacks/adaptive-report.js';
import { disposeDataset, loadDataset, type Dataset } from '../../src/data/index.js';
import { hddaLogLikAll } from '../../src/defense/latent/hdda.js';
import { LatentDefender } from '../../src/defense/latent/latent-defender.js';
import { baseScores, disagreementScores } from '../../src/defense/latent/scoring.js';
import { initEngine } from '../../src/engine/backend.js';
import { NotFittedError } from '../../src/errors.js';
import { Classifier } from '../../src/models/classifier.js';
import { trainClassifier } from '../../src/models/train.js';
import { buildModel } from '../../src/models/zoo.js';
import { leakedTensors } from './fixtures.js';

// A small real victim (MNIST MLP 784-300-100-10, 2,000 training images, 2 epochs) and one latent
// defender at fc2 with the default 'combined-disagreement' scoring (1 fine-tuning epoch).
let train: Dataset;
let victim: Classifier;
let def: LatentDefender;
let x: tf.Tensor4D; // the first 24 correctly classified test images
let y: Int32Array;

const FAST = { binarySteps: 4, iterations: 60, lr: 0.1, initialConst: 0.1 };

beforeAll(async () => {
  await initEngine();
  train = await loadDataset('mnist', { split: 'train', limit: 2000, seed: 1 });
  const test_ = await loadDataset('mnist', { split: 'test', limit: 60, seed: 2 });
  try {
    const model = buildModel('mnist-mlp', { inputShape: [28, 28, 1], numClasses: 10, seed: 0 });
    await trainClassifier(model, train, { epochs: 2, batchSize: 64, lr: 2e-3, seed: 0 });
    victim = new Classifier(model);
    def = new LatentDefender(victim, { epochs: 1 });
    await def.fit(train.x, train.y, { seed: 0 });
    const p = victim.predict(test_.x);
    const pred = await p.data();
    p.dispose();
    const yt = await test_.y.data();
    const idx = Array.from(yt.keys()).filter((i) => pred[i] === yt[i]).slice(0, 24);
    x = tf.gather(test_.x, idx);
    y = Int32Array.from(idx, (i) => yt[i]);
  } finally {
    disposeDataset(test_);
  }
});

afterAll(() => {
  x?.dispose();
  def?.dispose();
  victim?.model.dispose();
  if (train) disposeDataset(train);
});

/** Host-side component scores of the fitted defender under `classes` ([n, J] as arrays per component). */
function hostComponents(d: LatentDefender, im: tf.Tensor4D, classes: Int32Array): Float64Array[] {
  const ll = hddaLogLikAll(d.densities, d.features(im).data);
  return [
    baseScores(ll, 10, classes, 'likelihood'),
    baseScores(ll, 10, classes, 'ratio'),
    disagreementScores(d.replicaLogProbs(im), 10, classes),
  ];
}

describe('AdaptiveLatentAttack', () => {
  test('componentThresholds reproduce the defender\'s own flags exactly (combined-disagreement)', async () => {
    const noisy = tf.tidy(() => tf.clipByValue(tf.add(x, tf.randomNormal(x.shape, 0, 0.25, 'float32', 3)), 0, 1) as tf.Tensor4D);
    const both = tf.concat([x, noisy]) as tf.Tensor4D;
    try {
      const p = victim.predict(both);
      const cls = Int32Array.from(await p.data());
      p.dispose();
      for (const sp of [1, 5, 20]) {
        const ct = componentThresholds(def, sp);
        expect(ct.components).toEqual(['likelihood', 'ratio', 'disagreement']);
        const comps = hostComponents(def, both, cls);
        const flags = await def.detect(both, undefined, sp);
        let flagged = 0;
        for (let i = 0; i < cls.length; i++) {
          const mine = comps.some((s, j) => s[i] > ct.thresholds[j][cls[i]]);
          expect(Number(mine)).toBe(flags[i]);
          flagged += flags[i];
        }
        expect(flagged).toBeGreaterThan(0);
      }
    } finally {
      tf.dispose([noisy, both]);
    }
  });

  test('λ > 0 evades the latent defender far more often than λ = 0 at comparable success', async () => {
    const plain = await adaptiveAttack(victim, def, x, y, { ...FAST, lambda: 0, sp: 5 });
    const adapt = await adaptiveAttack(victim, def, x, y, { ...FAST, lambda: 10, sp: 5 });
    try {
      const n = y.length;
      const sum = (a: Uint8Array) => a.reduce((s, v) => s + v, 0);
      const meanScore = async (r: typeof plain) => {
        const s = await def.score(r.result.adversarial);
        let t = 0;
        let m = 0;
        for (let i = 0; i < n; i++) {
          if (!r.result.success[i]) continue;
          t += s[i];
          m++;
        }
        return t / m;
      };
      expect(sum(plain.result.success)).toBeGreaterThanOrEqual(n - 2);
      expect(sum(adapt.result.success)).toBeGreaterThanOrEqual(sum(plain.result.success) - 3);
      // detections among the successful examples at SP 5 % (the SP the attack aimed at)
      const detPlain = sum(plain.result.success.map((s, i) => s & plain.latentAny[i]));
      const detAdapt = sum(adapt.result.success.map((s, i) => s & adapt.latentAny[i]));
      expect(detPlain).toBeGreaterThanOrEqual(n / 2);
      expect(detAdapt).toBeLessThanOrEqual(detPlain / 3);
      expect(sum(adapt.evadesLatent)).toBeGreaterThan(sum(plain.evadesLatent));
      expect(await meanScore(adapt)).toBeLessThan((await meanScore(plain)) - 1);
    } finally {
      tf.dispose([plain.result.adversarial, adapt.result.adversarial]);
    }
  });

  test('leaks no tensors (λ = 0 and λ > 0, untargeted and targeted)', async () => {
    const xs = x.slice([0, 0, 0, 0], [3, -1, -1, -1]);
    const ys = y.slice(0, 3);
    const tg = Array.from(ys, (v) => (v + 1) % 10);
    try {
      for (const lambda of [0, 1]) {
        const a = new AdaptiveLatentAttack(def, { lambda, binarySteps: 2, iterations: 4 });
        expect(await leakedTensors(async () => (await a.run(victim, xs, ys)).adversarial.dispose())).toBe(0);
        expect(await leakedTensors(async () => (await a.run(victim, xs, ys, { targets: tg })).adversarial.dispose())).toBe(0);
      }
    } finally {
      xs.dispose();
    }
  });

  test('rejects bad parameters and unfitted targets with clear messages', async () => {
    expect(() => new AdaptiveLatentAttack(def, { lambda: -1 })).toThrow(/'lambda' must be a number in \[0, Infinity\], got -1/);
    expect(() => new AdaptiveLatentAttack(def, { sp: 100 })).toThrow(/'sp' must be a number in \[0, 99.999\], got 100/);
    expect(() => new AdaptiveLatentAttack(def, { margin: NaN })).toThrow(/'margin' must be a number/);
    expect(() => new AdaptiveLatentAttack(def, { iterations: 0 })).toThrow(/'iterations' must be an integer in \[1/);
    expect(() => new AdaptiveLatentAttack(def, { lamda: 1 } as never)).toThrow(/unknown parameter 'lamda'; expected one of lambda, sp/);
    expect(() => new AdaptiveLatentAttack([], { lambda: 1 })).toThrow(/needs at least one LatentDefender/);
    expect(() => new AdaptiveLatentAttack(new LatentDefender(victim), {})).toThrow(NotFittedError);
    const a = new AdaptiveLatentAttack(def, { binarySteps: 1, iterations: 1 });
    const xs = x.slice([0, 0, 0, 0], [2, -1, -1, -1]);
    try {
      await expect(a.run(victim, xs, y.slice(0, 2), { targets: [y[0], 0] })).rejects.toThrow(/targets\[0\] must be a class in \[0, 10\) other than the label/);
      await expect(a.run(victim, xs, [1, 2, 3])).rejects.toThrow(/expected 2 labels/);
    } finally {
      xs.dispose();
    }
  });
});
