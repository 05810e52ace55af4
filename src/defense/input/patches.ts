/**
 * Image ↔ patch conversion for the input defender (pure math on typed arrays, NHWC layout).
 *
 * A patch of size p on a c-channel image is a vector of p·p·c values laid out (row, column,
 * channel), i.e. the NHWC order of the pixels it covers. Each patch is centred **per channel**
 * (its mean over the p·p pixels of that channel is subtracted); the means are kept so the
 * reconstruction can add them back. Dictionaries therefore only model the patch's structure,
 * not its brightness.
 *
 * Tiling: patch origins are 0, p, 2p, … along each axis. When the image side is not a multiple of
 * p, one extra patch is placed flush with the far border (origin side − p), so every pixel is
 * covered and no padding value is invented; pixels covered twice are averaged on reconstruction.
 * Sides smaller than p are rejected.
 */
import { ShapeError, assert } from '../../errors.js';
import type { Rng } from '../../util/rng.js';

/** Patch tiling of one image size. */
export interface PatchGrid {
  readonly h: number;
  readonly w: number;
  readonly c: number;
  /** Patch side p. */
  readonly p: number;
  /** Row origins of the patches along y. */
  readonly ys: Int32Array;
  /** Column origins of the patches along x. */
  readonly xs: Int32Array;
  /** ys.length · xs.length. */
  readonly patchesPerImage: number;
  /** p·p·c, the length of one patch vector. */
  readonly dim: number;
}

function origins(side: number, p: number): Int32Array {
  const o: number[] = [];
  for (let y = 0; y + p <= side; y += p) o.push(y);
  if (side % p !== 0) o.push(side - p);
  return Int32Array.from(o);
}

/**
 * The default patch side for an image of size h × w: 8 (the paper) when it tiles the image,
 * else 7 when that does (28 × 28 MNIST, as in the authors' released code), else 8.
 */
export function defaultPatchSize(h: number, w: number): number {
  if (h % 8 === 0 && w % 8 === 0) return 8;
  if (h % 7 === 0 && w % 7 === 0) return 7;
  return 8;
}

/** Builds the non-overlapping tiling of an h × w × c image by p × p patches (see module doc). */
export function patchGrid(h: number, w: number, c: number, p: number): PatchGrid {
  assert(Number.isInteger(p) && p >= 1, () => `patchGrid: expected patch size p a positive integer, got ${p}`, ShapeError);
  assert(h >= p && w >= p, () => `patchGrid: image ${h}×${w} is smaller than the patch size ${p}`, ShapeError);
  assert(Number.isInteger(c) && c >= 1, () => `patchGrid: expected c ≥ 1 channels, got ${c}`, ShapeError);
  const ys = origins(h, p);
  const xs = origins(w, p);
  return { h, w, c, p, ys, xs, patchesPerImage: ys.length * xs.length, dim: p * p * c };
}

/** Copies the patch at (y0, x0) of image `img` into `out[o…]`, centres it, stores per-channel means. */
function copyCentred(
  images: ArrayLike<number>,
  imgOff: number,
  w: number,
  c: number,
  p: number,
  y0: number,
  x0: number,
  out: Float32Array,
  o: number,
  means: Float32Array | undefined,
  mo: number,
  sums: Float64Array,
): void {
  sums.fill(0);
  let q = o;
  for (let dy = 0; dy < p; dy++) {
    let src = imgOff + ((y0 + dy) * w + x0) * c;
    for (let dx = 0; dx < p; dx++) {
      for (let ch = 0; ch < c; ch++) {
        const v = images[src++];
        out[q++] = v;
        sums[ch] += v;
      }
    }
  }
  const area = p * p;
  for (let ch = 0; ch < c; ch++) {
    // a division (not a multiplication by 1/area) keeps a flat patch's mean exact, so it centres to 0
    const m = sums[ch] / area;
    if (means) means[mo + ch] = m;
    for (let i = o + ch; i < o + p * p * c; i += c) out[i] -= m;
  }
}

/**
 * Cuts `n` images `[n, h, w, c]` (row-major NHWC) into the grid's patches, centred.
 * @returns `patches` `[n·patchesPerImage, dim]` (image-major, then row-major over the grid) and
 *   `means` `[n·patchesPerImage, c]`, the per-channel mean removed from each patch.
 */
