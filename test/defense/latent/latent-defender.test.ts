import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../../src/engine/backend.js';
import { ArgumentError, ManifestError, NotFittedError, ShapeError } from '../../../src/errors.js';
import { LatentDefender, fineTuneSettingsFromMetrics } from '../../../src/defense/latent/latent-defender.js';
import type { Classifier } from '../../../src/models/classifier.js';
import { type Blobs, blobs, tinyVictim } from './fixtures.js';

let victim: Classifier;
let train: Blobs;
let heldOut: Blobs;
let det: LatentDefender;
const logs: string[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  await initEngine();
  victim = await tinyVictim(0);
  train = blobs(1000, 21);
  heldOut = blobs(2000, 22);
  det = new LatentDefender(victim, { epochs: 2, batchSize: 64, lr: 1e-3 });
  await det.fit(train.x, train.y, { log: (m) => logs.push(m) });
});

afterAll(() => {
  det?.dispose();
  tf.dispose([train.x, train.y, heldOut.x, heldOut.y]);
  victim.model.dispose();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'pcl-latent-'));
  dirs.push(d);
  return d;
}

describe('LatentDefender', () => {
  test('defaults: second-to-last layer, γ = 0.01, label', () => {
    const d = new LatentDefender(victim);
    expect(d.params.checkpointLayer).toBe('h2');
    expect(d.params.gamma).toBe(0.01);
    expect(d.label).toBe('latent:h2');
    expect(d.isFitted).toBe(false);
  });

  test('fit logs CE and the three L+ terms per epoch; replica still classifies like the victim', () => {
    expect(logs).toHaveLength(2);
    expect(logs[0]).toMatch(/epoch 1\/2: ce=\S+ condense=\S+ spread=\S+ sphere=\S+/);
    const info = det.fitInfo;
    expect(info.epochs).toHaveLength(2);
    for (const e of info.epochs) for (const v of [e.ce, e.condense, e.spread, e.sphere]) expect(Number.isFinite(v)).toBe(true);
    expect(info.dims.every((d) => d >= 1 && d <= 6)).toBe(true);
    const rp = det.replicaPredict(heldOut.x);
    const vp = victim.predict(heldOut.x);
    const v = vp.dataSync();
    vp.dispose();
    let agree = 0;
    for (let i = 0; i < rp.length; i++) agree += rp[i] === v[i] ? 1 : 0;
    expect(agree / rp.length).toBeGreaterThan(0.99);
  });

  test('features lie on the unit sphere', () => {
    const { data, dim } = det.features(heldOut.x.slice([0, 0, 0, 0], [50, -1, -1, -1]));
    for (let s = 0; s < 50; s++) {
      let q = 0;
      for (let j = 0; j < dim; j++) q += data[s * dim + j] ** 2;
      expect(Math.sqrt(q)).toBeCloseTo(1, 5);
    }
  });

  test('a sample far from the class it is read under scores above every class threshold', () => {
    // images of class 0 read under classes 1 and 2 (and so on): far from those classes' features
    const idx = [0, 1000, 2000];
    const xs = tf.concat(idx.map((i) => train.x.slice([i, 0, 0, 0], [1, -1, -1, -1]))) as tf.Tensor4D;
    const thr = det.thresholds(0); // SP = 0: the largest clean training score of each class
    for (const shift of [1, 2]) {
      const wrong = det.scoreUnder(xs, [shift % 3, (1 + shift) % 3, (2 + shift) % 3]);
      for (const v of wrong) for (const t of thr) expect(v).toBeGreaterThan(t);
    }
    tf.dispose(xs);
  });

  test('SP = 0 flags nothing of the training data, SP = 100 everything', async () => {
    const flags0 = await det.detect(train.x, undefined, 0);
    const flags100 = await det.detect(train.x, undefined, 100);
    expect(flags0.reduce((a, b) => a + b, 0)).toBe(0);
    expect(flags100.reduce((a, b) => a + b, 0)).toBe(flags100.length);
    expect(det.rawFromScore(12.5)).toBe(-12.5);
  });

  test('a tampered bundle is refused naming the file', async () => {
    const dir = path.join(tmp(), 'bundle');
    await det.save(dir);
    const f = path.join(dir, 'victim', 'weights.bin');
    const buf = readFileSync(f);
    buf[0] ^= 0xff;
    writeFileSync(f, buf);
    await expect(LatentDefender.load(dir, { victim })).rejects.toThrow(ManifestError);
    await expect(LatentDefender.load(dir, { victim })).rejects.toThrow(/victim\/weights\.bin: sha256 mismatch/);
  });

  test('not fitted → NotFittedError', async () => {
    const d = new LatentDefender(victim);
    await expect(d.score(heldOut.x)).rejects.toThrow(NotFittedError);
    expect(() => d.thresholds(1)).toThrow(NotFittedError);
    await expect(d.save(tmp())).rejects.toThrow(NotFittedError);
  });

  test('bad shapes and arguments are rejected with helpful messages', async () => {
    const flat = tf.zeros([5, 16]);
    const wrongImg = tf.zeros([5, 5, 5, 1]) as tf.Tensor4D;
    const x = heldOut.x.slice([0, 0, 0, 0], [5, -1, -1, -1]);
    const y4 = tf.zeros([4], 'int32') as tf.Tensor1D;
    await expect(det.score(flat as unknown as tf.Tensor4D)).rejects.toThrow(/expected x of rank 4/);
    await expect(det.score(wrongImg)).rejects.toThrow(ShapeError);
    await expect(det.score(x, y4)).rejects.toThrow(/expected yPred of shape \[5\]/);
    await expect(new LatentDefender(victim, { epochs: 0 }).fit(x, y4)).rejects.toThrow(/expected y of shape \[5\]/);
    expect(() => new LatentDefender(victim, { gamma: -1 })).toThrow(/'gamma'/);
    expect(() => new LatentDefender(victim, { optimizer: 'lbfgs' as never })).toThrow(/'optimizer'/);
    expect(() => new LatentDefender(victim, { spread: 'max' as never })).toThrow(/'spread'/);
    expect(() => new LatentDefender(victim, { hddaDims: 0 })).toThrow(/'dims'/);
    await expect(new LatentDefender(victim, { checkpointLayer: 'nope', epochs: 0 }).fit(train.x, train.y)).rejects.toThrow(
      /no layer named 'nope' \(layers: flatten, h1, h2, out\)/,
    );
    await expect(new LatentDefender(victim, { checkpointLayer: 'out', epochs: 0 }).fit(train.x, train.y)).rejects.toThrow(ArgumentError);
    expect(() => det.trainScores(3)).toThrow(/class 3/);
    tf.dispose([flat, wrongImg, x, y4]);
  });

  test('fine-tune settings from metrics.json: same optimizer, lr / 10', () => {
    expect(fineTuneSettingsFromMetrics({ optimizer: 'adam', lr: 1e-3 })).toEqual({ optimizer: 'adam', lr: 1e-4 });
    expect(fineTuneSettingsFromMetrics({})).toEqual({ optimizer: 'adam', lr: 1e-4 });
    expect(() => fineTuneSettingsFromMetrics({ optimizer: 'lbfgs' })).toThrow(/optimizer 'lbfgs'/);
  });
});
