import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { initEngine, tf } from '../../src/engine/backend.js';
import { ArgumentError, ManifestError } from '../../src/errors.js';
import { loadClassifier, saveClassifier, type ClassifierMetrics } from '../../src/models/io.js';
import { disposeDataset } from '../../src/data/types.js';
import { makeTinyDataset, makeTinyModel } from '../fixtures/tiny-model.js';
import { buildModel } from '../../src/models/zoo.js';
import { Classifier } from '../../src/models/classifier.js';

let dir: string;
const METRICS: ClassifierMetrics = { testAccuracy: 1, epochs: 0, seconds: 0, arch: 'tiny', lr: 0.001, optimizer: 'adam' };

beforeAll(async () => {
  await initEngine();
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pcl-modelio-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

function predictions(m: tf.LayersModel, x: tf.Tensor4D): number[] {
  return tf.tidy(() => Array.from((m.predict(x) as tf.Tensor).dataSync()));
}

describe('saveClassifier / loadClassifier', () => {
  test('round trip gives identical outputs, layer names and metrics; tfjs layers format on disk', async () => {
    const m = makeTinyModel();
    const ds = makeTinyDataset(12);
    const out = path.join(dir, 'tiny');
    await saveClassifier(out, m, METRICS);
    expect((await fs.readdir(out)).sort()).toEqual(['metrics.json', 'model.json', 'weights.bin']);
    const json = JSON.parse(await fs.readFile(path.join(out, 'model.json'), 'utf8'));
    expect(json.format).toBe('layers-model');
    expect(json.weightsManifest[0].paths).toEqual(['./weights.bin']);
    expect(json.weightsManifest[0].weights.map((w: { name: string }) => w.name)).toEqual([
      'fc1/kernel', 'fc1/bias', 'fc2/kernel', 'fc2/bias', 'fc3/kernel', 'fc3/bias',
    ]);
    expect((await fs.stat(path.join(out, 'weights.bin'))).size).toBe(4 * (16 * 8 + 8 + 8 * 6 + 6 + 6 * 3 + 3));
    const { model, metrics } = await loadClassifier(out);
    expect(metrics).toEqual(METRICS);
    expect(model.layers.map((l) => l.name)).toEqual(m.layers.map((l) => l.name));
    expect(predictions(model, ds.x)).toEqual(predictions(m, ds.x));
    model.dispose();
    m.dispose();
    disposeDataset(ds);
  });

  test("tf.loadLayersModel('file://DIR/model.json') works once the package is imported", async () => {
    const m = makeTinyModel();
    const out = path.join(dir, 'via-url');
    await saveClassifier(out, m, METRICS);
    const loaded = await tf.loadLayersModel(`file://${out}/model.json`);
    const x = tf.ones([1, 4, 4, 1]) as tf.Tensor4D;
    expect(predictions(loaded, x)).toEqual(predictions(m, x));
    // and model.save('file://DIR') writes the same format
    const out2 = path.join(dir, 'saved-by-url');
    await m.save(`file://${out2}`);
    const again = await tf.loadLayersModel(`file://${out2}/model.json`);
    expect(predictions(again, x)).toEqual(predictions(m, x));
    [loaded, again, m, x].forEach((t) => t.dispose());
  });

  test('zoo CNNs round-trip too, and the loaded model works in Classifier', async () => {
    const m = buildModel('cifar-cnn', { inputShape: [8, 8, 3], numClasses: 10, width: 0.02, seed: 4 });
    const out = path.join(dir, 'cnn');
    await saveClassifier(out, m, METRICS);
    const { model } = await loadClassifier(out);
    const x = tf.randomUniform([3, 8, 8, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
    expect(predictions(model, x)).toEqual(predictions(m, x));
    const c = new Classifier(model);
    const logits = c.logits(x);
    const fc2 = c.activations(x, 'fc2');
    expect(logits.shape).toEqual([3, 10]);
    expect(fc2.shape).toEqual([3, 100]);
    [logits, fc2, x].forEach((t) => t.dispose());
    model.dispose();
    m.dispose();
  });

  test('re-saving replaces the folder atomically and leaves no temporary folders', async () => {
    const out = path.join(dir, 'replace');
    const m = makeTinyModel();
    await saveClassifier(out, m, { ...METRICS, seconds: 1 });
    await fs.writeFile(path.join(out, 'stale.txt'), 'from the first run');
    await saveClassifier(out, m, { ...METRICS, seconds: 2 });
    expect((await fs.readdir(out)).sort()).toEqual(['metrics.json', 'model.json', 'weights.bin']);
    expect((await loadClassifier(out)).metrics.seconds).toBe(2);
    expect((await fs.readdir(dir)).filter((f) => f.startsWith('replace'))).toEqual(['replace']);
    m.dispose();
  });

  test('a save that fails midway leaves the previous model untouched', async () => {
    const out = path.join(dir, 'keep');
    const m = makeTinyModel();
    await saveClassifier(out, m, METRICS);
    const before = await fs.readFile(path.join(out, 'weights.bin'));
    const broken = {
      save: async () => {
        throw new Error('disk full');
      },
    } as unknown as tf.LayersModel;
    await expect(saveClassifier(out, broken, { ...METRICS, seconds: 9 })).rejects.toThrow(/disk full/);
    expect(await fs.readFile(path.join(out, 'weights.bin'))).toEqual(before);
    expect((await loadClassifier(out)).metrics.seconds).toBe(0);
    expect((await fs.readdir(dir)).filter((f) => f.startsWith('keep'))).toEqual(['keep']);
    m.dispose();
  });

  test('metrics must carry the contract fields', async () => {
    const m = makeTinyModel();
    await expect(saveClassifier(path.join(dir, 'bad'), m, { epochs: 1, seconds: 1 } as ClassifierMetrics)).rejects.toThrow(ArgumentError);
    await expect(saveClassifier(path.join(dir, 'bad'), m, { ...METRICS, seconds: NaN })).rejects.toThrow(/metrics\.seconds must be a finite number/);
    m.dispose();
  });

  test('clear errors naming the file', async () => {
    await expect(loadClassifier(path.join(dir, 'absent'))).rejects.toThrow(ManifestError);
    await expect(loadClassifier(path.join(dir, 'absent'))).rejects.toThrow(/absent: no such folder/);
    const m = makeTinyModel();
    const out = path.join(dir, 'broken');
    await saveClassifier(out, m, METRICS);
    m.dispose();
    const w = path.join(out, 'weights.bin');
    const full = await fs.readFile(w);
    await fs.writeFile(w, full.subarray(0, full.length - 8));
    await expect(loadClassifier(out)).rejects.toThrow(/broken\/weights\.bin: holds 836 bytes, .*model\.json describes 844/);
    await fs.rm(w);
    await expect(loadClassifier(out)).rejects.toThrow(/broken\/weights\.bin: weight file listed in .*model\.json is missing/);
    await fs.writeFile(path.join(out, 'model.json'), '{"modelTopology": ');
    await expect(loadClassifier(out)).rejects.toThrow(/broken\/model\.json: not valid JSON/);
    await fs.rm(path.join(out, 'model.json'));
    await expect(loadClassifier(out)).rejects.toThrow(/broken\/model\.json: no such file/);
    await fs.rm(path.join(out, 'metrics.json'));
    await expect(loadClassifier(out)).rejects.toThrow(/broken\/metrics\.json: no such file/);
  });
});
