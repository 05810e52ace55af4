import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadDataset, disposeDataset, type Dataset } from '../../src/data/index.js';
import { PCLDetector, splitHoldout } from '../../src/defense/pcl.js';
import { initEngine } from '../../src/engine/backend.js';
import { ManifestError, NotFittedError } from '../../src/errors.js';
import { Classifier } from '../../src/models/classifier.js';
import { trainClassifier } from '../../src/models/train.js';
import { buildModel } from '../../src/models/zoo.js';

// A small but real PCL: an MLP victim trained briefly on 3,000 MNIST images, one latent defender
// at fc2 and an input defender with small dictionaries. Runs in well under a minute.
let train: Dataset;
let test_: Dataset;
let victim: Classifier;
let det: PCLDetector;
let tmp: string;

beforeAll(async () => {
  await initEngine();
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'pcl-test-'));
  train = await loadDataset('mnist', { split: 'train', limit: 3000, seed: 1 });
  test_ = await loadDataset('mnist', { split: 'test', limit: 400, seed: 2 });
  const model = buildModel('mnist-mlp', { inputShape: [28, 28, 1], numClasses: 10, seed: 0 });
  await trainClassifier(model, train, { epochs: 4, batchSize: 64, lr: 2e-3, seed: 0 });
  victim = new Classifier(model);
  det = new PCLDetector(victim, {
    latent: { epochs: 1 },
    input: { patchesPerClass: 3000, nAtoms: 49, workers: 1, codes: 'omp' },
    calibrationFraction: 0.2,
  });
  await det.fit(train.x, train.y, { seed: 0 });
});

