/**
 * The detector conformance suite (scikit-learn's `check_estimator` in spirit): one set of checks,
 * written once, run on every detector and every latent scoring (`detectors.test.ts`). Replaces the
 * copies of these checks that used to sit in each detector's own test file.
 *
 * Fixture: a small trained victim on 3 Gaussian-blob classes (4×4×1 images, `../defense/latent/fixtures.ts`),
 * clean training blobs for `fit` and disjoint clean held-out blobs for the SP check.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { initEngine } from '../../src/engine/backend.js';
import { NotFittedError } from '../../src/errors.js';
import type { Classifier } from '../../src/models/classifier.js';
import type { Detector } from '../../src/defense/types.js';
import { blobs, tinyVictim, type Blobs } from '../defense/latent/fixtures.js';

/** How the suite drives one kind of detector (`Detector`s via {@link detectorOps}; PCLDetector via its own). */
export interface ConformanceOps<D> {
  /** A new, unfitted detector on `victim`. */
  make(victim: Classifier): D;
  fit(d: D, x: tf.Tensor4D, y: tf.Tensor1D): Promise<D>;
  isFitted(d: D): boolean;
  /** The decision score, [n], higher = more adversarial. */
  score(d: D, x: tf.Tensor4D): Promise<ArrayLike<number>>;
  /** The default decision at `sp`, [n]. */
  flags(d: D, x: tf.Tensor4D, sp: number): Promise<Uint8Array>;
  save(d: D, dir: string): Promise<void>;
  /** Loads a bundle; `victim` undefined = the bundle's own copy (skipped where `needsVictim`). */
  load(dir: string, victim: Classifier | undefined): Promise<D>;
  dispose(d: D): void;
  /** The detector cannot run without a victim given at load (it keeps no copy of it). */
  needsVictim?: boolean;
  /** SP tolerance on held-out clean data (fraction; default 0.03 ≈ 3 sd of the rate, see the fixture). */
  spTolerance?: number;
}

