import { describe, expect, test } from 'vitest';
import { learnDictionary, validateDictionaryParams } from '../../../src/defense/input/dictionary-learning.js';
import { Rng } from '../../../src/util/rng.js';
import { ArgumentError } from '../../../src/errors.js';

/** Planted problem: x = D·v + noise with v 3-sparse on a random 20 × 30 unit-norm dictionary. */
function planted(seed: number, d = 20, K = 30, n = 4000, s = 3, noise = 0.01) {
  const rng = new Rng(seed);
  const D = new Float64Array(K * d);
  for (let k = 0; k < K; k++) {
    let t = 0;
    for (let f = 0; f < d; f++) t += (D[k * d + f] = rng.normal()) ** 2;
    for (let f = 0; f < d; f++) D[k * d + f] /= Math.sqrt(t);
  }
  const X = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    for (const a of rng.sample(K, s)) {
      const c = (rng.next() < 0.5 ? -1 : 1) * (0.5 + rng.next());
      for (let f = 0; f < d; f++) X[i * d + f] += c * D[a * d + f];
    }
    for (let f = 0; f < d; f++) X[i * d + f] += noise * rng.normal();
  }
  return { D, X, d, K };
}

/** Fraction of planted atoms with a learned atom at |cos| ≥ 0.99. */
function matched(Dtrue: Float64Array, Dlearn: Float32Array, K: number, Klearn: number, d: number): number {
  let m = 0;
  for (let k = 0; k < K; k++) {
    let best = 0;
    for (let j = 0; j < Klearn; j++) {
      let c = 0;
      for (let f = 0; f < d; f++) c += Dtrue[k * d + f] * Dlearn[j * d + f];
      best = Math.max(best, Math.abs(c));
    }
    if (best >= 0.99) m++;
  }
  return m / K;
}

describe('learnDictionary', () => {
  const P = planted(1);

  test('recovers a planted dictionary with Lasso (LARS) codes: ≥ 90 % of atoms at |cos| ≥ 0.99', () => {
    const r = learnDictionary(P.X, P.d, { nAtoms: P.K, alpha: 0.2, epochs: 20, batchSize: 64, seed: 3 });
    expect(matched(P.D, r.dictionary, P.K, P.K, P.d)).toBeGreaterThanOrEqual(0.9);
  });

  test('recovers a planted dictionary with the OMP-codes option', () => {
    const r = learnDictionary(P.X, P.d, { nAtoms: P.K, codes: 'omp', ompNonzero: 3, epochs: 20, batchSize: 64, seed: 3 });
    expect(matched(P.D, r.dictionary, P.K, P.K, P.d)).toBeGreaterThanOrEqual(0.9);
  });

  test('a random dictionary does not pass the same criterion (the check can fail)', () => {
    const other = planted(99);
    expect(matched(P.D, Float32Array.from(other.D), P.K, P.K, P.d)).toBeLessThan(0.1);
  });

  test('is deterministic for a seed, atoms have unit norm, and the seed matters', () => {
    const X = P.X.subarray(0, 600 * P.d);
    const a = learnDictionary(X, P.d, { nAtoms: 12, alpha: 0.2, batchSize: 32, seed: 5 });
    const b = learnDictionary(X, P.d, { nAtoms: 12, alpha: 0.2, batchSize: 32, seed: 5 });
    const c = learnDictionary(X, P.d, { nAtoms: 12, alpha: 0.2, batchSize: 32, seed: 6 });
    expect(Array.from(a.dictionary)).toEqual(Array.from(b.dictionary));
    expect(Array.from(a.dictionary)).not.toEqual(Array.from(c.dictionary));
    for (let k = 0; k < 12; k++) {
      let s = 0;
      for (let f = 0; f < P.d; f++) s += a.dictionary[k * P.d + f] ** 2;
      expect(Math.sqrt(s)).toBeCloseTo(1, 5);
    }
    expect(a.steps).toBe(Math.ceil(600 / 32));
  });

  test('re-seeds atoms that are never used', () => {
    // data living on 2 directions only: most of 10 atoms go unused and must be re-seeded
    const d = 8;
    const n = 400;
    const rng = new Rng(2);
    const X = new Float32Array(n * d);
    for (let i = 0; i < n; i++) X[i * d + (i % 2)] = 1 + rng.next();
    const r = learnDictionary(X, d, { nAtoms: 10, alpha: 0.1, batchSize: 20, seed: 0 });
    expect(r.reseeded).toBeGreaterThan(0);
    expect(r.dictionary.every(Number.isFinite)).toBe(true);
  });

  test('the objective goes down over epochs', () => {
    const r1 = learnDictionary(P.X, P.d, { nAtoms: P.K, alpha: 0.2, epochs: 1, batchSize: 64, seed: 3 });
    const r5 = learnDictionary(P.X, P.d, { nAtoms: P.K, alpha: 0.2, epochs: 5, batchSize: 64, seed: 3 });
    expect(r5.lastEpochCost).toBeLessThan(r1.lastEpochCost);
  });

  test('validates hyperparameters, naming the field', () => {
    expect(() => validateDictionaryParams({ nAtoms: 0 })).toThrow(/nAtoms/);
    expect(() => validateDictionaryParams({ alpha: -1 })).toThrow(ArgumentError);
    expect(() => validateDictionaryParams({ codes: 'ksvd' as never })).toThrow(/codes/);
    expect(() => learnDictionary(new Float32Array(10), 3)).toThrow(/multiple of nFeatures/);
  });
});