afterAll(async () => {
  det?.dispose();
  if (train) disposeDataset(train);
  if (test_) disposeDataset(test_);
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

describe('splitHoldout', () => {
  test('is stratified, disjoint, covering and seeded', () => {
    const y = Array.from({ length: 100 }, (_, i) => i % 4);
    const a = splitHoldout(y, 0.2, 3);
    const b = splitHoldout(y, 0.2, 3);
    expect(Array.from(a.calIdx)).toEqual(Array.from(b.calIdx));
    expect(a.calIdx.length).toBe(20);
    const all = new Set([...a.fitIdx, ...a.calIdx]);
    expect(all.size).toBe(100);
    for (let k = 0; k < 4; k++) expect(Array.from(a.calIdx).filter((i) => y[i] === k).length).toBe(5);
  });
});

describe('PCLDetector', () => {
  test('default defenders: latent at the second-to-last layer plus the input defender', () => {
    expect(det.labels).toEqual(['latent:fc2', 'input']);
    expect(det.isFitted).toBe(true);
  });

  test('detect before fit throws NotFittedError', async () => {
    const fresh = new PCLDetector(victim, {});
    await expect(fresh.detect(test_.x)).rejects.toThrow(NotFittedError);
  });

  test('rejects bad parameters with a message naming them', () => {
    expect(() => new PCLDetector(victim, { sp: 120 })).toThrow(/'sp' must be a percentage/);
    expect(() => new PCLDetector(victim, { checkpoints: ['fc2', 'fc2'] })).toThrow(/duplicates/);
    expect(() => new PCLDetector(victim, { checkpoints: ['nope'] })).toThrow(/nope/);
  });

  test('few clean test images are flagged, random noise images nearly all', async () => {
    const clean = await det.detect(test_.x, { sp: 1 });
    const fp = clean.adversarial.reduce((a, b) => a + b, 0) / clean.adversarial.length;
    expect(fp).toBeLessThan(0.15);
    const noise = tf.randomUniform([100, 28, 28, 1], 0, 1, 'float32', 7) as tf.Tensor4D;
    try {
      const r = await det.detect(noise, { sp: 1 });
      expect(r.adversarial.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(95);
    } finally {
      noise.dispose();
    }
  });

  test('OR flags at least what each defender flags; calibrated fusion keeps FP near its target', async () => {
    const r = await det.detect(test_.x, { sp: 5, fusion: 'or' });
    for (const a of r.alarms) for (let i = 0; i < a.length; i++) expect(r.adversarial[i]).toBeGreaterThanOrEqual(a[i]);
    const c = det.decide(r, 5, 'calibrated');
    const fp = c.adversarial.reduce((a, b) => a + b, 0) / c.adversarial.length;
    // held-out calibration (600 images): 5 % target, sampling error on 400 test images ~ ±3 %
    expect(fp).toBeLessThan(0.12);
    expect(c.fused).toBeDefined();
  });

  test('fusionModelFor refits other combinations from the held-out scores; calibrate recalibrates on new clean images', async () => {
    const own = det.fusionModelFor('fisher')!;
    expect(own).toBe(det.fusionModel); // the fitted method is returned as is
    const omni = det.fusionModelFor('omnibus')!;
    expect(omni.method).toBe('omnibus');
    expect(omni.heldoutSorted.length).toBe(own.heldoutSorted.length); // 20 % of 3,000, stratified
    expect(omni.heldoutSorted.length).toBeGreaterThan(550);
    expect(() => det.fusionModelFor('stouffer' as never)).toThrow(/'method' must be one of/);
    // a detector fitted without a held-out split has no fusion until calibrated
    const bare = new PCLDetector(victim, { latent: { epochs: 0 }, inputDefender: false, calibrationFraction: 0 });
    const small = train.x.slice([0, 0, 0, 0], [600, -1, -1, -1]);
    const smallY = train.y.slice([0], [600]);
    try {
      await expect(bare.calibrate(test_.x)).rejects.toThrow(/fit the detector first/);
      await bare.fit(small, smallY, { seed: 0 });
      expect(bare.fusionModel).toBeUndefined();
      expect(bare.fusionModelFor('fisher')).toBeUndefined();
      await bare.calibrate(test_.x);
      expect(bare.fusionModel!.heldoutSorted.length).toBe(test_.x.shape[0]);
      // calibrated on these very images: at SP 5 % at most ⌊0.05·400⌋ = 20 of them are flagged (fewer
      // where tied fused scores straddle the threshold: p-values against 540 calibration scores are discrete)
      const r = bare.decide(await bare.scoreAll(test_.x), 5, 'calibrated');
      const flagged = r.adversarial.reduce((a, b) => a + b, 0);
      expect(flagged).toBeLessThanOrEqual(20);
      expect(flagged).toBeGreaterThanOrEqual(8);
      // with labels, only the images the victim gets right calibrate the fusion
      const labels = Int32Array.from(await test_.y.data());
      const pred = bare.victim.predict(test_.x);
      const correct = Int32Array.from(await pred.data()).reduce((k, p, i) => k + (p === labels[i] ? 1 : 0), 0);
      pred.dispose();
      expect(correct).toBeLessThan(test_.x.shape[0]); // the small victim misclassifies some
      await bare.calibrate(test_.x, labels);
      expect(bare.fusionModel!.heldoutSorted.length).toBe(correct);
      await expect(bare.calibrate(test_.x, labels.slice(1))).rejects.toThrow(/expected 400 labels, got 399/);
    } finally {
      tf.dispose([small, smallY]);
      bare.dispose();
    }
  });

  test('save → load gives identical scores; tampering is refused naming the file', async () => {
    const dir = path.join(tmp, 'bundle');
    await det.save(dir);
    const loaded = await PCLDetector.load(dir);
    try {
      const a = await det.scoreAll(test_.x);
      const b = await loaded.scoreAll(test_.x);
      expect(Array.from(b.yPred)).toEqual(Array.from(a.yPred));
      a.scores.forEach((s, j) => s.forEach((v, i) => expect(Math.abs(b.scores[j][i] - v)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(v)))));
      expect(loaded.labels).toEqual(det.labels);
      // the held-out scores travel with the bundle: other fusion methods refit identically after loading
      for (const m of ['fisher', 'omnibus'] as const) {
        const a = det.fusionModelFor(m)!.heldoutSorted;
        const b = loaded.fusionModelFor(m)!.heldoutSorted;
        expect(b.length).toBe(a.length);
        // the original fusion's held-out scores came straight from the defenders; the stored copy is float32
        a.forEach((v, i) => expect(Math.abs(b[i] - v)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(v))));
      }
      // the fusion's second (held-out) calibration stage is rebuilt on load, so decisions agree
      expect(loaded.fusionModelFor('fisher')!.heldoutEvidence).toHaveLength(det.labels.length);
      const da = await det.detect(test_.x, { sp: 5 });
      const db = await loaded.detect(test_.x, { sp: 5 });
      expect(Array.from(db.adversarial)).toEqual(Array.from(da.adversarial));
    } finally {
      loaded.dispose();
    }
    // tamper with the victim copy
    const vfiles = await fs.readdir(path.join(dir, 'victim'));
    const wfile = vfiles.find((f) => f.endsWith('.bin'))!;
    const buf = await fs.readFile(path.join(dir, 'victim', wfile));
    buf[100] ^= 0xff;
    await fs.writeFile(path.join(dir, 'victim', wfile), buf);
    await expect(PCLDetector.load(dir)).rejects.toThrow(ManifestError);
    await expect(PCLDetector.load(dir)).rejects.toThrow(new RegExp(`victim/${wfile.replace('.', '\\.')}: sha256 mismatch`));
    // a wrong format version
    const m = JSON.parse(await fs.readFile(path.join(dir, 'manifest.json'), 'utf8'));
    m.formatVersion = 99;
    await fs.writeFile(path.join(dir, 'manifest.json'), JSON.stringify(m));
    await expect(PCLDetector.load(dir)).rejects.toThrow(/formatVersion/);
  });

  test('scoring leaks no tensors', async () => {
    await det.scoreAll(test_.x.slice([0, 0, 0, 0], [20, -1, -1, -1]));
    const before = tf.memory().numTensors;
    const xs = test_.x.slice([0, 0, 0, 0], [20, -1, -1, -1]);
    await det.detect(xs);
    xs.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
