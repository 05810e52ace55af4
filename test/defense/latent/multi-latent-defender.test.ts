import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../../src/engine/backend.js';
import { NotFittedError } from '../../../src/errors.js';
import { MultiLatentDefender, combineCheckpointPValues } from '../../../src/defense/latent/multi-latent-defender.js';
import { empiricalPValue } from '../../../src/defense/types.js';
import type { Classifier } from '../../../src/models/classifier.js';
import { type Blobs, blobs, tinyVictim } from './fixtures.js';

let victim: Classifier;
let train: Blobs;
let heldOut: Blobs;
let det: MultiLatentDefender;

beforeAll(async () => {
  await initEngine();
  victim = await tinyVictim(0);
  train = blobs(1000, 31);
  heldOut = blobs(2000, 32);
  det = new MultiLatentDefender(victim, { checkpoints: ['h1', 'h2'], latent: { epochs: 1, batchSize: 64, lr: 1e-3 } });
  await det.fit(train.x, train.y);
});

afterAll(() => {
  det?.dispose();
  tf.dispose([train.x, train.y, heldOut.x, heldOut.y]);
  victim.model.dispose();
});

describe('combineCheckpointPValues', () => {
  test('Fisher and Šidák min-p by hand', () => {
    expect(combineCheckpointPValues([0.5, 0.25], 'fisher')).toBeCloseTo(-2 * Math.log(0.5) - 2 * Math.log(0.25), 12);
    // min p = 0.01 over m = 2: 1 − 0.99² = 0.0199
    expect(combineCheckpointPValues([0.01, 0.5], 'minp')).toBeCloseTo(-Math.log(0.0199), 10);
    expect(combineCheckpointPValues([1, 1], 'minp')).toBeCloseTo(0, 10);
    expect(combineCheckpointPValues([1e-20, 1], 'minp')).toBeCloseTo(-Math.log(2e-20), 6);
  });
});

describe('MultiLatentDefender', () => {
  test('validates its parameters', () => {
    expect(() => new MultiLatentDefender(victim, { checkpoints: [] })).toThrow(/at least one layer/);
    expect(() => new MultiLatentDefender(victim, { checkpoints: ['h2', 'h2'] })).toThrow(/duplicates/);
    expect(() => new MultiLatentDefender(victim, { checkpoints: ['h2'], combine: 'max' as never })).toThrow(/'combine'/);
  });

  test('score = combined empirical p-values of the children under the victim prediction', async () => {
    const x = heldOut.x.slice([0, 0, 0, 0], [20, -1, -1, -1]);
    const s = await det.score(x);
    const pred = victim.predict(x);
    const yp = pred.dataSync();
    const kids = det.children;
    const per = await Promise.all(kids.map((c) => c.score(x, pred)));
    for (let i = 0; i < 20; i++) {
      const p = kids.map((c, j) => empiricalPValue(c.trainScores(yp[i]), per[j][i]));
      expect(s[i]).toBeCloseTo(combineCheckpointPValues(p, 'fisher'), 4);
    }
    tf.dispose([x, pred]);
  });

  test('not fitted → NotFittedError', async () => {
    const d = new MultiLatentDefender(victim, { checkpoints: ['h2'] });
    await expect(d.score(heldOut.x)).rejects.toThrow(NotFittedError);
    expect(() => d.thresholds(1)).toThrow(NotFittedError);
  });
});
