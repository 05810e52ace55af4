/**
 * The unit of work for parallel scoring: rebuild one shard of images, each from the dictionary of
 * its class, in a worker thread (the pool has initialised the engine there).
 */
import { gramMatrix } from './omp.js';
import type { PatchGrid } from './patches.js';
import { reconstructByClass } from './sparse-coding.js';

/** Payload of {@link reconstructShardTask}: images `[n, h, w, c]` (flat), their classes and every class dictionary. */
export interface ShardCodingTask {
  images: Float32Array;
  n: number;
  grid: PatchGrid;
  classes: Int32Array;
  /** Per class, atom-major `[nAtoms, dim]`. */
  dicts: Float32Array[];
  nNonzero: number;
  batchSize: number;
}

/** Returns the reconstructions `[n, h, w, c]` (flat) of the shard's images (Batch-OMP, `nNonzero` atoms). */
export async function reconstructShardTask(t: ShardCodingTask): Promise<Float32Array> {
  const grams = t.dicts.map((d) => gramMatrix(d, d.length / t.grid.dim, t.grid.dim));
  return reconstructByClass(t.images, t.n, t.grid, t.dicts, grams, t.classes, t.nNonzero, t.batchSize);
}
