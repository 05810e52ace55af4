import { beforeAll, describe, expect, test } from 'vitest';
import { initEngine } from '../../src/engine/backend.js';
import { disposeDataset, loadDataset } from '../../src/data/index.js';
import { DataFormatError } from '../../src/errors.js';
import { attackSubset } from '../../src/pipeline/attack-subset.js';

beforeAll(async () => {
  await initEngine();
});

describe('attackSubset', () => {
  test('the seeded draw of k test images lies inside the draw of n > k, as rows of it', async () => {
    const big = await loadDataset('mnist', { split: 'test', limit: 200, seed: 3 });
    const small = await loadDataset('mnist', { split: 'test', limit: 30, seed: 3 });
    try {
      const rows = await attackSubset('mnist', big, 30, 3);
      expect(rows).toHaveLength(30);
      expect(rows.map((r) => big.indices[r])).toEqual(Array.from(small.indices));
      // the same images, not just the same indices
      const a = big.x.gather(rows).dataSync();
      expect(Array.from(a)).toEqual(Array.from(small.x.dataSync()));
    } finally {
      disposeDataset(big);
      disposeDataset(small);
    }
  });

  test('a test set that is not the same seeded draw is a DataFormatError naming the missing image', async () => {
    const other = await loadDataset('mnist', { split: 'test', limit: 200, seed: 4 });
    try {
      await expect(attackSubset('mnist', other, 30, 3)).rejects.toThrow(DataFormatError);
      await expect(attackSubset('mnist', other, 30, 3)).rejects.toThrow(/test image \d+ of the 30-image draw/);
    } finally {
      disposeDataset(other);
    }
  });
});
