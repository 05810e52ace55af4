import { describe, expect, test } from 'vitest';
import { ArgumentError, ShapeError } from '../../../src/errors.js';
import { combinedScores, disagreementScores, latentScores, negLogTailPValue } from '../../../src/defense/latent/scoring.js';
import { tailPValue } from '../../../src/defense/types.js';

// two rows, three classes: ℓ[s, k] = log p(φ_s | k)
const LL = [-1, -2, -3, -5, -1, -1];
// replica log-probabilities of the same two rows
const LP = [Math.log(0.7), Math.log(0.2), Math.log(0.1), Math.log(0.05), Math.log(0.9), Math.log(0.05)];

const comps = (withDis: boolean) => ({
  likelihood: [Float32Array.from([0, 0.5, 2, 4]), Float32Array.from([0]), Float32Array.from([0])],
  ratio: [Float32Array.from([-2, -1, -0.9, -0.5]), Float32Array.from([0]), Float32Array.from([0])],
  ...(withDis ? { disagreement: [Float32Array.from([0.1, 0.2, 0.3, 3]), Float32Array.from([0]), Float32Array.from([0])] } : {}),
});

describe("'disagreement' scoring", () => {
  test('is −log p_replica(class | x) under the given class', () => {
    const got = disagreementScores(LP, 3, [0, 0]);
    expect(got[0]).toBeCloseTo(-Math.log(0.7), 12);
    expect(got[1]).toBeCloseTo(-Math.log(0.05), 12);
    // the class the replica agrees with scores low, another class high
    expect(disagreementScores(LP, 3, [1, 1])[1]).toBeLessThan(disagreementScores(LP, 3, [0, 0])[1]);
    expect(Array.from(latentScores(LL, 3, [0, 0], 'disagreement', undefined, LP))).toEqual(Array.from(got));
  });

  test('bad inputs are rejected naming the problem', () => {
    expect(() => disagreementScores(LP.slice(0, 5), 3, [0, 0])).toThrow(ShapeError);
    expect(() => disagreementScores(LP.slice(0, 5), 3, [0, 0])).toThrow(/logProbs has 5 values/);
    expect(() => disagreementScores(LP, 3, [0, 3])).toThrow(/class 3 of row 1 is outside \[0, 3\)/);
    expect(() => latentScores(LL, 3, [0, 1], 'disagreement')).toThrow(/'disagreement' needs the replica's log-probabilities/);
    expect(() => latentScores(LL, 3, [0, 1], 'combined-disagreement', comps(true))).toThrow(ArgumentError);
    expect(() => latentScores(LL, 3, [0, 1], 'combined-disagreement', comps(false), LP)).toThrow(/needs the disagreement training score component/);
    expect(() => combinedScores(LL, 3, [0, 1], comps(true))).toThrow(/needs the replica log-probabilities/);
    expect(() => combinedScores(LL, 3, [0, 1], { ...comps(true), disagreement: [] }, LP)).toThrow(/components need 3 classes/);
  });
});

describe("'combined-disagreement' scoring", () => {
  test('is the largest −log p-value of likelihood, ratio and disagreement (hand computation)', () => {
    // row 0 under class 0: likelihood 1 → p = 3/5; ratio −0.6867 → p = 2/5;
    // disagreement −log 0.7 = 0.3567 → 1 of 4 training scores ≥ it → p = 2/5 → max = −log 0.4 (as 'combined')
    // row 1 under class 0: disagreement −log 0.05 = 2.996 → 1 of 4 ≥ it → p = 2/5, but the likelihood / ratio tails dominate
    const c3 = combinedScores(LL, 3, [0, 0], comps(true), LP);
    const c2 = combinedScores(LL, 3, [0, 0], comps(false));
    expect(c3[0]).toBeCloseTo(-Math.log(0.4), 12);
    expect(c3[1]).toBeCloseTo(c2[1], 12);
    // a row that only the disagreement finds atypical: ℓ typical for class 0, replica says class 1
    const ll = [-1, -3, -3];
    const lp = [Math.log(0.001), Math.log(0.998), Math.log(0.001)];
    const only = combinedScores(ll, 3, [0], comps(true), lp);
    const without = combinedScores(ll, 3, [0], comps(false));
    // −log 0.001 = 6.91 lies past every training score: tail with β = 3 − 0.3 = 2.7
    expect(only[0]).toBeCloseTo((-Math.log(0.001) - 3) / 2.7 + Math.log(5), 5);
    expect(only[0]).toBeGreaterThan(without[0] + 1);
    expect(Array.from(latentScores(ll, 3, [0], 'combined-disagreement', comps(true), lp))).toEqual(Array.from(only));
    // 'combined' ignores a disagreement component it is handed
    expect(Array.from(latentScores(ll, 3, [0], 'combined', comps(true), lp))).toEqual(Array.from(without));
  });
});

describe('negLogTailPValue', () => {
  const sorted = Float32Array.from({ length: 200 }, (_, i) => i / 10);
  test('equals −log tailPValue inside and just past the clean scores', () => {
    for (const s of [-1, 0, 3.3, 19.9, 20.5, 25, 100]) expect(negLogTailPValue(sorted, s)).toBeCloseTo(-Math.log(tailPValue(sorted, s)), 9);
  });
  test('stays finite and ordered far past every clean score (where tailPValue underflows to 0)', () => {
    const far = 1e4;
    expect(tailPValue(sorted, far)).toBe(0);
    expect(Number.isFinite(negLogTailPValue(sorted, far))).toBe(true);
    expect(negLogTailPValue(sorted, 2 * far)).toBeGreaterThan(negLogTailPValue(sorted, far));
    expect(negLogTailPValue(new Float32Array(0), 3)).toBeCloseTo(0, 12);
  });
});
