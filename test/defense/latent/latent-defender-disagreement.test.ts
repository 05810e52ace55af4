import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../../src/engine/backend.js';
import { LatentDefender } from '../../../src/defense/latent/latent-defender.js';
import { disagreementScores } from '../../../src/defense/latent/scoring.js';
import type { Classifier } from '../../../src/models/classifier.js';
import { type Blobs, blobs, predictedLabels, tinyVictim } from './fixtures.js';

let victim: Classifier;
let train: Blobs;
let heldOut: Blobs;
let dis: LatentDefender;
let cd: LatentDefender;

beforeAll(async () => {
  await initEngine();
  victim = await tinyVictim(0);
  train = blobs(1000, 31);
  heldOut = blobs(1000, 32);
  const p = { epochs: 1, batchSize: 64, lr: 1e-3 };
  dis = await new LatentDefender(victim, { ...p, scoring: 'disagreement' }).fit(train.x, train.y);
  cd = await new LatentDefender(victim, { ...p, scoring: 'combined-disagreement' }).fit(train.x, train.y);
});

afterAll(() => {
  dis?.dispose();
  cd?.dispose();
  tf.dispose([train.x, train.y, heldOut.x, heldOut.y]);
  victim.model.dispose();
});

const predicted = (x: tf.Tensor4D): Int32Array => predictedLabels(victim, x);

describe('LatentDefender disagreement scorings', () => {
  test('labels name the scoring', () => {
    expect(dis.label).toMatch(/^latent:.+:disagreement$/);
    expect(cd.label).toMatch(/^latent:[^:]+$/); // the default scoring is not spelled out
    expect(cd.params.scoring).toBe('combined-disagreement');
  });

  test("replicaLogProbs are log-probabilities; 'disagreement' = −log p_replica(victim's class)", async () => {
    const x = heldOut.x.slice([0, 0, 0, 0], [300, -1, -1, -1]);
    const lp = dis.replicaLogProbs(x);
    expect(lp.length).toBe(300 * 3);
    for (let s = 0; s < 300; s++) {
      let z = 0;
      for (let k = 0; k < 3; k++) z += Math.exp(lp[s * 3 + k]);
      expect(z).toBeCloseTo(1, 4);
    }
    const yp = predicted(x);
    const got = await dis.score(x);
    const want = disagreementScores(lp, 3, yp);
    for (let i = 0; i < got.length; i++) expect(got[i]).toBeCloseTo(want[i], 5);
    // the replica still classifies like the victim: clean scores are small
    const agree = dis.replicaPredict(x).filter((v, i) => v === yp[i]).length / 300;
    expect(agree).toBeGreaterThan(0.95);
    expect(dis.rawFromScore(got[0])).toBe(-got[0]);
    tf.dispose(x);
  });

  test('training calibration: SP = s flags about s % of held-out clean samples; SP = 0 flags no training image', async () => {
    for (const det of [dis, cd]) {
      const scores = await det.score(heldOut.x);
      const p = predicted(heldOut.x);
      const y = heldOut.y.dataSync();
      const thr = det.thresholds(10);
      let flagged = 0;
      let total = 0;
      for (let i = 0; i < scores.length; i++) {
        if (p[i] !== y[i]) continue;
        total++;
        if (scores[i] > thr[p[i]]) flagged++;
      }
      expect(Math.abs(flagged / total - 0.1)).toBeLessThan(0.04);
      const flags0 = await det.detect(train.x, train.y, 0);
      expect(flags0.reduce((a, b) => a + b, 0)).toBe(0);
    }
  });

  test("'combined-disagreement' ≥ 0, flags a sample read under a class the replica rejects, ", async () => {
    const xs = tf.concat([0, 1000, 2000].map((i) => train.x.slice([i, 0, 0, 0], [1, -1, -1, -1]))) as tf.Tensor4D;
    const right = cd.scoreUnder(xs, [0, 1, 2]);
    const wrong = cd.scoreUnder(xs, [1, 2, 0]);
    const disWrong = dis.scoreUnder(xs, [1, 2, 0]);
    const disThr = dis.thresholds(1);
    const thr = cd.thresholds(1);
    for (let i = 0; i < 3; i++) {
      expect(right[i]).toBeGreaterThanOrEqual(0);
      expect(wrong[i]).toBeGreaterThan(thr[(i + 1) % 3]);
      // the disagreement alone already flags it
      expect(disWrong[i]).toBeGreaterThan(disThr[(i + 1) % 3]);
    }
    tf.dispose(xs);
  });

});
