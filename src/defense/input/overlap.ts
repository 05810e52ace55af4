/**
 * Overlapping-patch reconstruction for the input defender: the image is cut into p × p patches at a
 * stride s ≤ p (s = p is the paper's non-overlapping grid), every patch is sparse-coded on one class
 * dictionary, and each pixel of the rebuilt image is the mean of the reconstructions of every patch
 * covering it. Smaller strides see every pixel in several patch contexts, so a perturbation that one
 * patch position happens to rebuild well is still paid for in the others.
 */
import { ArgumentError, ShapeError, assert } from '../../errors.js';
import { assembleGridPatches, extractGridPatches, type PatchGrid } from './patches.js';
import { psnr } from './psnr.js';
import { forEachClassBatch, reconstructPatches } from './sparse-coding.js';

function stridedOrigins(side: number, p: number, stride: number): Int32Array {
  const o: number[] = [];
  for (let y = 0; y + p <= side; y += stride) o.push(y);
  if (o[o.length - 1] !== side - p) o.push(side - p);
  return Int32Array.from(o);
}

/**
 * The patch grid of p × p patches at `stride` along both axes (the last row and column of patches
 * is aligned with the image border). `stride = p` on a side divisible by p is `patchGrid`'s tiling.
 */
export function stridedGrid(h: number, w: number, c: number, p: number, stride: number): PatchGrid {
  assert(Number.isInteger(p) && p >= 1 && p <= Math.min(h, w), () => `stridedGrid: expected patch size p an integer in [1, ${Math.min(h, w)}], got ${p}`, ShapeError);
  assert(Number.isInteger(stride) && stride >= 1 && stride <= p, () => `stridedGrid: expected stride an integer in [1, p = ${p}], got ${stride}`, ArgumentError);
  const ys = stridedOrigins(h, p, stride);
  const xs = stridedOrigins(w, p, stride);
  return { h, w, c, p, ys, xs, patchesPerImage: ys.length * xs.length, dim: p * p * c };
}

/**
 * Writes patches `[n·patchesPerImage, dim]` (centred, with per-channel `means`) back into images
 * `[n, h, w, c]`, each pixel the mean over every patch that covers it (`assembleGridPatches`, which
 * averages wherever patches overlap).
 */
export function assembleOverlapping(patches: ArrayLike<number>, means: ArrayLike<number>, n: number, grid: PatchGrid): Float32Array {
  return assembleGridPatches(patches, means, n, grid);
}

/** What {@link overlappingReconstruction} returns. */
export interface OverlapReconstruction {
  /** PSNR (dB) of each rebuilt image, [n]. */
  psnr: Float32Array;
  /** Mean squared residual of each patch's own reconstruction (before averaging), [n, patchesPerImage] row-major. */
  patchMse: Float32Array;
}

/**
 * Rebuilds each image `[n, h, w, c]` (flat) from overlapping patches (`grid`, e.g. from
 * {@link stridedGrid}) sparse-coded with `nNonzero` atoms of the dictionary of its class
 * `classes[i]` (`dicts[k]` atom-major `[nAtoms, dim]`, `grams[k]` its Gram matrix), and measures the
 * PSNR of every image and the residual of every patch.
 */
export async function overlappingReconstruction(
  images: Float32Array,
  n: number,
  grid: PatchGrid,
  dicts: readonly Float32Array[],
  grams: readonly Float64Array[],
  classes: ArrayLike<number>,
  nNonzero: number,
  maxValue = 1,
): Promise<OverlapReconstruction> {
  const size = grid.h * grid.w * grid.c;
  const ppi = grid.patchesPerImage;
  assert(images.length === n * size && classes.length === n, () => `overlappingPsnr: expected ${n} images of ${size} values and ${n} classes, got ${images.length} values and ${classes.length} classes`, ShapeError);
  const out = new Float32Array(n);
  const patchMse = new Float32Array(n * ppi);
  for (let s = 0; s < n; s++) {
    const k = classes[s];
    assert(Number.isInteger(k) && k >= 0 && k < dicts.length, () => `overlappingPsnr: class ${k} of row ${s} is outside [0, ${dicts.length})`, ArgumentError);
  }
  await forEachClassBatch(images, size, classes, dicts, grid.dim, 256, async (k, dictT, imgs, rows) => {
    const m = rows.length;
    const { patches, means } = extractGridPatches(imgs, m, grid);
    const orig = patches.slice();
    await reconstructPatches(patches, grid.dim, dicts[k], dictT, grams[k], nNonzero);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < ppi; j++) {
        const o = (i * ppi + j) * grid.dim;
        let e = 0;
        for (let f = 0; f < grid.dim; f++) e += (orig[o + f] - patches[o + f]) ** 2;
        patchMse[rows[i] * ppi + j] = e / grid.dim;
      }
    }
    const ps = psnr(imgs, assembleOverlapping(patches, means, m, grid), m, maxValue);
    rows.forEach((r, i) => (out[r] = ps[i]));
  });
  return { psnr: out, patchMse };
}

/**
 * PSNR (dB) of each image rebuilt from overlapping patches; see {@link overlappingReconstruction}. Returns [n].
 */
export async function overlappingPsnr(
  images: Float32Array,
  n: number,
  grid: PatchGrid,
  dicts: readonly Float32Array[],
  grams: readonly Float64Array[],
  classes: ArrayLike<number>,
  nNonzero: number,
  maxValue = 1,
): Promise<Float32Array> {
  return (await overlappingReconstruction(images, n, grid, dicts, grams, classes, nNonzero, maxValue)).psnr;
}
