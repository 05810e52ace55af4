import { describe, expect, test } from 'vitest';
import { empiricalPValue, tailPValue, thresholdFromScores } from '../../src/defense/types.js';

describe('p-values and thresholds', () => {
  const s = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  test('empiricalPValue counts clean scores ≥ s with +1 smoothing', () => {
    expect(empiricalPValue(s, 0)).toBeCloseTo(11 / 11);
    expect(empiricalPValue(s, 9.5)).toBeCloseTo(2 / 11);
    expect(empiricalPValue(s, 10)).toBeCloseTo(2 / 11);
    expect(empiricalPValue(s, 11)).toBeCloseTo(1 / 11);
  });
  test('tailPValue equals the empirical one inside the range and keeps falling past the maximum', () => {
    expect(tailPValue(s, 9.5)).toBe(empiricalPValue(s, 9.5));
    // top 1 % of 10 scores → m = 1; β = 10 − 9 = 1; p = e^{−(s − 10)}/11
    expect(tailPValue(s, 12)).toBeCloseTo(Math.exp(-2) / 11, 12);
    expect(tailPValue(s, 13)).toBeLessThan(tailPValue(s, 12));
  });
  test('thresholdFromScores flags SP % of the clean scores', () => {
    expect(thresholdFromScores(s, 0)).toBe(10);
    expect(thresholdFromScores(s, 20)).toBe(8);
    expect(thresholdFromScores(s, 100)).toBe(-Infinity);
    expect(() => thresholdFromScores(s, 101)).toThrow(/sp: expected a percentage/);
  });
});
