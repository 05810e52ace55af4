import { describe, test, expect } from 'vitest';
import {
  roc,
  auc,
  aucFromCurve,
  fprAtTpr,
  fprAtTprs,
  operatingPointAtTpr,
  fprAtTprFromCurve,
  tprAtFprFromCurve,
  dominates,
  spSweep,
  spGrid,
  spBreakpoints,
  flagRate,
  classThresholdRates,
  DETECTION_LEVELS,
} from '../../src/eval/roc.js';
import { metricsFromScores, metricsFromCurve } from '../../src/eval/metrics.js';
import { thresholdFromScores } from '../../src/defense/types.js';
import { ArgumentError, ShapeError } from '../../src/errors.js';
import { Rng } from '../../src/util/rng.js';

/** Independent oracle: Mann–Whitney U / (n·m) with ties counted ½, by brute force over all pairs. */
function mannWhitney(clean: number[], adv: number[]): number {
  let s = 0;
  for (const a of adv) for (const c of clean) s += a > c ? 1 : a === c ? 0.5 : 0;
  return s / (clean.length * adv.length);
}

describe('roc / auc', () => {
  test('hand-computed 6-point example', () => {
    const clean = [0.1, 0.3, 0.5];
    const adv = [0.4, 0.6, 0.2];
    const pts = roc(clean, adv);
    expect(pts.map((p) => [p.fpr, p.tpr, p.threshold])).toEqual([
      [0, 0, Infinity],
      [0, 1 / 3, 0.6],
      [1 / 3, 1 / 3, 0.5],
      [1 / 3, 2 / 3, 0.4],
      [2 / 3, 2 / 3, 0.3],
      [2 / 3, 1, 0.2],
      [1, 1, 0.1],
    ]);
    // areas: 1/3·1/3 + 1/3·2/3 + 1/3·1 = 6/9; 6 of the 9 (adv, clean) pairs are ordered correctly
    expect(auc(clean, adv)).toBeCloseTo(6 / 9, 12);
  });

  test('ties between clean and adversarial scores count ½ and form one diagonal step', () => {
    const clean = [0.5, 0.5, 0.2];
    const adv = [0.5, 0.7];
    const pts = roc(clean, adv);
    expect(pts.map((p) => [p.fpr, p.tpr, p.threshold])).toEqual([
      [0, 0, Infinity],
      [0, 0.5, 0.7],
      [2 / 3, 1, 0.5],
      [1, 1, 0.2],
    ]);
    expect(auc(clean, adv)).toBeCloseTo(5 / 6, 12);
    expect(auc([1, 1, 1], [1, 1])).toBeCloseTo(0.5, 12);
  });

  test('equals the brute-force Mann–Whitney statistic on random data with many ties', () => {
    const rng = new Rng(3);
    for (let trial = 0; trial < 5; trial++) {
      const clean = Array.from({ length: 57 + trial }, () => Math.round(rng.normal() * 4) / 4);
      const adv = Array.from({ length: 41 + 3 * trial }, () => Math.round((rng.normal() + 0.7) * 4) / 4);
      expect(auc(clean, adv)).toBeCloseTo(mannWhitney(clean, adv), 12);
      expect(aucFromCurve(roc(clean, adv))).toBeCloseTo(mannWhitney(clean, adv), 12);
      expect(auc(Float32Array.from(clean), Float32Array.from(adv))).toBeCloseTo(mannWhitney(clean, adv), 12);
    }
  });

  test('perfect, inverted and chance separation', () => {
    expect(auc([1, 2, 3], [4, 5])).toBe(1);
    expect(auc([4, 5], [1, 2, 3])).toBe(0);
    const pts = roc([1, 2, 3], [4, 5]);
    expect(pts[2]).toEqual({ fpr: 0, tpr: 1, threshold: 4 });
  });

  test('curve is monotone and ends at the flag-everything corner; -Infinity scores are allowed', () => {
    const pts = roc([-Infinity, 0, 2], [1, -Infinity]);
    for (let k = 1; k < pts.length; k++) {
      expect(pts[k].fpr).toBeGreaterThanOrEqual(pts[k - 1].fpr);
      expect(pts[k].tpr).toBeGreaterThanOrEqual(pts[k - 1].tpr);
      expect(pts[k].threshold).toBeLessThan(pts[k - 1].threshold);
    }
    expect(pts.at(-1)).toEqual({ fpr: 1, tpr: 1, threshold: -Infinity });
  });

  test('bad input: empty arrays, NaN, +Infinity, non-arrays', () => {
    expect(() => roc([], [1])).toThrow(ShapeError);
    expect(() => roc([], [1])).toThrow(/'scoresClean' to be a non-empty array of scores, got length 0/);
    expect(() => auc([1], [])).toThrow(/'scoresAdv' to be a non-empty array/);
    expect(() => auc([1, 2, NaN], [1])).toThrow(ArgumentError);
    expect(() => auc([1, 2, NaN], [1])).toThrow(/'scoresClean' to hold numbers other than NaN and \+Infinity, got NaN at index 2/);
    expect(() => auc([1], [Infinity])).toThrow(/got Infinity at index 0/);
    expect(() => auc(null as unknown as number[], [1])).toThrow(/expected 'scoresClean' to be an array of numbers, got null/);
  });
});

