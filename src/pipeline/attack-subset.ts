import { loadDataset, disposeDataset, type Dataset } from '../data/index.js';
import { DataFormatError } from '../errors.js';

/**
 * Rows of `test` (loaded with `limit: n`) that `loadDataset(spec, {split: 'test', limit: attackN, seed})` holds:
 * the seeded draw of n images begins with the draw of attackN (partial Fisher–Yates), so they all are in `test`.
 */
export async function attackSubset(spec: string, test: Dataset, attackN: number, seed: number): Promise<number[]> {
  const small = await loadDataset(spec, { split: 'test', limit: attackN, seed });
  disposeDataset(small);
  const pos = new Map(Array.from(test.indices, (idx, row) => [idx, row] as const));
  return Array.from(small.indices, (idx) => {
    const row = pos.get(idx);
    if (row === undefined) throw new DataFormatError(`attackN: test image ${idx} of the ${attackN}-image draw is not among the ${test.x.shape[0]} loaded`);
    return row;
  });
}

