import { describe, test, expect } from 'vitest';
import { likelihoodRatioThreshold, expectedCost, riskOperatingPoint, type RiskCosts } from '../../src/eval/risk.js';
import { roc } from '../../src/eval/roc.js';
import { ArgumentError } from '../../src/errors.js';

// false alarm costs 1, a missed attack 10, correct decisions nothing
const costs: RiskCosts = { eta11: 0, eta12: 10, eta21: 1, eta22: 0 };

describe('risk view', () => {
  test('likelihood-ratio threshold λ = (η12−η22)P(W2) / ((η21−η11)P(W1))', () => {
    expect(likelihoodRatioThreshold(costs, 0.1)).toBeCloseTo((10 * 0.1) / (1 * 0.9), 12);
    expect(likelihoodRatioThreshold({ eta11: 1, eta12: 5, eta21: 3, eta22: 2 }, 0.5)).toBeCloseTo(3 / 2, 12);
    expect(likelihoodRatioThreshold(costs, 1)).toBe(Infinity);
    expect(likelihoodRatioThreshold(costs, 0)).toBe(0);
  });

  test('hand example: the operating point with the least expected cost', () => {
    const pts = [
      { fpr: 0, tpr: 0, sp: 0 },
      { fpr: 0.1, tpr: 0.6, sp: 1 },
      { fpr: 0.3, tpr: 0.9, sp: 5 },
      { fpr: 1, tpr: 1, sp: 100 },
    ];
    // P(W2) = 0.1: costs 0.1·10 = 1.0; 0.9·0.1 + 0.1·0.4·10 = 0.49; 0.9·0.3 + 0.1·0.1·10 = 0.37; 0.9
    expect(pts.map((p) => expectedCost(p, costs, 0.1))).toEqual([1, 0.49, 0.37, 0.9].map((v) => expect.closeTo(v, 12)));
    const r = riskOperatingPoint(pts, costs, 0.1);
    expect(r.index).toBe(2);
    expect(r.point).toEqual({ fpr: 0.3, tpr: 0.9, sp: 5 });
    expect(r.expectedCost).toBeCloseTo(0.37, 12);
    expect(r.lambda).toBeCloseTo(1 / 0.9, 12);
    expect(r.isoCostSlope).toBeCloseTo(0.9, 12);
    // a rarer attack moves the choice towards fewer false alarms: P(W2) = 0.01 → flag nothing is best
    // (0.01·10 = 0.1 vs 0.99·0.1 + 0.01·0.4·10 = 0.139)
    expect(riskOperatingPoint(pts, costs, 0.01).index).toBe(0);
    // a certain attack → flag everything
    expect(riskOperatingPoint(pts, costs, 1).index).toBe(3);
  });

  test('constant costs of correct decisions enter the expected cost but not the choice', () => {
    const shifted = { eta11: 2, eta12: 12, eta21: 3, eta22: 2 };
    const pts = roc([0.1, 0.3, 0.5, 0.2], [0.4, 0.6, 0.9]);
    expect(riskOperatingPoint(pts, shifted, 0.3).index).toBe(riskOperatingPoint(pts, costs, 0.3).index);
    expect(riskOperatingPoint(pts, shifted, 0.3).expectedCost).toBeCloseTo(riskOperatingPoint(pts, costs, 0.3).expectedCost + 2, 12);
    // the returned point keeps its threshold
    expect(riskOperatingPoint(pts, costs, 0.3).point).toHaveProperty('threshold');
  });

  test('ties go to the smaller false-positive rate', () => {
    // equal costs: P(W1)·fpr = P(W2)·(1 − tpr) trade one for one at P(W2) = 0.5, costs 1/1
    const unit = { eta11: 0, eta12: 1, eta21: 1, eta22: 0 };
    const r = riskOperatingPoint([{ fpr: 0.5, tpr: 1 }, { fpr: 0, tpr: 0.5 }], unit, 0.5);
    expect(r.index).toBe(1);
  });

  test('rejects costs that make errors cheaper than correct decisions and bad priors', () => {
    expect(() => likelihoodRatioThreshold({ ...costs, eta21: 0 }, 0.1)).toThrow(ArgumentError);
    expect(() => likelihoodRatioThreshold({ ...costs, eta21: 0 }, 0.1)).toThrow(/expected eta21 > eta11, got 0 ≤ 0/);
    expect(() => likelihoodRatioThreshold({ ...costs, eta12: -1 }, 0.1)).toThrow(/expected eta12 > eta22/);
    expect(() => likelihoodRatioThreshold(costs, 1.2)).toThrow(/'pAttack' \(prior probability of an attack, P\(W2\)\) in \[0, 1\], got 1.2/);
    expect(() => likelihoodRatioThreshold({ ...costs, eta11: NaN }, 0.1)).toThrow(/'costs.eta11' to be a finite number/);
    expect(() => riskOperatingPoint([], costs, 0.1)).toThrow(/non-empty array of ROC points/);
  });
});
