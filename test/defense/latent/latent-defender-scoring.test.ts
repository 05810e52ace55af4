import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../../src/engine/backend.js';
import { LatentDefender } from '../../../src/defense/latent/latent-defender.js';
import { hddaLogLikAll } from '../../../src/defense/latent/hdda.js';
import { baseScores } from '../../../src/defense/latent/scoring.js';
import type { Classifier } from '../../../src/models/classifier.js';
import { type Blobs, blobs, predictedLabels, tinyVictim } from './fixtures.js';

let victim: Classifier;
let train: Blobs;
let heldOut: Blobs;
let ratio: LatentDefender;
let combined: LatentDefender;

beforeAll(async () => {
  await initEngine();
  victim = await tinyVictim(0);
  train = blobs(1000, 21);
  heldOut = blobs(2000, 22);
  ratio = await new LatentDefender(victim, { epochs: 1, batchSize: 64, lr: 1e-3, scoring: 'ratio' }).fit(train.x, train.y);
  combined = await new LatentDefender(victim, { epochs: 1, batchSize: 64, lr: 1e-3, scoring: 'combined' }).fit(train.x, train.y);
});

afterAll(() => {
  ratio?.dispose();
  combined?.dispose();
  tf.dispose([train.x, train.y, heldOut.x, heldOut.y]);
  victim.model.dispose();
});

const predicted = (x: tf.Tensor4D): Int32Array => predictedLabels(victim, x);

describe('LatentDefender scoring option', () => {
  test("default is 'combined-disagreement'; unknown scorings are rejected", () => {
    expect(new LatentDefender(victim).params.scoring).toBe('combined-disagreement');
    expect(() => new LatentDefender(victim, { scoring: 'max' as never })).toThrow(/'scoring' must be one of likelihood, ratio, combined, disagreement, combined-disagreement, got 'max'/);
  });

  test("'ratio' scores are −log [p(φ|ŷ) / Σ_{k≠ŷ} p(φ|k)] of the replica's features under the fitted HDDA", async () => {
    const x = heldOut.x.slice([0, 0, 0, 0], [300, -1, -1, -1]);
    const got = await ratio.score(x);
    const { data } = ratio.features(x);
    const want = baseScores(hddaLogLikAll(ratio.densities, data), 3, predicted(x), 'ratio');
    for (let i = 0; i < got.length; i++) expect(got[i]).toBeCloseTo(want[i], 3);
    // training scores of each class are those of its correctly classified training images
    const nTrain = ratio.trainScores(0).length + ratio.trainScores(1).length + ratio.trainScores(2).length;
    expect(nTrain).toBeGreaterThan(2900);
    tf.dispose(x);
  });

  for (const which of ['ratio', 'combined'] as const) {
    test(`'${which}': the SP = s threshold flags about s % of held-out clean samples; SP = 0 flags no training image`, async () => {
      const det = which === 'ratio' ? ratio : combined;
      const scores = await det.score(heldOut.x);
      const p = predicted(heldOut.x);
      const y = heldOut.y.dataSync();
      for (const sp of [5, 10, 20]) {
        const thr = det.thresholds(sp);
        let flagged = 0;
        let total = 0;
        for (let i = 0; i < scores.length; i++) {
          if (p[i] !== y[i]) continue;
          total++;
          if (scores[i] > thr[p[i]]) flagged++;
        }
        // same tolerance as the likelihood test: binomial ≈ 0.5 % + threshold sampling ≈ 1 %
        expect(Math.abs(flagged / total - sp / 100)).toBeLessThan(0.03);
      }
      const flags0 = await det.detect(train.x, train.y, 0);
      expect(flags0.reduce((a, b) => a + b, 0)).toBe(0);
    });
  }

  test("'combined' scores are ≥ 0 (−log of a p-value) and flag a sample read under the wrong class", async () => {
    const xs = tf.concat([0, 1000, 2000].map((i) => train.x.slice([i, 0, 0, 0], [1, -1, -1, -1]))) as tf.Tensor4D;
    const right = combined.scoreUnder(xs, [0, 1, 2]);
    const wrong = combined.scoreUnder(xs, [1, 2, 0]);
    const thr = combined.thresholds(1);
    for (let i = 0; i < 3; i++) {
      expect(right[i]).toBeGreaterThanOrEqual(0);
      expect(wrong[i]).toBeGreaterThan(thr[(i + 1) % 3]);
    }
    expect(combined.rawFromScore(2)).toBe(-2);
    tf.dispose(xs);
  });

});
