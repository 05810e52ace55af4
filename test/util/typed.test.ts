import { describe, expect, test } from 'vitest';
import { concatField, concatTyped } from '../../src/util/typed.js';

describe('concatTyped / concatField', () => {
  test('concatenates in order into the requested type', () => {
    const out = concatTyped([Int32Array.from([1, 2]), Int32Array.from([]), Int32Array.from([3])], Int32Array);
    expect(out).toBeInstanceOf(Int32Array);
    expect(Array.from(out)).toEqual([1, 2, 3]);
  });
  test('an optional field absent from the first part gives undefined', () => {
    const parts = [{ a: Float32Array.from([0.5]) }, { a: Float32Array.from([1.5, 2]) }];
    expect(Array.from(concatField(parts, (p) => p.a, Float32Array)!)).toEqual([0.5, 1.5, 2]);
    expect(concatField(parts, () => undefined as Uint8Array | undefined, Uint8Array)).toBeUndefined();
    expect(concatField([], (p: { a: Uint8Array }) => p.a, Uint8Array)).toBeUndefined();
  });
});
