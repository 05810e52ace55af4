import { describe, expect, test } from 'vitest';
import { Matrix, inverse, determinant } from 'ml-matrix';
import { ArgumentError, ShapeError } from '../../../src/errors.js';
import {
  cattellDimension,
  fitHdda,
  fitHddaClass,
  hddaLogLik,
  hddaLogLikBatch,
  meanAndCovariance,
  symmetricEigen,
} from '../../../src/defense/latent/hdda.js';
import { Rng } from '../../../src/util/rng.js';

/** n samples of a p-dim Gaussian with covariance A Aᵀ (+ diag), mean m; row-major. */
function gaussian(rng: Rng, n: number, p: number, scales: number[], shift = 0): Float64Array {
  const a = Array.from({ length: p * p }, () => rng.normal());
  const x = new Float64Array(n * p);
  for (let s = 0; s < n; s++) {
    const z = scales.map((sc) => sc * rng.normal());
    for (let j = 0; j < p; j++) {
      let v = shift + j * 0.5;
      for (let k = 0; k < p; k++) v += a[j * p + k] * z[k];
      x[s * p + j] = v;
    }
  }
  return x;
}

/** Brute-force log N(x; μ, Σ) with ml-matrix's inverse and determinant. */
function bruteLogDensity(x: number[], mu: ArrayLike<number>, cov: Matrix): number {
  const p = x.length;
  const r = Matrix.columnVector(x.map((v, j) => v - mu[j]));
  const q = r.transpose().mmul(inverse(cov)).mmul(r).get(0, 0);
  return -0.5 * (q + Math.log(determinant(cov)) + p * Math.log(2 * Math.PI));
}

const all = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('cattellDimension', () => {
  test('hand-computed spectra', () => {
    // gaps 5, 0.5, 3.5, 0.1, 0.1: the last gap ≥ 0.2·5 is the third → d = 3
    expect(cattellDimension([10, 5, 4.5, 1, 0.9, 0.8], 0.2)).toBe(3);
    // with threshold 0.8 only the first gap (5 ≥ 4) counts → d = 1
    expect(cattellDimension([10, 5, 4.5, 1, 0.9, 0.8], 0.8)).toBe(1);
    // gaps 1, 1, 1, 7.9, 0.05: last big gap at j = 4
    expect(cattellDimension([11, 10, 9, 8, 0.1, 0.05], 0.2)).toBe(4);
    // a flat spectrum has no gap → 1
    expect(cattellDimension([2, 2, 2, 2], 0.2)).toBe(1);
    expect(cattellDimension([3], 0.2)).toBe(1);
  });
});

describe('meanAndCovariance / symmetricEigen', () => {
  test('covariance and eigenpairs satisfy Σ v = λ v, descending', () => {
    const rng = new Rng(3);
    const p = 4;
    const x = gaussian(rng, 200, p, [3, 2, 1, 0.5]);
    const { cov } = meanAndCovariance(x, p, all(200));
    const { values, vectors } = symmetricEigen(cov, p);
    for (let j = 1; j < p; j++) expect(values[j]).toBeLessThanOrEqual(values[j - 1]);
    for (let j = 0; j < p; j++) {
      for (let r = 0; r < p; r++) {
        let sv = 0;
        for (let c = 0; c < p; c++) sv += cov[r * p + c] * vectors[j * p + c];
        expect(sv).toBeCloseTo(values[j] * vectors[j * p + r], 9);
      }
    }
  });
});

