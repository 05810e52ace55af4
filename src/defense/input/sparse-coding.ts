/**
 * Sparse coding of many patches on one dictionary with tfjs for D·x and Batch-OMP in typed arrays.
 * Kept apart from `input-defender.ts` so a worker thread can load it alone (see `omp-task.ts`).
 */
import * as tf from '@tensorflow/tfjs';
import { ompGram, reconstructSignals } from './omp.js';

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
    for (let i = 0; i < m; i++) buf.set(patches.subarray(live[c0 + i] * dim, (live[c0 + i] + 1) * dim), i * dim);
    const corr = tf.tidy(() => tf.matMul(tf.tensor2d(buf.subarray(0, m * dim), [m, dim]), dictT, false, true));
    let dtx: Float32Array;
    try {
      dtx = (await corr.data()) as Float32Array;
    } finally {
      corr.dispose();
    }
    const rec = reconstructSignals(dict, dim, ompGram(gram, nAtoms, dtx, { nNonzero }), buf.subarray(0, m * dim));
    for (let i = 0; i < m; i++) patches.set(rec.subarray(i * dim, (i + 1) * dim), live[c0 + i] * dim);
  }
  return patches;
}

