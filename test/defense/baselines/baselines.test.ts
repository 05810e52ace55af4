import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { Matrix, inverse } from 'ml-matrix';
import { initEngine } from '../../../src/engine/backend.js';
import { NotFittedError, ShapeError } from '../../../src/errors.js';
import { MahalanobisDetector, PcaCentreDetector } from '../../../src/defense/baselines/index.js';
import { loadDetector } from '../../../src/defense/persistence.js';
import type { Detector } from '../../../src/defense/types.js';
import type { Classifier } from '../../../src/models/classifier.js';
import { type Blobs, blobs, tinyVictim } from '../latent/fixtures.js';

let victim: Classifier;
let train: Blobs;
let heldOut: Blobs;
const dirs: string[] = [];

beforeAll(async () => {
  await initEngine();
  victim = await tinyVictim(0);
  train = blobs(1000, 41);
  heldOut = blobs(2000, 42);
});

afterAll(() => {
  tf.dispose([train.x, train.y, heldOut.x, heldOut.y]);
  victim.model.dispose();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function features(layer: string, x: tf.Tensor4D): number[][] {
  const a = victim.activations(x, layer);
  const out = a.arraySync() as number[][];
  a.dispose();
  return out;
}

describe('MahalanobisDetector', () => {
  test('score = (x − μ_ŷ)ᵀ Σ⁻¹ (x − μ_ŷ) with the pooled covariance (brute force)', async () => {
    const det = await new MahalanobisDetector(victim, { layer: 'h2' }).fit(train.x, train.y);
    const f = features('h2', train.x);
    const y = train.y.dataSync();
    const p = f[0].length;
    const mu = [0, 1, 2].map((c) => {
      const rows = f.filter((_, i) => y[i] === c);
      return Array.from({ length: p }, (_, j) => rows.reduce((a, r) => a + r[j], 0) / rows.length);
    });
    const cov = new Matrix(p, p);
    f.forEach((r, i) => {
      for (let j = 0; j < p; j++) for (let k = 0; k < p; k++) cov.set(j, k, cov.get(j, k) + ((r[j] - mu[y[i]][j]) * (r[k] - mu[y[i]][k])) / f.length);
    });
    const prec = inverse(cov);
    const x = heldOut.x.slice([0, 0, 0, 0], [30, -1, -1, -1]);
    const fx = features('h2', x);
    const pred = victim.predict(x);
    const yp = pred.dataSync();
    const s = await det.score(x);
    for (let i = 0; i < 30; i++) {
      const r = Matrix.columnVector(fx[i].map((v, j) => v - mu[yp[i]][j]));
      const want = r.transpose().mmul(prec).mmul(r).get(0, 0);
      expect(Math.abs(s[i] - want)).toBeLessThan(1e-3 * Math.max(1, want));
    }
    tf.dispose([x, pred]);
  });
});

describe('PcaCentreDetector', () => {
  test('with every component and no normalisation it is the distance to the class mean', async () => {
    const det = await new PcaCentreDetector(victim, { layer: 'h2', components: 6, normalize: false }).fit(train.x, train.y);
    expect(det.numComponents).toBe(6);
    const f = features('h2', train.x);
    const y = train.y.dataSync();
    const mu = [0, 1, 2].map((c) => {
      const rows = f.filter((_, i) => y[i] === c);
      return Array.from({ length: 6 }, (_, j) => rows.reduce((a, r) => a + r[j], 0) / rows.length);
    });
    const x = heldOut.x.slice([0, 0, 0, 0], [30, -1, -1, -1]);
    const fx = features('h2', x);
    const pred = victim.predict(x);
    const yp = pred.dataSync();
    const s = await det.score(x);
    for (let i = 0; i < 30; i++) {
      const want = Math.sqrt(fx[i].reduce((a, v, j) => a + (v - mu[yp[i]][j]) ** 2, 0));
      expect(s[i]).toBeCloseTo(want, 4);
    }
    tf.dispose([x, pred]);
  });

  test("'auto' keeps the fewest components reaching varianceKept", async () => {
    const few = await new PcaCentreDetector(victim, { layer: 'h2', varianceKept: 0.5 }).fit(train.x, train.y);
    const many = await new PcaCentreDetector(victim, { layer: 'h2', varianceKept: 0.999 }).fit(train.x, train.y);
    expect(few.numComponents!).toBeLessThan(many.numComponents!);
    expect(() => new PcaCentreDetector(victim, { components: 0 })).toThrow(/'components'/);
  });
});

const makers: [string, () => Detector][] = [
  ['MahalanobisDetector', () => new MahalanobisDetector(victim)],
  ['PcaCentreDetector', () => new PcaCentreDetector(victim)],
];

describe.each(makers)('%s conformance', (name, make) => {
  test('defaults to the second-to-last layer; not fitted → NotFittedError', async () => {
    const d = make();
    expect(d.kind).toBe(name);
    expect(d.label).toMatch(/:h2$/);
    await expect(d.score(heldOut.x)).rejects.toThrow(NotFittedError);
    expect(() => d.thresholds(1)).toThrow(NotFittedError);
  });

  test('save → load → identical scores; no tensor leaks; bad shapes rejected', async () => {
    const d = await make().fit(train.x, train.y);
    const dir = path.join(mkdtempSync(path.join(tmpdir(), 'pcl-base-')), 'b');
    dirs.push(path.dirname(dir));
    await d.save(dir);
    const want = await d.score(heldOut.x);
    const before = tf.memory().numTensors;
    for (const ctx of [{ victim }, {}]) {
      const back = await loadDetector(dir, ctx);
      expect(back.kind).toBe(name);
      const got = await back.score(heldOut.x);
      for (let i = 0; i < got.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(1e-5);
      back.dispose();
    }
    await d.score(heldOut.x);
    await d.detect(heldOut.x);
    expect(tf.memory().numTensors).toBe(before);
    const bad = tf.zeros([3, 16]);
    await expect(d.score(bad as unknown as tf.Tensor4D)).rejects.toThrow(/expected x of rank 4/);
    const y2 = tf.zeros([2], 'int32') as tf.Tensor1D;
    await expect(d.score(heldOut.x, y2)).rejects.toThrow(ShapeError);
    tf.dispose([bad, y2]);
  });
});
