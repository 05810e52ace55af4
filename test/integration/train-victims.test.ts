/**
 * Slow: trains the real MNIST victim with the `pcl train` defaults and checks the paper-level
 * accuracy (≥ 98 %). About 10 minutes on one wasm core. `npm run test:slow`.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, test } from 'vitest';
import { trainVictim } from '../../src/models/train.js';
import { loadClassifier } from '../../src/models/io.js';
import { Classifier } from '../../src/models/classifier.js';

test('mnist-mlp with the default settings reaches ≥ 98 % test accuracy', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pcl-victim-mnist-'));
  try {
    const metrics = await trainVictim({ dataset: 'mnist', arch: 'mnist-mlp', out: dir });
    expect(metrics.testAccuracy).toBeGreaterThanOrEqual(0.98);
    const { model } = await loadClassifier(dir);
    expect(new Classifier(model).layerNames()).toContain('fc2');
    model.dispose();
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
