/** The input noise defender (issue 15, item 4): Donoho's robust noise estimate as an input checkpoint. */
import { beforeAll, describe, expect, test } from 'vitest';
import { initEngine, tf } from '../../../src/engine/backend.js';
import { NoiseDefender, haarNoiseSigma } from '../../../src/defense/input/noise-defender.js';
import { PCLDetector } from '../../../src/defense/pcl.js';
import { ArgumentError, NotFittedError, ShapeError } from '../../../src/errors.js';
import { Rng } from '../../../src/util/rng.js';

beforeAll(async () => {
  await initEngine();
});

const H = 16;
/** n smooth images [n, H, H, 3] (a ramp and a hard vertical edge per image) plus Gaussian noise of sd `sigma`. */
function images(n: number, sigma: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const x = new Float32Array(n * H * H * 3);
  for (let i = 0; i < n; i++) {
    const edge = 3 + (i % 10);
    for (let r = 0; r < H; r++) {
      for (let q = 0; q < H; q++) {
        for (let c = 0; c < 3; c++) x[((i * H + r) * H + q) * 3 + c] = 0.2 + (0.3 * r) / H + (q >= edge ? 0.4 : 0) + sigma * rng.normal();
      }
    }
  }
  return x;
}

describe('haarNoiseSigma', () => {
  test('recovers the sd of white noise on images with edges, and is zero without noise', () => {
    for (const sigma of [0.01, 0.05]) {
      // 192 detail coefficients per image: each estimate within 35 %, their median within 8 %
      const est = haarNoiseSigma(images(21, sigma, 1), 21, H, H, 3);
      for (const v of est) expect(Math.abs(v - sigma) / sigma).toBeLessThan(0.35);
      const mid = Float32Array.from(est).sort()[10]!;
      expect(Math.abs(mid - sigma) / sigma).toBeLessThan(0.08);
    }
    // no noise: the ramp cancels in the diagonal band and the edges are too few to move the median
    const clean = haarNoiseSigma(images(5, 0, 2), 5, H, H, 3);
    for (const v of clean) expect(v).toBeLessThan(1e-6);
  });

  test('an odd size ignores the last row and column', () => {
    const x = new Float32Array(3 * 3).fill(0);
    x[8] = 100; // the corner outside every 2 × 2 block
    expect(haarNoiseSigma(x, 1, 3, 3, 1)[0]).toBe(0);
  });
});

describe('NoiseDefender', () => {
  test('learns the clean noise level per class and flags a thin dense perturbation that PSNR-style means would miss', async () => {
    const n = 200;
    const xs = tf.tensor4d(images(n, 0.01, 3), [n, H, H, 3]);
    const ys = tf.tensor1d(Array.from({ length: n }, (_, i) => i % 2), 'int32');
    const det = await new NoiseDefender(undefined, { sp: 1 }).fit(xs, ys);
    expect(det.numClasses).toBe(2);
    expect(det.trainScores(0)).toHaveLength(n / 2);
    // FGS-like: ± 0.03 on every pixel (random signs)
    const rng = new Rng(4);
    const base = images(50, 0.01, 5);
    const adv = tf.tensor4d(Float32Array.from(base, (v) => v + (rng.next() < 0.5 ? -0.03 : 0.03)), [50, H, H, 3]);
    const cleanTest = tf.tensor4d(images(50, 0.01, 6), [50, H, H, 3]);
    const yp = new Int32Array(50);
    const flagsAdv = await det.flags(adv, { yPred: yp });
    const flagsClean = await det.flags(cleanTest, { yPred: yp });
    expect(flagsAdv.reduce((a, b) => a + b, 0)).toBe(50);
    expect(flagsClean.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(3);
    // raw score: dB below the pixel range
    const s = await det.score(cleanTest, yp);
    expect(det.rawFromScore(s[0]!)).toBeCloseTo(20 * Math.log10(1 / s[0]!), 6);
    expect(det.rawFromScore(s[0]!)).toBeGreaterThan(35); // σ̂ ≈ 0.01 → ≈ 40 dB
    tf.dispose([xs, ys, adv, cleanTest]);
    det.dispose();
  });

  test('bad inputs and unfitted use are clear errors', async () => {
    expect(() => new NoiseDefender(undefined, { sp: 101 })).toThrow(ArgumentError);
    expect(() => new NoiseDefender(undefined, { maxValue: 0 })).toThrow(ArgumentError);
    const det = new NoiseDefender();
    const x = tf.zeros([2, 4, 4, 1]) as tf.Tensor4D;
    await expect(det.score(x, [0, 0])).rejects.toThrow(NotFittedError);
    await expect(det.fit(tf.zeros([2, 1, 4, 1]) as tf.Tensor4D, tf.tensor1d([0, 0], 'int32'))).rejects.toThrow(ShapeError);
    await expect(det.fit(x, tf.tensor1d([0, -1], 'int32'))).rejects.toThrow(ArgumentError);
    await det.fit(x, tf.tensor1d([0, 1], 'int32'));
    await expect(det.score(tf.zeros([1, 6, 6, 1]) as tf.Tensor4D, [0])).rejects.toThrow(/expected x of shape \[n,4,4,1\]/);
    await expect(det.score(x)).rejects.toThrow(/no victim/);
    expect(() => det.trainScores(2)).toThrow(ArgumentError);
    x.dispose();
  });
});

describe('PCLDetector with the noise defender', () => {
  test("adds 'input:noise' only when asked", async () => {
    const { tinyVictim } = await import('../latent/fixtures.js');
    const victim = await tinyVictim(0);
    expect(new PCLDetector(victim, { checkpoints: ['h2'] }).labels).toEqual(['latent:h2', 'input']);
    expect(new PCLDetector(victim, { checkpoints: ['h2'], noiseDefender: true }).labels).toEqual(['latent:h2', 'input', 'input:noise']);
    victim.model.dispose();
  });
});
