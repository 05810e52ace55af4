import * as tf from '@tensorflow/tfjs';
import { describe, expect, test } from 'vitest';
import { initEngine } from '../../../src/engine/backend.js';
import { gramMatrix } from '../../../src/defense/input/omp.js';
import { assembleOverlapping, overlappingPsnr, stridedGrid } from '../../../src/defense/input/overlap.js';
import { extractGridPatches, patchGrid } from '../../../src/defense/input/patches.js';
import { psnr } from '../../../src/defense/input/psnr.js';
import { reconstructImages } from '../../../src/defense/input/sparse-coding.js';
import { Rng } from '../../../src/util/rng.js';

await initEngine();

function randomImages(n: number, size: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n * size }, () => rng.next());
}

function unitDictionary(nAtoms: number, dim: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const d = Float32Array.from({ length: nAtoms * dim }, () => rng.normal());
  for (let a = 0; a < nAtoms; a++) {
    let s = 0;
    for (let j = 0; j < dim; j++) s += d[a * dim + j] ** 2;
    for (let j = 0; j < dim; j++) d[a * dim + j] /= Math.sqrt(s);
  }
  return d;
}

describe('overlapping patches', () => {
  test('stridedGrid: origins every `stride`, the last one on the border; stride = p is the tiling', () => {
    const g = stridedGrid(10, 8, 1, 4, 3);
    expect(Array.from(g.ys)).toEqual([0, 3, 6]);
    expect(Array.from(g.xs)).toEqual([0, 3, 4]);
    expect(g.patchesPerImage).toBe(9);
    const t = stridedGrid(28, 28, 1, 7, 7);
    const ref = patchGrid(28, 28, 1, 7);
    expect(Array.from(t.ys)).toEqual(Array.from(ref.ys));
    expect(Array.from(t.xs)).toEqual(Array.from(ref.xs));
    expect(() => stridedGrid(28, 28, 1, 7, 8)).toThrow(/expected stride an integer in \[1, p = 7\], got 8/);
  });

  test('assembleOverlapping inverts the patch extraction at every stride (each pixel is the mean of identical copies)', () => {
    const n = 3;
    const img = randomImages(n, 9 * 9 * 2, 4);
    for (const stride of [1, 2, 3]) {
      const g = stridedGrid(9, 9, 2, 3, stride);
      const { patches, means } = extractGridPatches(img, n, g);
      const back = assembleOverlapping(patches, means, n, g);
      for (let i = 0; i < img.length; i++) expect(back[i]).toBeCloseTo(img[i], 5);
    }
  });

  test('overlappingPsnr at stride = p equals the grid reconstruction of the input defender', async () => {
    const n = 6;
    const dim = 16;
    const dicts = [unitDictionary(20, dim, 1), unitDictionary(20, dim, 2)];
    const grams = dicts.map((d) => gramMatrix(d, 20, dim));
    const img = randomImages(n, 64, 7);
    const classes = [0, 1, 1, 0, 1, 0];
    const got = await overlappingPsnr(img, n, stridedGrid(8, 8, 1, 4, 4), dicts, grams, classes, 3);
    const grid = patchGrid(8, 8, 1, 4);
    for (let s = 0; s < n; s++) {
      const k = classes[s];
      const dT = tf.tensor2d(dicts[k], [20, dim]);
      const one = img.slice(s * 64, (s + 1) * 64);
      const rec = await reconstructImages(one, 1, grid, dicts[k], dT, grams[k], 3);
      dT.dispose();
      expect(got[s]).toBeCloseTo(psnr(one, rec, 1)[0], 4);
    }
  });

  test('a constant image is rebuilt exactly at every stride', async () => {
    // every patch is flat after centring (empty code), so the means alone rebuild it and the MSE hits its floor
    const dicts = [unitDictionary(10, 16, 3)];
    const grams = dicts.map((d) => gramMatrix(d, 10, 16));
    const img = new Float32Array(64).fill(0.3);
    for (const stride of [1, 2, 4]) {
      const ps = await overlappingPsnr(img, 1, stridedGrid(8, 8, 1, 4, stride), dicts, grams, [0], 2);
      expect(ps[0]).toBeGreaterThan(100);
    }
  });

  test('rejects a class outside the dictionaries', async () => {
    const dicts = [unitDictionary(10, 16, 3)];
    const grams = dicts.map((d) => gramMatrix(d, 10, 16));
    await expect(overlappingPsnr(new Float32Array(64), 1, stridedGrid(8, 8, 1, 4, 2), dicts, grams, [1], 2)).rejects.toThrow(/class 1 of row 0 is outside \[0, 1\)/);
  });
});