describe('fitHddaClass', () => {
  test('d = p equals a brute-force full-covariance Gaussian log-density', () => {
    const rng = new Rng(7);
    const p = 5;
    const n = 400;
    const x = gaussian(rng, n, p, [2, 1.5, 1, 0.7, 0.4], 1);
    const m = fitHddaClass(x, p, all(n), { dims: p });
    expect(m.d).toBe(p);
    // independent ML estimates
    const mu = new Array(p).fill(0);
    for (let s = 0; s < n; s++) for (let j = 0; j < p; j++) mu[j] += x[s * p + j] / n;
    const cov = new Matrix(p, p);
    for (let s = 0; s < n; s++) {
      for (let j = 0; j < p; j++) {
        for (let k = 0; k < p; k++) cov.set(j, k, cov.get(j, k) + ((x[s * p + j] - mu[j]) * (x[s * p + k] - mu[k])) / n);
      }
    }
    for (let t = 0; t < 20; t++) {
      const q = Array.from({ length: p }, () => 3 * rng.normal());
      const want = bruteLogDensity(q, mu, cov);
      const got = hddaLogLik(m, q);
      expect(Math.abs(got - want)).toBeLessThan(1e-5 * Math.max(1, Math.abs(want)));
    }
  });

  test('d < p equals the Gaussian with covariance Q diag(a_1..a_d, b..b) Qᵀ, b = mean of the rest', () => {
    const rng = new Rng(11);
    const p = 6;
    const n = 500;
    const x = gaussian(rng, n, p, [5, 4, 0.3, 0.3, 0.3, 0.3]);
    const m = fitHddaClass(x, p, all(n), { dims: 2 });
    const { mean, cov } = meanAndCovariance(x, p, all(n));
    const { values, vectors } = symmetricEigen(cov, p);
    const b = (values.slice(2).reduce((u, v) => u + v, 0)) / (p - 2);
    expect(m.b).toBeCloseTo(b, 6);
    const lam = [values[0], values[1], b, b, b, b];
    const model = new Matrix(p, p);
    for (let j = 0; j < p; j++) {
      for (let k = 0; k < p; k++) {
        let v = 0;
        for (let e = 0; e < p; e++) v += vectors[e * p + j] * lam[e] * vectors[e * p + k];
        model.set(j, k, v);
      }
    }
    for (let t = 0; t < 20; t++) {
      const q = Array.from({ length: p }, () => 2 * rng.normal());
      const want = bruteLogDensity(q, mean, model);
      expect(Math.abs(hddaLogLik(m, q) - want)).toBeLessThan(1e-5 * Math.max(1, Math.abs(want)));
    }
  });

  test("'auto' picks the planted dimension", () => {
    const rng = new Rng(5);
    const p = 8;
    const x = gaussian(rng, 2000, p, [6, 5, 4, 0.05, 0.05, 0.05, 0.05, 0.05]);
    // A is a random mixing matrix, so the spectrum is not exactly the scales, but the gap after 3 dominates
    const m = fitHddaClass(x, p, all(2000), {});
    expect(m.d).toBe(3);
  });

  test('rank-deficient data (a line in 3-D) stays finite thanks to the floor', () => {
    const rng = new Rng(2);
    const n = 50;
    const x = new Float64Array(n * 3);
    for (let s = 0; s < n; s++) {
      const t = rng.normal();
      x.set([t, 2 * t, -t], s * 3);
    }
    const m = fitHddaClass(x, 3, all(n), { dims: 1 });
    expect(m.b).toBeGreaterThan(0);
    const onLine = hddaLogLik(m, [0.5, 1, -0.5]);
    const offLine = hddaLogLik(m, [0.5, 1, 0.5]);
    expect(Number.isFinite(onLine)).toBe(true);
    expect(Number.isFinite(offLine)).toBe(true);
    expect(offLine).toBeLessThan(onLine - 100);
  });

  test('validates options and sample counts', () => {
    const x = new Float64Array(12);
    expect(() => fitHddaClass(x, 3, [0], {})).toThrow(ShapeError);
    expect(() => fitHddaClass(x, 3, [0, 1, 2], { dims: 4 })).toThrow(/exceeds the feature dimension p = 3/);
    expect(() => fitHddaClass(x, 3, [0, 1, 2], { dims: 0 })).toThrow(ArgumentError);
    expect(() => fitHddaClass(x, 3, [0, 1, 2], { screeThreshold: 1.5 })).toThrow(/screeThreshold/);
  });
});

describe('fitHdda / hddaLogLikBatch', () => {
  test('per-class fit; batch = per-row loglik under the given class', () => {
    const rng = new Rng(9);
    const p = 3;
    const a = gaussian(rng, 100, p, [1, 1, 1], 0);
    const b = gaussian(rng, 100, p, [1, 1, 1], 10);
    const x = new Float64Array(200 * p);
    x.set(a, 0);
    x.set(b, 100 * p);
    const labels = Int32Array.from({ length: 200 }, (_, i) => (i < 100 ? 0 : 1));
    const model = fitHdda(x, p, labels, 2, { dims: 2 });
    const ll = hddaLogLikBatch(model, x, labels);
    const swapped = hddaLogLikBatch(model, x, labels.map((v) => 1 - v));
    for (let s = 0; s < 200; s++) {
      expect(ll[s]).toBeCloseTo(hddaLogLik(model[labels[s]], x, s * p), 10);
      expect(swapped[s]).toBeLessThan(ll[s]);
    }
  });

  test('a point far from every class has a log-likelihood below every class threshold (SP = 0)', () => {
    const rng = new Rng(13);
    const p = 4;
    const n = 300;
    const x = new Float64Array(3 * n * p);
    for (let c = 0; c < 3; c++) x.set(gaussian(rng, n, p, [1, 0.8, 0.5, 0.3], 6 * c), c * n * p);
    const labels = Int32Array.from({ length: 3 * n }, (_, i) => Math.floor(i / n));
    const model = fitHdda(x, p, labels, 3, {});
    const ll = hddaLogLikBatch(model, x, labels);
    const far = [40, -40, 40, -40];
    for (let c = 0; c < 3; c++) {
      let min = Infinity;
      for (let s = c * n; s < (c + 1) * n; s++) min = Math.min(min, ll[s]);
      expect(hddaLogLik(model[c], far)).toBeLessThan(min);
    }
  });

  test('errors name the problem', () => {
    const x = new Float64Array(6);
    expect(() => fitHdda(x, 3, [0, 0], 2)).toThrow(/class 1 has 0 training samples/);
    expect(() => fitHdda(x, 3, [0, 5], 2)).toThrow(/label 5 at row 1/);
    expect(() => fitHdda(x, 2, [0, 0], 1)).toThrow(/expected n·p/);
    const m = fitHdda(new Float64Array([0, 0, 1, 1, 2, 0]), 2, [0, 0, 0], 1, { dims: 1 });
    expect(() => hddaLogLikBatch(m, [0, 0], [3])).toThrow(/class 3 of row 0/);
  });
});
