import { describe, expect, test } from 'vitest';
import { budgetGrid, securityFigures } from '../../src/eval/security.js';

describe('securityFigures', () => {
  test('a hand-computed example', () => {
    // 6 rows: fooled 1,1,1,1,0,1; alarm 1,0,0,1,0,0; l2 .5,1,2,1,9,3
    const f = securityFigures([1, 1, 1, 1, 0, 1], [1, 0, 0, 1, 0, 0], [0.5, 1, 2, 1, 9, 3], 1.25, [0, 1, 2, 2.5, 3]);
    expect(f.n).toBe(6);
    expect(f.fooledRate).toBeCloseTo(5 / 6, 12);
    expect(f.detectionRate).toBeCloseTo(2 / 5, 12);
    expect(f.evadeRate).toBeCloseTo(3 / 6, 12); // rows 1, 2, 5
    expect(f.meanL2Evading).toBeCloseTo(2, 12); // (1 + 2 + 3) / 3
    expect(f.l2Ratio).toBeCloseTo(1.6, 12);
    expect(f.evadeWithinBudget).toEqual([0, 1 / 6, 2 / 6, 2 / 6, 3 / 6]);
  });

  test('nothing fooled: NaN rates where undefined, zero curve', () => {
    const f = securityFigures([0, 0], [0, 1], [1, 1], 1, [0, 5]);
    expect(f.detectionRate).toBeNaN();
    expect(f.meanL2Evading).toBeNaN();
    expect(f.evadeRate).toBe(0);
    expect(f.evadeWithinBudget).toEqual([0, 0]);
  });

  test('refuses mismatched lengths; the budget grid spans 0 … upTo × reference', () => {
    expect(() => securityFigures([1], [1, 0], [1], 1, [1])).toThrow(/one length/);
    const g = budgetGrid(0.9, 4, 8);
    expect(g).toHaveLength(9);
    expect(g[0]).toBe(0);
    expect(g[8]).toBeCloseTo(3.6, 10);
  });
});
