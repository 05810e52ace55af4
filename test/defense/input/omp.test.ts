import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { correlations, gramMatrix, omp, ompGram, reconstructSignals } from '../../../src/defense/input/omp.js';
import { Rng } from '../../../src/util/rng.js';
import { ArgumentError } from '../../../src/errors.js';

/** Random Gaussian dictionary with unit-norm atoms, atom-major [nAtoms, nFeatures], float64. */
function gaussianDict(rng: Rng, nAtoms: number, nFeatures: number): Float64Array {
  const d = new Float64Array(nAtoms * nFeatures);
  for (let a = 0; a < nAtoms; a++) {
    let s = 0;
    for (let f = 0; f < nFeatures; f++) {
      const v = rng.normal();
      d[a * nFeatures + f] = v;
      s += v * v;
    }
    const inv = 1 / Math.sqrt(s);
    for (let f = 0; f < nFeatures; f++) d[a * nFeatures + f] *= inv;
  }
  return d;
}

/** Least squares of x on the given atoms via the normal equations (Gaussian elimination, float64). */
function leastSquares(dict: Float64Array, nFeatures: number, support: number[], x: Float64Array): number[] {
  const m = support.length;
  const a = Array.from({ length: m }, (_, i) =>
    Array.from({ length: m + 1 }, (_, j) => {
      let s = 0;
      for (let f = 0; f < nFeatures; f++) {
        const di = dict[support[i] * nFeatures + f];
        s += di * (j < m ? dict[support[j] * nFeatures + f] : x[f]);
      }
      return s;
    }),
  );
  for (let c = 0; c < m; c++) {
    let p = c;
    for (let r = c + 1; r < m; r++) if (Math.abs(a[r][c]) > Math.abs(a[p][c])) p = r;
    [a[c], a[p]] = [a[p], a[c]];
    for (let r = 0; r < m; r++) {
      if (r === c) continue;
      const f = a[r][c] / a[c][c];
      for (let j = c; j <= m; j++) a[r][j] -= f * a[c][j];
    }
  }
  return a.map((row, i) => row[m] / row[i]);
}

function residualNorm(dict: Float64Array, nFeatures: number, x: Float64Array, idx: number[], coef: number[]): number {
  let s = 0;
  for (let f = 0; f < nFeatures; f++) {
    let r = x[f];
    for (let i = 0; i < idx.length; i++) r -= coef[i] * dict[idx[i] * nFeatures + f];
    s += r * r;
  }
  return Math.sqrt(s);
}