describe('fprAtTpr', () => {
  // clean 1..10; adversarial 5.5 … 13.5 plus one undetectable sample at 0.5
  const clean = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const adv = [5.5, 6.5, 7.5, 8.5, 9.5, 10.5, 11.5, 12.5, 13.5, 0.5];

  test('hand examples', () => {
    // 90 %: k = 9 → t = 5.5 → clean ≥ 5.5 = {6..10} → 5/10
    expect(fprAtTpr(clean, adv, 0.9)).toBe(0.5);
    // 50 %: k = 5 → t = 9.5 → {10}
    expect(fprAtTpr(clean, adv, 0.5)).toBe(0.1);
    // 40 %: k = 4 → t = 10.5 → nothing
    expect(fprAtTpr(clean, adv, 0.4)).toBe(0);
    // 100 %: t = 0.5 → every clean sample
    expect(fprAtTpr(clean, adv, 1)).toBe(1);
    expect(operatingPointAtTpr(clean, adv, 0)).toEqual({ fpr: 0, tpr: 0, threshold: Infinity });
    // 95 % of 10 samples needs all 10 (k = ⌈9.5⌉)
    expect(fprAtTprs(clean, adv)).toEqual([0.5, 1, 1, 1]);
    expect(DETECTION_LEVELS).toEqual([0.9, 0.95, 0.98, 0.99]);
  });

  test('float error in tpr·n does not ask for an extra sample', () => {
    // 0.9 · 10 = 9.000000000000002 in floating point; still k = 9
    expect(operatingPointAtTpr(clean, adv, 0.9).threshold).toBe(5.5);
    // 0.95 · 20 = 19 exactly k = 19
    const a20 = Array.from({ length: 20 }, (_, i) => i + 0.5);
    expect(operatingPointAtTpr([0], a20, 0.95).threshold).toBe(1.5);
  });

  test('ties at the threshold: flagged together, achieved detection reported', () => {
    const op = operatingPointAtTpr([1, 2, 3], [2, 2, 2, 5], 0.5);
    expect(op).toEqual({ fpr: 2 / 3, tpr: 1, threshold: 2 });
  });

  test('agrees with the smallest fpr over roc points reaching the target', () => {
    const rng = new Rng(11);
    const c = Array.from({ length: 200 }, () => Math.round(rng.normal() * 8) / 8);
    const a = Array.from({ length: 150 }, () => Math.round((rng.normal() + 1.5) * 8) / 8);
    for (const t of [0.1, 0.5, 0.9, 0.95, 0.98, 0.99, 1]) {
      const best = Math.min(...roc(c, a).filter((p) => p.tpr >= t).map((p) => p.fpr));
      expect(fprAtTpr(c, a, t)).toBe(best);
      expect(fprAtTprFromCurve(roc(c, a), t)).toBe(best);
    }
  });

  test('bad target rates', () => {
    expect(() => fprAtTpr(clean, adv, 1.5)).toThrow(/'tpr' to be a fraction in \[0, 1\], got 1.5/);
    expect(() => fprAtTpr(clean, adv, NaN)).toThrow(/got NaN/);
    expect(() => fprAtTpr([], adv, 0.9)).toThrow(/'scoresClean'/);
  });
});

