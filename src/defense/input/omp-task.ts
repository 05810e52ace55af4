/**
 * The unit of work for parallel scoring: sparse-code and rebuild one chunk of patches in a worker
 * thread (the pool has initialised the engine there).
 */
import * as tf from '@tensorflow/tfjs';
import { gramMatrix } from './omp.js';
import { reconstructPatches } from './sparse-coding.js';

/** Payload of {@link reconstructPatchesTask}: centred patches `[n, dim]` and one dictionary `[nAtoms, dim]`. */
export interface PatchCodingTask {
  patches: Float32Array;
  dim: number;
  dict: Float32Array;
  nAtoms: number;
  nNonzero: number;
}

/** Returns the reconstructions `[n, dim]` of the task's patches (Batch-OMP, `nNonzero` atoms). */
export async function reconstructPatchesTask(t: PatchCodingTask): Promise<Float32Array> {
  const dictT = tf.tensor2d(t.dict, [t.nAtoms, t.dim]);
  try {
    return await reconstructPatches(t.patches, t.dim, t.dict, dictT, gramMatrix(t.dict, t.nAtoms, t.dim), t.nNonzero);
  } finally {
    dictT.dispose();
  }
}