// ../shared/oracles next to the project (as every checkout of it has): resolved from this file, never an
// absolute machine path; a missing oracle is a failure, not a skip (a skipped oracle test checks nothing)
const ORACLE = fileURLToPath(new URL('../../../../shared/oracles/omp.json', import.meta.url));
describe('ompGram vs scikit-learn orthogonal_mp_gram (oracle file)', () => {
  test('the oracle file is there (../shared/oracles/omp.json)', () => {
    expect(existsSync(ORACLE), `missing ${ORACLE}: the scikit-learn OMP oracle (see ../shared/oracles/README.md)`).toBe(true);
  });
  test('same supports (as sets), coefficients and residual norms at k = 1, 3, 5, 10', () => {
    const o = JSON.parse(readFileSync(ORACLE, 'utf8'));
    const nF: number = o.n_features;
    const nA: number = o.n_atoms;
    const nS: number = o.n_signals;
    // oracle D is [nFeatures, nAtoms] row-major, X is [nFeatures, nSignals]: transpose to ours
    const dict = new Float64Array(nA * nF);
    for (let f = 0; f < nF; f++) for (let a = 0; a < nA; a++) dict[a * nF + f] = o.D[f * nA + a];
    const x = new Float64Array(nS * nF);
    for (let f = 0; f < nF; f++) for (let s = 0; s < nS; s++) x[s * nF + f] = o.X[f * nS + s];
    const gram = gramMatrix(dict, nA, nF);
    // float64 correlations so the comparison is not limited by float32 round-off
    const dtx = new Float64Array(nS * nA);
    for (let s = 0; s < nS; s++)
      for (let a = 0; a < nA; a++) {
        let v = 0;
        for (let f = 0; f < nF; f++) v += dict[a * nF + f] * x[s * nF + f];
        dtx[s * nA + a] = v;
      }
    let checked = 0;
    for (const key of ['k=1', 'k=3', 'k=5', 'k=10']) {
      const k = Number(key.slice(2));
      const ref = o.results[key];
      const codes = ompGram(gram, nA, dtx, { nNonzero: k });
      for (let s = 0; s < nS; s++) {
        const xs = x.subarray(s * nF, (s + 1) * nF);
        const ours = Array.from(codes.indices.subarray(s * k, s * k + codes.nnz[s]));
        const oc = Array.from(codes.coefs.subarray(s * k, s * k + codes.nnz[s]));
        const refIdx: number[] = ref.support[s];
        const refCoef: number[] = ref.coef[s];
        const ourRes = residualNorm(dict, nF, xs, ours, oc);
        const xn = residualNorm(dict, nF, xs, [], []);
        // residual norms agree (absolute, relative to ‖x‖, since exact fits give ~0)
        expect(Math.abs(ourRes - ref.residual_norm[s])).toBeLessThan(1e-5 * xn + 1e-6);
        if (s < 100 || refIdx.length === ours.length) {
          // exact-sparse signals (s < 100) may stop early: compare the nonzero part of the code
          const refMap = new Map<number, number>();
          refIdx.forEach((a, i) => { if (Math.abs(refCoef[i]) > 1e-9 * xn) refMap.set(a, refCoef[i]); });
          const ourMap = new Map<number, number>();
          ours.forEach((a, i) => { if (Math.abs(oc[i]) > 1e-5 * xn) ourMap.set(a, oc[i]); });
          expect([...ourMap.keys()].sort((p, q) => p - q)).toEqual([...refMap.keys()].sort((p, q) => p - q));
          for (const [a, c] of refMap) expect(Math.abs(ourMap.get(a)! - c)).toBeLessThan(1e-5 * Math.max(1, Math.abs(c)));
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(700);
  });
});

describe('ompGram on synthetic k-sparse signals (64 × 225 Gaussian unit-norm dictionary)', () => {
  const nF = 64;
  const nA = 225;
  const rng = new Rng(7);
  const dict = gaussianDict(rng, nA, nF);
  const gram = gramMatrix(dict, nA, nF);

  test('recovers the exact support in ≥ 99 % of trials; coefficients = least squares on it', () => {
    let trials = 0;
    let exact = 0;
    for (let k = 1; k <= 5; k++) {
      const n = 200;
      const x = new Float64Array(n * nF);
      const supports: number[][] = [];
      for (let s = 0; s < n; s++) {
        const sup = Array.from(rng.sample(nA, k));
        supports.push(sup);
        for (const a of sup) {
          const c = (rng.next() < 0.5 ? -1 : 1) * (0.5 + rng.next()); // |c| in [0.5, 1.5)
          for (let f = 0; f < nF; f++) x[s * nF + f] += c * dict[a * nF + f];
        }
      }
      const codes = omp(dict, nA, nF, x, { nNonzero: k }, gram);
      for (let s = 0; s < n; s++) {
        trials++;
        const got = Array.from(codes.indices.subarray(s * k, s * k + codes.nnz[s]));
        const same = got.length === k && [...got].sort((p, q) => p - q).join() === [...supports[s]].sort((p, q) => p - q).join();
        if (!same) continue;
        exact++;
        const ls = leastSquares(dict, nF, got, x.subarray(s * nF, (s + 1) * nF));
        for (let i = 0; i < k; i++) expect(codes.coefs[s * k + i]).toBeCloseTo(ls[i], 4);
      }
    }
    expect(exact / trials).toBeGreaterThanOrEqual(0.99);
  });

  test('coefficients equal least squares on the chosen support for dense noisy signals too', () => {
    const n = 50;
    const k = 8;
    const x = new Float64Array(n * nF).map(() => rng.normal());
    const codes = omp(dict, nA, nF, x, { nNonzero: k }, gram);
    for (let s = 0; s < n; s++) {
      expect(codes.nnz[s]).toBe(k);
      const sup = Array.from(codes.indices.subarray(s * k, (s + 1) * k));
      expect(new Set(sup).size).toBe(k);
      const ls = leastSquares(dict, nF, sup, x.subarray(s * nF, (s + 1) * nF));
      for (let i = 0; i < k; i++) expect(codes.coefs[s * k + i]).toBeCloseTo(ls[i], 4);
    }
  });

  test('with noise, the residual decreases monotonically with k', () => {
    const n = 100;
    const x = new Float64Array(n * nF);
    for (let s = 0; s < n; s++) {
      for (const a of rng.sample(nA, 4)) {
        const c = rng.normal();
        for (let f = 0; f < nF; f++) x[s * nF + f] += c * dict[a * nF + f];
      }
      for (let f = 0; f < nF; f++) x[s * nF + f] += 0.05 * rng.normal();
    }
    const dtx = correlations(dict, nA, nF, x, n);
    const prev = new Float64Array(n).fill(Infinity);
    for (let k = 1; k <= 12; k++) {
      const codes = ompGram(gram, nA, dtx, { nNonzero: k });
      const rec = reconstructSignals(dict, nF, codes);
      for (let s = 0; s < n; s++) {
        let r = 0;
        for (let f = 0; f < nF; f++) r += (x[s * nF + f] - rec[s * nF + f]) ** 2;
        expect(r).toBeLessThan(prev[s] + 1e-9);
        expect(codes.nnz[s]).toBe(k); // noise keeps every signal from being fitted exactly
        prev[s] = r;
      }
    }
  });

  test('tol stops each signal once its squared residual is reached', () => {
    const n = 60;
    const x = new Float64Array(n * nF).map(() => rng.normal());
    const xNorm2 = new Float64Array(n);
    for (let s = 0; s < n; s++) for (let f = 0; f < nF; f++) xNorm2[s] += x[s * nF + f] ** 2;
    const tol = 30;
    const codes = omp(dict, nA, nF, x, { nNonzero: 64, tol, xNorm2 }, gram);
    const rec = reconstructSignals(dict, nF, codes);
    const loose = omp(dict, nA, nF, x, { nNonzero: 64 }, gram);
    for (let s = 0; s < n; s++) {
      let r = 0;
      for (let f = 0; f < nF; f++) r += (x[s * nF + f] - rec[s * nF + f]) ** 2;
      expect(r).toBeLessThanOrEqual(tol * (1 + 1e-4));
      // one atom fewer would not have reached tol: the tracked residual is exact
      const m = codes.nnz[s];
      if (m > 0) {
        const fewer = omp(dict, nA, nF, x.subarray(s * nF, (s + 1) * nF), { nNonzero: m === 1 ? 1 : m - 1 }, gram);
        const rf = reconstructSignals(dict, nF, fewer);
        let r2 = 0;
        for (let f = 0; f < nF; f++) r2 += (x[s * nF + f] - rf[f]) ** 2;
        if (m > 1) expect(r2).toBeGreaterThan(tol);
        // the same greedy path as without tol
        expect(Array.from(codes.indices.subarray(s * 64, s * 64 + m))).toEqual(Array.from(loose.indices.subarray(s * 64, s * 64 + m)));
      }
    }
  });

  test('rejects bad arguments with messages naming them', () => {
    expect(() => ompGram(gram, nA, new Float32Array(nA), { nNonzero: 0 })).toThrow(ArgumentError);
    expect(() => ompGram(gram, nA, new Float32Array(nA), { nNonzero: 0 })).toThrow(/nNonzero/);
    expect(() => ompGram(gram, nA, new Float32Array(nA + 1), { nNonzero: 2 })).toThrow(/multiple of nAtoms/);
    expect(() => ompGram(gram, nA, new Float32Array(nA), { nNonzero: 2, tol: 1 })).toThrow(/xNorm2/);
  });
});