export function extractGridPatches(images: ArrayLike<number>, n: number, grid: PatchGrid): { patches: Float32Array; means: Float32Array } {
  const { h, w, c, p, ys, xs, dim } = grid;
  assert(images.length === n * h * w * c, () => `extractGridPatches: expected images of length n·h·w·c = ${n * h * w * c}, got ${images.length}`, ShapeError);
  const np = n * grid.patchesPerImage;
  const patches = new Float32Array(np * dim);
  const means = new Float32Array(np * c);
  const sums = new Float64Array(c);
  let k = 0;
  for (let i = 0; i < n; i++) {
    const off = i * h * w * c;
    for (const y0 of ys) {
      for (const x0 of xs) {
        copyCentred(images, off, w, c, p, y0, x0, patches, k * dim, means, k * c, sums);
        k++;
      }
    }
  }
  return { patches, means };
}

/**
 * Inverse of {@link extractGridPatches}: adds the means back and writes the patches into images
 * `[n, h, w, c]`, averaging pixels that two border patches both cover.
 */
export function assembleGridPatches(patches: ArrayLike<number>, means: ArrayLike<number>, n: number, grid: PatchGrid): Float32Array {
  const { h, w, c, p, ys, xs, dim } = grid;
  const np = n * grid.patchesPerImage;
  assert(patches.length === np * dim, () => `assembleGridPatches: expected patches of length ${np * dim}, got ${patches.length}`, ShapeError);
  assert(means.length === np * c, () => `assembleGridPatches: expected means of length ${np * c}, got ${means.length}`, ShapeError);
  const out = new Float32Array(n * h * w * c);
  // patches overlap (border patches of a side p does not divide, or a strided grid): average the copies
  const overlapping = grid.patchesPerImage * p * p > h * w;
  const count = overlapping ? new Uint16Array(h * w) : undefined;
  if (count) for (const y0 of ys) for (const x0 of xs) for (let dy = 0; dy < p; dy++) for (let dx = 0; dx < p; dx++) count[(y0 + dy) * w + x0 + dx]++;
  let k = 0;
  for (let i = 0; i < n; i++) {
    const off = i * h * w * c;
    for (const y0 of ys) {
      for (const x0 of xs) {
        let q = k * dim;
        for (let dy = 0; dy < p; dy++) {
          let dst = off + ((y0 + dy) * w + x0) * c;
          for (let dx = 0; dx < p; dx++) {
            for (let ch = 0; ch < c; ch++) {
              const v = patches[q++] + means[k * c + ch];
              if (count) out[dst++] += v;
              else out[dst++] = v;
            }
          }
        }
        k++;
      }
    }
    if (count) for (let j = 0; j < h * w; j++) if (count[j] > 1) for (let ch = 0; ch < c; ch++) out[off + j * c + ch] /= count[j];
  }
  return out;
}

/**
 * Draws `count` random p × p patches (centred, `[count, p·p·c]`) for dictionary learning: each one
 * from a uniformly chosen image among `imageIndices` (default: all `n`) at a uniformly chosen
 * position (any origin in [0, h−p] × [0, w−p], overlaps allowed). Deterministic given `rng`.
 */
export function samplePatches(
  images: ArrayLike<number>,
  shape: readonly [n: number, h: number, w: number, c: number],
  p: number,
  count: number,
  rng: Rng,
  imageIndices?: ArrayLike<number>,
): Float32Array {
  const [n, h, w, c] = shape;
  assert(images.length === n * h * w * c, () => `samplePatches: expected images of length n·h·w·c = ${n * h * w * c}, got ${images.length}`, ShapeError);
  assert(h >= p && w >= p, () => `samplePatches: image ${h}×${w} is smaller than the patch size ${p}`, ShapeError);
  const pool = imageIndices ?? { length: n };
  assert(pool.length > 0, () => 'samplePatches: no images to sample patches from', ShapeError);
  const dim = p * p * c;
  const out = new Float32Array(count * dim);
  const sums = new Float64Array(c);
  for (let k = 0; k < count; k++) {
    const j = rng.int(pool.length);
    const img = imageIndices ? imageIndices[j] : j;
    const y0 = rng.int(h - p + 1);
    const x0 = rng.int(w - p + 1);
    copyCentred(images, img * h * w * c, w, c, p, y0, x0, out, k * dim, undefined, 0, sums);
  }
  return out;
}
