import { describe, expect, test } from 'vitest';
import { assembleGridPatches, defaultPatchSize, extractGridPatches, patchGrid, samplePatches } from '../../../src/defense/input/patches.js';
import { Rng } from '../../../src/util/rng.js';
import { ShapeError } from '../../../src/errors.js';

function randomImages(n: number, h: number, w: number, c: number, seed = 0): Float32Array {
  const rng = new Rng(seed);
  return new Float32Array(n * h * w * c).map(() => rng.next());
}

describe('patches', () => {
  test('default sizes: 7 on 28×28 (MNIST), 8 on 32×32 (CIFAR-10) and 64×64', () => {
    expect(defaultPatchSize(28, 28)).toBe(7);
    expect(defaultPatchSize(32, 32)).toBe(8);
    expect(defaultPatchSize(64, 64)).toBe(8);
  });

  test('28×28 by 7×7 is a 4×4 tiling; patches are centred and hold the right pixels', () => {
    const g = patchGrid(28, 28, 1, 7);
    expect(Array.from(g.ys)).toEqual([0, 7, 14, 21]);
    expect(g.patchesPerImage).toBe(16);
    expect(g.dim).toBe(49);
    const x = randomImages(2, 28, 28, 1);
    const { patches, means } = extractGridPatches(x, 2, g);
    expect(patches.length).toBe(2 * 16 * 49);
    // image 1, grid row 2, col 3 → patch 16 + 11; its (dy=4, dx=5) pixel is x[1, 14+4, 21+5]
    const k = 16 + 2 * 4 + 3;
    expect(patches[k * 49 + 4 * 7 + 5] + means[k]).toBeCloseTo(x[784 + 18 * 28 + 26], 6);
    let s = 0;
    for (let i = 0; i < 49; i++) s += patches[k * 49 + i];
    expect(Math.abs(s)).toBeLessThan(1e-5);
  });

  test.each([
    [28, 28, 1, 7],
    [32, 32, 3, 8],
    [30, 29, 3, 8], // not divisible: border patches overlap
  ])('extract → assemble is the identity on %i×%i×%i with p = %i', (h, w, c, p) => {
    const g = patchGrid(h, w, c, p);
    const x = randomImages(3, h, w, c, h + w);
    const { patches, means } = extractGridPatches(x, 3, g);
    const y = assembleGridPatches(patches, means, 3, g);
    for (let i = 0; i < x.length; i++) expect(y[i]).toBeCloseTo(x[i], 5);
  });

  test('non-divisible sides get one extra patch flush with the border', () => {
    const g = patchGrid(30, 29, 1, 8);
    expect(Array.from(g.ys)).toEqual([0, 8, 16, 22]);
    expect(Array.from(g.xs)).toEqual([0, 8, 16, 21]);
  });

  test('channels are centred separately', () => {
    const g = patchGrid(2, 2, 2, 2);
    const x = new Float32Array([0, 10, 1, 11, 2, 12, 3, 13]);
    const { patches, means } = extractGridPatches(x, 1, g);
    expect(Array.from(means)).toEqual([1.5, 11.5]);
    expect(Array.from(patches)).toEqual([-1.5, -1.5, -0.5, -0.5, 0.5, 0.5, 1.5, 1.5]);
  });

  test('samplePatches is seeded and draws only from the given images', () => {
    const x = new Float32Array(3 * 10 * 10);
    for (let i = 0; i < 100; i++) x[100 + i] = (i % 10) / 10; // image 1: horizontal ramp; images 0, 2: flat
    const a = samplePatches(x, [3, 10, 10, 1], 4, 50, new Rng(1), [1]);
    const b = samplePatches(x, [3, 10, 10, 1], 4, 50, new Rng(1), [1]);
    expect(Array.from(a)).toEqual(Array.from(b));
    // every ramp patch, centred, is the same row [-0.15, -0.05, 0.05, 0.15]
    for (let k = 0; k < 50; k++) expect(a[k * 16 + 3] - a[k * 16]).toBeCloseTo(0.3, 5);
    const flat = samplePatches(x, [3, 10, 10, 1], 4, 20, new Rng(1), [0, 2]);
    expect(flat.every((v) => v === 0)).toBe(true);
  });

  test('rejects images smaller than a patch and wrong lengths', () => {
    expect(() => patchGrid(6, 28, 1, 7)).toThrow(ShapeError);
    expect(() => patchGrid(6, 28, 1, 7)).toThrow(/smaller than the patch size 7/);
    expect(() => extractGridPatches(new Float32Array(10), 1, patchGrid(28, 28, 1, 7))).toThrow(/n·h·w·c = 784/);
  });
});