describe('curves without thresholds', () => {
  test('aucFromCurve completes with the corners; fpr/tpr lookups read a step function', () => {
    const pts = [
      { fpr: 0.1, tpr: 0.5 },
      { fpr: 0.3, tpr: 0.9 },
    ];
    // 0.1·0.25 + 0.2·0.7 + 0.7·0.95
    expect(aucFromCurve(pts)).toBeCloseTo(0.025 + 0.14 + 0.665, 12);
    expect(fprAtTprFromCurve(pts, 0.9)).toBe(0.3);
    expect(fprAtTprFromCurve(pts, 0.95)).toBe(1);
    expect(fprAtTprFromCurve(pts, 0.4)).toBe(0.1);
    expect(tprAtFprFromCurve(pts, 0.2)).toBe(0.5);
    expect(tprAtFprFromCurve(pts, 0.05)).toBe(0);
    expect(() => aucFromCurve([{ fpr: 2, tpr: 0 }])).toThrow(/points\[0\].fpr' to be a fraction in \[0, 1\], got 2/);
  });

  test('dominates', () => {
    const a = [{ fpr: 0.1, tpr: 0.8 }];
    const b = [{ fpr: 0.1, tpr: 0.7 }, { fpr: 0.5, tpr: 0.9 }];
    expect(dominates(a, b)).toBe(false); // at fpr 0.5, a reaches 0.8 < 0.9
    expect(dominates([...a, { fpr: 0.5, tpr: 0.95 }], b)).toBe(true);
    expect(dominates(a, b, 0.1)).toBe(true);
    expect(dominates(b, a)).toBe(false);
  });
});

describe('spSweep and per-class thresholds', () => {
  test('sorts by SP, validates rates and SPs', () => {
    const pts = spSweep((sp) => ({ fp: sp / 100, tp: Math.sqrt(sp / 100) }), [25, 0, 100]);
    expect(pts).toEqual([
      { sp: 0, fpr: 0, tpr: 0 },
      { sp: 25, fpr: 0.25, tpr: 0.5 },
      { sp: 100, fpr: 1, tpr: 1 },
    ]);
    expect(() => spSweep(() => ({ fp: 0, tp: 0 }), [101])).toThrow(/sps\[0\] in \[0, 100\] \(percent\), got 101/);
    expect(() => spSweep(() => ({ fp: 0, tp: 2 }), [1])).toThrow(/ratesAt\(1\).tp' to be a fraction/);
    expect(() => spSweep(() => ({ fp: 0, tp: 0 }), [])).toThrow(/non-empty/);
  });

  test('spGrid is sorted, distinct, spans [0, 100] and contains the paper\'s SPs', () => {
    const g = spGrid(50);
    expect(g[0]).toBe(0);
    expect(g.at(-1)).toBe(100);
    for (const sp of [0.1, 1, 5]) expect(g).toContain(sp);
    for (let k = 1; k < g.length; k++) expect(g[k]).toBeGreaterThan(g[k - 1]);
  });

  test('classThresholdRates uses each sample\'s class threshold with the strict > rule', () => {
    // two classes with their own sorted clean training scores
    const train = [Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]), Float32Array.from([10, 11, 12, 13, 14, 15, 16, 17, 18, 19])];
    const thresholdsAt = (sp: number) => Float32Array.from(train.map((s) => thresholdFromScores(s, sp)));
    const clean = { scores: [9.5, 8, 18.5, 12], classes: [0, 0, 1, 1] };
    const adv = { scores: [12, 9, 30, 5], classes: [0, 0, 1, 1] };
    // SP 10: thresholds 8 and 18 → clean flagged {9.5, 18.5}; adv flagged {12, 9, 30}
    expect(thresholdsAt(10)).toEqual(Float32Array.from([8, 18]));
    const rates = classThresholdRates(thresholdsAt, clean, adv);
    expect(rates(10)).toEqual({ fp: 0.5, tp: 0.75 });
    expect(rates(0)).toEqual({ fp: 0.25, tp: 0.5 }); // thresholds = max (9, 19): 9.5 and 12, 30 exceed
    expect(rates(100)).toEqual({ fp: 1, tp: 1 });
    expect(flagRate(clean, [100, 100])).toBe(0);
    expect(() => flagRate({ scores: [1], classes: [2] }, [0, 0])).toThrow(/'data.classes\[0\]' to be an integer class in \[0, 2\), got 2/);
    expect(() => flagRate({ scores: [1, 2], classes: [0] }, [0])).toThrow(ShapeError);
  });
});

