import { ArgumentError, ShapeError, assert } from '../errors.js';

/** Any array-like of numbers (Float32Array, Float64Array, number[]). */
export type ScoreArray = ArrayLike<number>;

/** Validates a score array at the public boundary. */
export function checkScores(who: string, name: string, s: ScoreArray): void {
  assert(
    s !== null && typeof s === 'object' && typeof s.length === 'number',
    () => `${who}: expected '${name}' to be an array of numbers, got ${s === null ? 'null' : typeof s}`,
  );
  assert(s.length > 0, () => `${who}: expected '${name}' to be a non-empty array of scores, got length 0`, ShapeError);
  for (let i = 0; i < s.length; i++) {
    const v = s[i];
    if (typeof v !== 'number' || Number.isNaN(v) || v === Infinity) {
      throw new ArgumentError(
        `${who}: expected '${name}' to hold numbers other than NaN and +Infinity, got ${String(v)} at index ${i}`,
      );
    }
  }
}
