import { describe, expect, test } from 'vitest';
import { lassoCdGram } from '../../../src/defense/input/dictionary-learning.js';
import { lassoLarsGram, larsWorkspace } from '../../../src/defense/input/lars.js';
import { gramMatrix, correlations } from '../../../src/defense/input/omp.js';
import { Rng } from '../../../src/util/rng.js';

function unitDict(rng: Rng, K: number, d: number): Float64Array {
  const D = new Float64Array(K * d);
  for (let k = 0; k < K; k++) {
    let s = 0;
    for (let f = 0; f < d; f++) s += (D[k * d + f] = rng.normal()) ** 2;
    for (let f = 0; f < d; f++) D[k * d + f] /= Math.sqrt(s);
  }
  return D;
}

describe('lassoLarsGram', () => {
  const rng = new Rng(11);
  const K = 60;
  const d = 16;
  const D = unitDict(rng, K, d);
  const G = gramMatrix(D, K, d);
  const ws = larsWorkspace(K, d);

  test.each([0.02, 0.1, 0.5])('satisfies the Lasso optimality (KKT) conditions at λ = %s', (lambda) => {
    const n = 100;
    const x = new Float64Array(n * d).map(() => rng.normal());
    const c = correlations(D, K, d, x, n);
    const v = new Float64Array(K);
    let sawNonzero = 0;
    for (let s = 0; s < n; s++) {
      const cs = Float64Array.from(c.subarray(s * K, (s + 1) * K));
      const nnz = lassoLarsGram(G, K, cs, lambda, v, ws);
      sawNonzero += nnz;
      // gradient of ½vᵀGv − cᵀv:  g = Gv − c;  KKT: g_j = −λ·sign(v_j) on the support, |g_j| ≤ λ elsewhere
      for (let j = 0; j < K; j++) {
        let g = -cs[j];
        for (let i = 0; i < K; i++) g += G[j * K + i] * v[i];
        if (v[j] !== 0) expect(Math.abs(g + lambda * Math.sign(v[j]))).toBeLessThan(1e-8);
        else expect(Math.abs(g)).toBeLessThanOrEqual(lambda + 1e-8);
      }
    }
    expect(sawNonzero).toBeGreaterThan(0);
  });

  test('agrees with coordinate descent on the same Lasso', () => {
    const n = 40;
    const x = new Float64Array(n * d).map(() => rng.normal());
    const c = correlations(D, K, d, x, n);
    const v1 = new Float64Array(K);
    const v2 = new Float64Array(K);
    for (let s = 0; s < n; s++) {
      const cs = c.subarray(s * K, (s + 1) * K);
      lassoLarsGram(G, K, cs, 0.2, v1, ws);
      lassoCdGram(G, K, cs, 0.2, v2, 10_000, 1e-12);
      for (let j = 0; j < K; j++) expect(v1[j]).toBeCloseTo(v2[j], 5);
    }
  });

  test('returns the zero code when λ ≥ ‖Dx‖∞', () => {
    const c = new Float64Array(K).map((_, j) => (j % 2 ? 0.3 : -0.4));
    const v = new Float64Array(K).fill(7);
    expect(lassoLarsGram(G, K, c, 0.4, v, ws)).toBe(0);
    expect(v.every((q) => q === 0)).toBe(true);
  });
});