describe('metrics for the per-attack table', () => {
  test('metricsFromScores and metricsFromCurve agree with the underlying functions', () => {
    const clean = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    const adv = [5.5, 6.5, 7.5, 8.5, 9.5, 10.5, 11.5, 12.5, 13.5, 0.5];
    expect(metricsFromScores('PCL latent', clean, adv)).toEqual({ detector: 'PCL latent', auroc: auc(clean, adv), fprAt: [0.5, 1, 1, 1] });
    const m = metricsFromCurve('OR', roc(clean, adv));
    expect(m.auroc).toBeCloseTo(auc(clean, adv), 12);
    expect(m.fprAt).toEqual([0.5, 1, 1, 1]);
  });
});

describe('spBreakpoints', () => {
  test('lists every SP where a class threshold changes', () => {
    expect(spBreakpoints([4, 2])).toEqual([0, 25, 50, 75, 100]);
    expect(spBreakpoints([3])).toEqual([0, 100 / 3, 200 / 3, 100]);
    expect(() => spBreakpoints([])).toThrow(/non-empty array of class sizes/);
    expect(() => spBreakpoints([2.5])).toThrow(/'classSizes\[0\]' to be a non-negative integer, got 2.5/);
  });

  test('a sweep over the breakpoints is the exact SP-sweep ROC; a coarse grid can miss operating points', () => {
    // oracle: sample i (class c, score s) is flagged at SP iff ⌊SP·n_c/100⌋ ≥ #{train_c ≥ s}, i.e. for
    // SP ≥ 100·#{train_c ≥ s}/n_c. Thresholding that "flag-from SP" is the whole rule family.
    const rng = new Rng(21);
    const train = [97, 131, 64].map((n) => Float32Array.from({ length: n }, () => rng.normal()).sort());
    const mk = (n: number, mu: number) => {
      const classes = Array.from({ length: n }, () => rng.int(3));
      return { scores: classes.map(() => Math.fround(mu + rng.normal())), classes };
    };
    const clean = mk(300, 0.2);
    const adv = mk(250, 1.6);
    const flagFrom = (d: { scores: number[]; classes: number[] }) =>
      d.scores.map((s, i) => {
        const t = train[d.classes[i]];
        return (100 * t.filter((v) => v >= s).length) / t.length;
      });
    const thresholdsAt = (sp: number) => Float32Array.from(train.map((t) => thresholdFromScores(t, sp)));
    const rates = classThresholdRates(thresholdsAt, clean, adv);
    const exact = spSweep(rates, spBreakpoints(train.map((t) => t.length)));
    const coarse = spSweep(rates, spGrid(20));
    const negC = flagFrom(clean).map((v) => -v);
    const negA = flagFrom(adv).map((v) => -v);
    let coarseWorse = 0;
    for (const level of [0.5, 0.8, 0.9, 0.95, 0.98, 0.99]) {
      expect(fprAtTprFromCurve(exact, level)).toBeCloseTo(fprAtTpr(negC, negA, level), 12);
      expect(fprAtTprFromCurve(coarse, level)).toBeGreaterThanOrEqual(fprAtTprFromCurve(exact, level));
      if (fprAtTprFromCurve(coarse, level) > fprAtTprFromCurve(exact, level)) coarseWorse++;
    }
    expect(coarseWorse).toBeGreaterThan(0);
    expect(aucFromCurve(exact)).toBeCloseTo(auc(negC, negA), 12);
  });
});
