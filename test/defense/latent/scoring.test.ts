import { describe, expect, test } from 'vitest';
import { ArgumentError, ShapeError } from '../../../src/errors.js';
import { baseScores, combinedScores, latentScores } from '../../../src/defense/latent/scoring.js';
import { fitHdda, hddaLogLikAll, hddaLogLikBatch } from '../../../src/defense/latent/hdda.js';
import { Rng } from '../../../src/util/rng.js';

// two rows, three classes: ℓ[s, k] = log p(φ_s | k)
const LL = [-1, -2, -3, -5, -1, -1];

describe('latent scorings', () => {
  test("'likelihood' is −ℓ under the given class", () => {
    expect(Array.from(baseScores(LL, 3, [0, 2], 'likelihood'))).toEqual([1, 1]);
    expect(Array.from(baseScores(LL, 3, [2, 0], 'likelihood'))).toEqual([3, 5]);
  });

  test("'ratio' matches the hand computation −(ℓ_ŷ − log Σ_{k≠ŷ} e^{ℓ_k})", () => {
    const got = baseScores(LL, 3, [0, 1], 'ratio');
    // row 0 under class 0: −(−1 − log(e^−2 + e^−3)) = −1 + 2 − log(1 + e^−1) = 1 − 1.3132617 … → −0.6867383
    expect(got[0]).toBeCloseTo(-(-1 - Math.log(Math.exp(-2) + Math.exp(-3))), 12);
    expect(got[0]).toBeCloseTo(-0.6867383, 6);
    // row 1 under class 1: −(−1 − log(e^−5 + e^−1)) = log(1 + e^−4) = 0.0181499
    expect(got[1]).toBeCloseTo(0.0181499, 6);
    // a feature between two classes scores higher than one clearly in its class
    expect(got[1]).toBeGreaterThan(got[0]);
  });

  test("'ratio' is stable for very small likelihoods (shift invariance)", () => {
    const shifted = LL.map((v) => v - 5000);
    const a = baseScores(LL, 3, [0, 1], 'ratio');
    const b = baseScores(shifted, 3, [0, 1], 'ratio');
    for (let i = 0; i < 2; i++) expect(b[i]).toBeCloseTo(a[i], 9);
    expect(Number.isFinite(b[0])).toBe(true);
  });

  test("'combined' is the larger −log p-value of likelihood and ratio among the class's training scores", () => {
    // training scores of class 0: likelihood [0, 0.5, 2, 4] and ratio [−2, −1, −0.9, −0.5]
    const components = {
      likelihood: [Float32Array.from([0, 0.5, 2, 4]), Float32Array.from([0]), Float32Array.from([0])],
      ratio: [Float32Array.from([-2, -1, -0.9, -0.5]), Float32Array.from([0]), Float32Array.from([0])],
    };
    // row 0 under class 0: likelihood 1 → 2 of 4 training scores ≥ 1 → p = (2 + 1)/(4 + 1) = 0.6;
    // ratio −0.6867 → 1 of 4 ≥ it → p = 2/5 = 0.4; combined = max(−log 0.6, −log 0.4) = −log 0.4
    const got = combinedScores(LL, 3, [0, 0], components);
    expect(got[0]).toBeCloseTo(-Math.log(0.4), 12);
    // row 1 under class 0: both scores lie past every training score, so the exponential tail applies
    // (tailPValue: top 1 % → m = 1 score, β = its excess over the next one, p = e^{−(s − max)/β}/(n + 1)):
    // likelihood 5: β = 4 − 2 = 2 → −log p = 0.5 + log 5;
    // ratio −(−5 − log(e^−1 + e^−1)) = 4 + log 2: β = −0.5 − (−0.9) = 0.4 → −log p = (4 + log 2 + 0.5)/0.4 + log 5
    const ratioExcess = (4 + Math.log(2) + 0.5) / 0.4 + Math.log(5);
    expect(got[1]).toBeCloseTo(Math.max(0.5 + Math.log(5), ratioExcess), 5);
    expect(Array.from(latentScores(LL, 3, [0, 0], 'combined', components))).toEqual(Array.from(got));
  });

  test('bad inputs are rejected naming the problem', () => {
    expect(() => baseScores(LL, 3, [0], 'ratio')).toThrow(ShapeError);
    expect(() => baseScores(LL, 3, [0, 3], 'ratio')).toThrow(/class 3 of row 1 is outside \[0, 3\)/);
    expect(() => baseScores([1, 2], 1, [0, 0], 'ratio')).toThrow(ArgumentError);
    expect(() => latentScores(LL, 3, [0, 1], 'combined')).toThrow(/needs the training score components/);
    expect(() => latentScores(LL, 3, [0, 1], 'max' as never)).toThrow(/'scoring' must be one of likelihood, ratio, combined/);
    expect(() => combinedScores(LL, 3, [0, 1], { likelihood: [], ratio: [] })).toThrow(/components need 3 classes/);
  });

  test('hddaLogLikAll agrees with hddaLogLikBatch for every class', () => {
    const rng = new Rng(3);
    const p = 4;
    const n = 60;
    const x = Float64Array.from({ length: n * p }, () => rng.normal());
    const y = Int32Array.from({ length: n }, (_, i) => i % 3);
    for (let i = 0; i < n; i++) x[i * p] += 3 * y[i];
    const model = fitHdda(x, p, y, 3, { dims: 2 });
    const all = hddaLogLikAll(model, x);
    for (let k = 0; k < 3; k++) {
      const one = hddaLogLikBatch(model, x, new Int32Array(n).fill(k));
      for (let i = 0; i < n; i++) expect(all[i * 3 + k]).toBe(one[i]);
    }
    expect(() => hddaLogLikAll(model, x.subarray(0, 7))).toThrow(ShapeError);
  });
});
