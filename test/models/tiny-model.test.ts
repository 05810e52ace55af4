import { beforeAll, describe, expect, test } from 'vitest';
import { initEngine, tf } from '../../src/engine/backend.js';
import { Classifier } from '../../src/models/classifier.js';
import { disposeDataset } from '../../src/data/types.js';
import { makeTinyDataset, makeTinyModel } from '../fixtures/tiny-model.js';

beforeAll(async () => {
  await initEngine();
});

describe('tiny-model fixture', () => {
  test('is deterministic and classifies its dataset perfectly', async () => {
    const m1 = makeTinyModel();
    const m2 = makeTinyModel();
    const ds = makeTinyDataset(60, 1);
    try {
      const c = new Classifier(m1);
      expect(c.inputShape).toEqual([4, 4, 1]);
      expect(c.numClasses).toBe(3);
      expect(c.layerNames()).toEqual(['input', 'flatten', 'fc1', 'fc2', 'fc3']);
      const pred = c.predict(ds.x);
      expect(Array.from(pred.dataSync())).toEqual(Array.from(ds.y.dataSync()));
      pred.dispose();
      // the same labels as an Int32Array, in batches of 7, with no tensor left behind
      const before = tf.memory().numTensors;
      const labels = await c.predictLabels(ds.x, 7);
      expect(labels).toBeInstanceOf(Int32Array);
      expect(Array.from(labels)).toEqual(Array.from(ds.y.dataSync()));
      expect(tf.memory().numTensors).toBe(before);
      const [a, b] = [m1.predict(ds.x) as tf.Tensor, m2.predict(ds.x) as tf.Tensor];
      expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
      const fc2 = c.activations(ds.x, 'fc2');
      expect(fc2.shape).toEqual([60, 6]);
      // the latent features are not degenerate: every unit is active somewhere
      const maxPerUnit = tf.tidy(() => Array.from(fc2.max(0).dataSync()));
      expect(Math.min(...maxPerUnit)).toBeGreaterThan(0);
      [a, b, fc2].forEach((t) => t.dispose());
    } finally {
      m1.dispose();
      m2.dispose();
      disposeDataset(ds);
    }
  });
});