/** {@link ConformanceOps} of any `Detector`, with its loader. */
export function detectorOps<D extends Detector>(
  make: (victim: Classifier) => D,
  load: (dir: string, victim: Classifier | undefined) => Promise<Detector>,
  extra: Pick<ConformanceOps<D>, 'needsVictim' | 'spTolerance'> = {},
): ConformanceOps<D> {
  return {
    make,
    fit: (d, x, y) => d.fit(x, y, { seed: 0, progress: false }),
    isFitted: (d) => d.isFitted,
    score: (d, x) => d.score(x),
    flags: async (d, x, sp) => {
      const r = await d.detect(x, { sp });
      // the one detect contract: report, scores and labels agree with score() and thresholds()
      expect(r.adversarial).toHaveLength(x.shape[0]);
      expect(r.yPred).toHaveLength(x.shape[0]);
      expect(r.report).toMatchObject({ sp, total: x.shape[0], flagged: r.adversarial.reduce((a, b) => a + b, 0) });
      const thr = d.thresholds(sp);
      for (let i = 0; i < r.adversarial.length; i++) expect(r.adversarial[i]).toBe(r.scores[i] > thr[r.yPred[i]] ? 1 : 0);
      return r.adversarial;
    },
    save: (d, dir) => d.save(dir),
    load: async (dir, victim) => (await load(dir, victim)) as D,
    dispose: (d) => d.dispose(),
    ...extra,
  };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Runs the conformance checks on detectors made by `ops`. */
export function detectorConformance<D>(name: string, ops: ConformanceOps<D>): void {
  describe(`${name} conformance`, () => {
    let victim: Classifier;
    let train: Blobs;
    let heldOut: Blobs;
    let det: D;
    let correctHeldOut: tf.Tensor4D;
    const dirs: string[] = [];
    const tmp = () => {
      const d = mkdtempSync(path.join(tmpdir(), 'pcl-conformance-'));
      dirs.push(d);
      return d;
    };

    beforeAll(async () => {
      await initEngine();
      victim = await tinyVictim(0);
      // 1,000 clean images per class for fit and for the held-out check: the SP-quantile threshold of a
      // class then has a sampling sd of ≈ 1.3 % at SP 20 % (≈ 0.7 % over 3 classes), the held-out rate ≈ 0.7 %
      train = blobs(1000, 41);
      heldOut = blobs(1000, 42);
      // the SP promise is about clean images the victim classifies correctly (as the thresholds are)
      const p = victim.predict(heldOut.x);
      const pred = await p.data();
      const y = await heldOut.y.data();
      p.dispose();
      const keep = Array.from(y.keys()).filter((i) => pred[i] === y[i]);
      correctHeldOut = tf.gather(heldOut.x, keep);
      det = await ops.fit(ops.make(victim), train.x, train.y);
    });

    afterAll(() => {
      if (det) ops.dispose(det);
      tf.dispose([train?.x, train?.y, heldOut?.x, heldOut?.y, correctHeldOut].filter((t) => t !== undefined));
      victim?.model.dispose();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    });

    test('score before fit throws NotFittedError; fit resolves to the detector itself', async () => {
      const fresh = ops.make(victim);
      expect(ops.isFitted(fresh)).toBe(false);
      await expect(ops.score(fresh, heldOut.x)).rejects.toThrow(NotFittedError);
      ops.dispose(fresh);
      expect(ops.isFitted(det)).toBe(true);
    });

    test('fit is idempotent: fitting again on the same data gives the same scores', async () => {
      const want = await ops.score(det, heldOut.x);
      const again = ops.make(victim);
      try {
        expect(await ops.fit(again, train.x, train.y)).toBe(again);
        expect(await ops.fit(again, train.x, train.y)).toBe(again); // a second fit on the same object, too
        expect(maxAbsDiff(await ops.score(again, heldOut.x), want)).toBeLessThanOrEqual(1e-4);
      } finally {
        ops.dispose(again);
      }
    });

    test('SP = s flags about s % of held-out clean images (s = 5, 10, 20)', async () => {
      const tol = ops.spTolerance ?? 0.03;
      for (const sp of [5, 10, 20]) {
        const f = await ops.flags(det, correctHeldOut, sp);
        const rate = f.reduce((a, b) => a + b, 0) / f.length;
        expect(Math.abs(rate - sp / 100), `SP ${sp} %: flagged ${(100 * rate).toFixed(2)} % of ${f.length} held-out clean images`).toBeLessThan(tol);
      }
      const none = await ops.flags(det, correctHeldOut, 100);
      expect(none.reduce((a, b) => a + b, 0)).toBe(none.length);
    });

    test('save → load → identical scores and decisions (with the victim given, and from the bundle’s own copy)', async () => {
      const dir = path.join(tmp(), 'bundle');
      await ops.save(det, dir);
      const want = await ops.score(det, heldOut.x);
      const wantFlags = await ops.flags(det, heldOut.x, 10);
      for (const v of ops.needsVictim ? [victim] : [victim, undefined]) {
        const back = await ops.load(dir, v);
        try {
          expect(maxAbsDiff(await ops.score(back, heldOut.x), want)).toBeLessThanOrEqual(1e-5);
          expect(Array.from(await ops.flags(back, heldOut.x, 10))).toEqual(Array.from(wantFlags));
        } finally {
          ops.dispose(back);
        }
      }
    });

    test('refit after load works and gives the scores of a fresh fit', async () => {
      const dir = path.join(tmp(), 'bundle');
      await ops.save(det, dir);
      const back = await ops.load(dir, ops.needsVictim ? victim : undefined);
      try {
        expect(await ops.fit(back, train.x, train.y)).toBe(back);
        expect(maxAbsDiff(await ops.score(back, heldOut.x), await ops.score(det, heldOut.x))).toBeLessThanOrEqual(1e-4);
      } finally {
        ops.dispose(back);
      }
    });

    test('no tensor leaks over fit / score / detect / save / load / dispose', async () => {
      const x = heldOut.x.slice([0, 0, 0, 0], [30, -1, -1, -1]);
      const dir = path.join(tmp(), 'bundle');
      const cycle = async () => {
        const d = await ops.fit(ops.make(victim), train.x, train.y);
        await ops.score(d, x);
        await ops.flags(d, x, 5);
        await ops.save(d, dir);
        ops.dispose(d);
        const back = await ops.load(dir, ops.needsVictim ? victim : undefined);
        await ops.score(back, x);
        ops.dispose(back);
      };
      await cycle(); // warm-up (kernels, caches)
      const before = tf.memory().numTensors;
      await cycle();
      expect(tf.memory().numTensors - before).toBe(0);
      x.dispose();
    });
  });
}
