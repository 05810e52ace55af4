import { ArgumentError } from '../errors.js';
import { Rng } from '../util/rng.js';

/**
 * Indices of a seeded random subset of `limit` of the `n` rows, sorted increasingly
 * (all rows when `limit` is undefined or ≥ n). The same (n, limit, seed) always gives the same rows.
 */
export function subsetIndices(n: number, limit?: number, seed = 0): Int32Array {
  if (limit === undefined || limit >= n) {
    const all = new Int32Array(n);
    for (let i = 0; i < n; i++) all[i] = i;
    return all;
  }
  if (!Number.isInteger(limit) || limit < 1) {
    throw new ArgumentError(`limit: expected a positive integer, got ${limit}`);
  }
  return new Rng(seed).sample(n, limit).sort();
}
