/**
 * Sparse coding of many patches on one dictionary with tfjs for D·x and Batch-OMP in typed arrays.
 * Kept apart from `input-defender.ts` so a worker thread can load it alone (see `omp-task.ts`).
 */
import * as tf from '@tensorflow/tfjs';
import { withFloat32View } from '../../engine/host-view.js';
import { ompGram, reconstructSignals } from './omp.js';
import { assembleGridPatches, extractGridPatches, type PatchGrid } from './patches.js';

/** Patches per tfjs matMul in {@link reconstructPatches}: keeps D·x chunks cache-sized. */
const CODE_CHUNK = 4096;

/**
 * Sparse-codes `patches` `[nP, dim]` (centred) with Batch-OMP on one dictionary and overwrites
 * each with its reconstruction. Correlations D·x come from one tfjs matMul per chunk of
 * {@link CODE_CHUNK} patches (`dictT` = the dictionary as an `[nAtoms, dim]` tensor); the greedy
 * selection and Cholesky updates run in typed arrays (`ompGram`). Exactly flat patches (all zero
 * after centring — most of an MNIST background) have the empty code and are skipped before the
 * matMul. Returns `patches`.
 */
export async function reconstructPatches(
  patches: Float32Array,
  dim: number,
  dict: Float32Array,
  dictT: tf.Tensor2D,
  gram: Float64Array,
  nNonzero: number,
): Promise<Float32Array> {
  const nP = patches.length / dim;
  const nAtoms = dictT.shape[0];
  // indices of the patches that need coding
  const live = new Int32Array(nP);
  let nLive = 0;
  for (let i = 0; i < nP; i++) {
    const o = i * dim;
    for (let f = 0; f < dim; f++) {
      if (patches[o + f] !== 0) {
        live[nLive++] = i;
        break;
      }
    }
  }
  const buf = new Float32Array(Math.min(CODE_CHUNK, Math.max(1, nLive)) * dim);
  for (let c0 = 0; c0 < nLive; c0 += CODE_CHUNK) {
    const m = Math.min(CODE_CHUNK, nLive - c0);
    for (let i = 0; i < m; i++) {
      const src = live[c0 + i] * dim;
      const dst = i * dim;
      for (let f = 0; f < dim; f++) buf[dst + f] = patches[src + f];
    }
    const corr = tf.tidy(() => tf.matMul(tf.tensor2d(buf.subarray(0, m * dim), [m, dim]), dictT, false, true));
    let rec: Float32Array;
    try {
      // the correlations are read in place (no copy) and consumed at once by the pursuit
      rec = reconstructSignals(dict, dim, withFloat32View(corr, (dtx) => ompGram(gram, nAtoms, dtx, { nNonzero })), buf.subarray(0, m * dim));
    } finally {
      corr.dispose();
    }
    for (let i = 0; i < m; i++) {
      const dst = live[c0 + i] * dim;
      const src = i * dim;
      for (let f = 0; f < dim; f++) patches[dst + f] = rec[src + f];
    }
  }
  return patches;
}


/**
 * Sparse-codes and rebuilds `n` images `[n, h, w, c]` (flat) with one dictionary: grid patches,
 * per-channel centring, Batch-OMP with `nNonzero` atoms ({@link reconstructPatches}), means added
 * back. `dictT` is the dictionary `[nAtoms, dim]` as a tensor (not disposed).
 * @returns the reconstructions `[n, h, w, c]` (flat).
 */
export async function reconstructImages(
  images: Float32Array,
  n: number,
  grid: PatchGrid,
  dict: Float32Array,
  dictT: tf.Tensor2D,
  gram: Float64Array,
  nNonzero: number,
): Promise<Float32Array> {
  const { patches, means } = extractGridPatches(images, n, grid);
  await reconstructPatches(patches, grid.dim, dict, dictT, gram, nNonzero);
  return assembleGridPatches(patches, means, n, grid);
}

/**
 * Rebuilds each image `[n, h, w, c]` (flat) from the dictionary of its class `classes[i]`
 * (`dicts[k]` atom-major `[nAtoms, dim]`, `grams[k]` its Gram matrix), `batchSize` images of a class
 * per {@link reconstructImages} call. Classes must be valid indices into `dicts` (checked by the caller).
 * @returns the reconstructions `[n, h, w, c]` (flat).
 */
export async function reconstructByClass(
  images: Float32Array,
  n: number,
  grid: PatchGrid,
  dicts: readonly Float32Array[],
  grams: readonly Float64Array[],
  classes: ArrayLike<number>,
  nNonzero: number,
  batchSize: number,
): Promise<Float32Array> {
  const size = grid.h * grid.w * grid.c;
  const out = new Float32Array(n * size);
  await forEachClassBatch(images, size, classes, dicts, grid.dim, batchSize, async (k, dictT, batch, rows) => {
    const rec = await reconstructImages(batch, rows.length, grid, dicts[k], dictT, grams[k], nNonzero);
    rows.forEach((r, i) => out.set(rec.subarray(i * size, (i + 1) * size), r * size));
  });
  return out;
}

/**
 * Runs `fn` over the rows of `images` (`size` values each) grouped by class `classes[r]`, at most
 * `batchSize` rows of one class at a time: `batch` holds those rows' images, `rows` their indices, and
 * `dictT` class k's dictionary `dicts[k]` (`[nAtoms, dim]`) as a tensor, created once per class and
 * freed after it. Classes must be valid indices into `dicts` (checked by the caller).
 */
export async function forEachClassBatch(
  images: Float32Array,
  size: number,
  classes: ArrayLike<number>,
  dicts: readonly Float32Array[],
  dim: number,
  batchSize: number,
  fn: (k: number, dictT: tf.Tensor2D, batch: Float32Array, rows: number[]) => Promise<void>,
): Promise<void> {
  const byClass: number[][] = Array.from({ length: dicts.length }, () => []);
  for (let r = 0; r < classes.length; r++) byClass[classes[r]].push(r);
  for (let k = 0; k < dicts.length; k++) {
    const idx = byClass[k];
    if (idx.length === 0) continue;
    const dictT = tf.tensor2d(dicts[k], [dicts[k].length / dim, dim]);
    try {
      for (let b0 = 0; b0 < idx.length; b0 += batchSize) {
        const rows = idx.slice(b0, b0 + batchSize);
        const batch = new Float32Array(rows.length * size);
        rows.forEach((r, i) => batch.set(images.subarray(r * size, (r + 1) * size), i * size));
        await fn(k, dictT, batch, rows);
      }
    } finally {
      dictT.dispose();
    }
  }
}
