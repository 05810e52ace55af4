import { describe, test, expect } from 'vitest';
import {
  pValueMatrix,
  combinePValues,
  logCombinedPValues,
  fusedScores,
  orFlags,
  fitCalibratedFusion,
  calibratedFusionScores,
  calibratedFusionThreshold,
  calibratedFusionFlags,
  minFlagSp,
  type PValueCalibration,
  type DefenderScores,
} from '../../src/defense/fusion/index.js';
import { orRates, calibratedFusionRates, orCurve } from '../../src/eval/fusion.js';
import { selectFusionWeights } from '../../src/eval/fusion-weights.js';
import { roc, auc, aucFromCurve, fprAtTpr, fprAtTprFromCurve, dominates, spSweep, spGrid, spBreakpoints } from '../../src/eval/roc.js';
import { empiricalPValue, thresholdFromScores } from '../../src/defense/types.js';
import { ArgumentError, ShapeError } from '../../src/errors.js';
import { Rng } from '../../src/util/rng.js';

const mean = (f: ArrayLike<number>) => Array.from(f).reduce((a, b) => a + b, 0) / f.length;

describe('p-values and combination rules', () => {
  const cal: PValueCalibration[] = [
    { label: 'a', sortedScores: [Float32Array.from([0, 1, 2, 3]), Float32Array.from([10, 11, 12, 13])] },
    { label: 'b', sortedScores: [Float32Array.from([5, 6, 7, 8, 9])] }, // class-agnostic
  ];

  test('pValueMatrix uses the predicted class\'s calibration and empiricalPValue', () => {
    const data: DefenderScores = { scores: [[2.5, 2.5, 13], [5, 9.5, 7]], classes: [0, 1, 1] };
    const p = pValueMatrix(cal, data);
    // defender a: 2.5 among class 0 → 1 score ≥ → (1+1)/5; 2.5 among class 1 → 4 ≥ → 5/5; 13 among class 1 → 1 ≥ → 2/5
    expect(Array.from(p[0])).toEqual([2 / 5, 1, 2 / 5]);
    expect(Array.from(p[1])).toEqual([6 / 6, 1 / 6, 4 / 6]);
    expect(p[0][0]).toBe(empiricalPValue(cal[0].sortedScores[0] as Float32Array, 2.5));
  });

  test('Fisher and Šidák on hand values', () => {
    // one p-value: both rules return it
    expect(combinePValues([[0.05]], 'fisher')[0]).toBeCloseTo(0.05, 12);
    expect(combinePValues([[0.05]], 'sidak')[0]).toBeCloseTo(0.05, 12);
    // Fisher, m = 2: X = −2 ln(0.1·0.2); P(χ²₄ ≥ X) = e^{−X/2}(1 + X/2) = 0.02·(1 + ln 50)
    expect(combinePValues([[0.1], [0.2]], 'fisher')[0]).toBeCloseTo(0.02 * (1 + Math.log(50)), 12);
    // Šidák, m = 2: 1 − (1 − 0.1)²
    expect(combinePValues([[0.1], [0.2]], 'sidak')[0]).toBeCloseTo(0.19, 12);
    // all p = 1 → combined 1, fused score 0
    expect(Array.from(combinePValues([[1], [1], [1]], 'fisher'))).toEqual([1]);
    expect(fusedScores([[1], [1]], 'sidak')[0]).toBeCloseTo(0, 15);
    // log space: tiny p-values neither underflow nor lose precision
    const lp = logCombinedPValues([[1e-200], [1e-200]], 'fisher')[0];
    const h = 400 * Math.log(10);
    expect(lp).toBeCloseTo(-h + Math.log(1 + h), 9);
    expect(logCombinedPValues([[1e-300], [0.5]], 'sidak')[0]).toBeCloseTo(Math.log(2e-300), 9);
  });

  test('omnibus is the smallest Fisher p-value over every non-empty subset of defenders', () => {
    const fisher = (ps: number[]) => logCombinedPValues(ps.map((p) => [p]), 'fisher')[0];
    const cases = [
      [0.01, 0.9],
      [0.04, 0.05],
      [0.2, 0.3, 0.001],
      [1, 1, 1],
    ];
    for (const ps of cases) {
      let want = 0;
      for (let mask = 1; mask < 1 << ps.length; mask++) want = Math.min(want, fisher(ps.filter((_, d) => mask & (1 << d))));
      expect(logCombinedPValues(ps.map((p) => [p]), 'omnibus')[0]).toBeCloseTo(want, 12);
    }
    // one informative defender among uninformative ones: the omnibus keeps its evidence, Fisher dilutes it
    expect(logCombinedPValues([[1e-4], [0.9], [0.8]], 'omnibus')[0]).toBeCloseTo(Math.log(1e-4), 12);
    expect(logCombinedPValues([[1e-4], [0.9], [0.8]], 'fisher')[0]).toBeGreaterThan(Math.log(1e-3));
    // two moderate ones: the pair beats either alone
    expect(logCombinedPValues([[0.04], [0.05]], 'omnibus')[0]).toBeCloseTo(fisher([0.04, 0.05]), 12);
    expect(fisher([0.04, 0.05])).toBeLessThan(Math.log(0.04));
    expect(() => fusedScores([[0.5], [0.5]], 'omnibus', [1, 1])).toThrow(/'fisher' and 'sidak' only/);
    expect(() => logCombinedPValues(Array.from({ length: 11 }, () => [0.5]), 'omnibus')).toThrow(/at most 10 defenders, got 11/);
  });

  test('Fisher is a valid p-value for independent uniform inputs (≈ 5 % below 0.05)', () => {
    const rng = new Rng(5);
    const n = 20000;
    const p = [0, 1, 2].map(() => Array.from({ length: n }, () => 1 - rng.next()));
    for (const method of ['fisher', 'sidak'] as const) {
      const rate = mean(combinePValues(p, method).map((v) => (v <= 0.05 ? 1 : 0)));
      // binomial sd = sqrt(.05·.95/20000) = 0.0015; 4 sd
      expect(Math.abs(rate - 0.05)).toBeLessThan(0.006);
    }
  });

  test('orFlags is the paper\'s per-defender SP-quantile rule', () => {
    const data: DefenderScores = { scores: [[3.5, 2.5, 12.5, 0], [5, 9.5, 7, 8.5]], classes: [0, 0, 1, 1] };
    // SP 25: thresholds a = (2, 12) [4 samples, 1 allowed above], b = 8 [5 samples, 1 allowed above]
    expect(thresholdFromScores(Float32Array.from([0, 1, 2, 3]), 25)).toBe(2);
    expect(Array.from(orFlags(cal, data, 25))).toEqual([1, 1, 1, 1]);
    // per-defender override: defender a at SP 0 (thresholds 3, 13), b at 25
    expect(Array.from(orFlags(cal, data, [0, 25]))).toEqual([1, 1, 0, 1]);
    expect(Array.from(orFlags(cal, data, 0))).toEqual([1, 1, 0, 0]);
    // equivalent p-value form: flagged iff p_d ≤ (⌊sp·n/100⌋ + 1)/(n + 1) for some d
    const p = pValueMatrix(cal, data);
    const sizes = [4, 5];
    const viaP = Array.from(data.scores[0], (_, i) => (p.some((pd, d) => pd[i] <= (Math.floor(0.25 * sizes[d]) + 1) / (sizes[d] + 1)) ? 1 : 0));
    expect(viaP).toEqual([1, 1, 1, 1]);
  });

  test('bad input is rejected with a message naming the argument', () => {
    expect(() => pValueMatrix(cal, { scores: [[1]], classes: [0] })).toThrow(ShapeError);
    expect(() => pValueMatrix(cal, { scores: [[1], [1]] })).toThrow(/'data.classes' is required/);
    expect(() => pValueMatrix(cal, { scores: [[1], [1]], classes: [2] })).toThrow(/'data.classes\[0\]' to be an integer class in \[0, 2\), got 2/);
    expect(() => pValueMatrix(cal, { scores: [[1, 2], [1]], classes: [0, 0] })).toThrow(/'data.scores\[1\]' to have length 2/);
    expect(() => pValueMatrix([{ sortedScores: [[2, 1]] }], { scores: [[1]] })).toThrow(/sorted ascending/);
    expect(() => pValueMatrix([{ sortedScores: [] }], { scores: [[1]] })).toThrow(/non-empty array of per-class score arrays/);
    expect(() => combinePValues([[0]], 'fisher')).toThrow(ArgumentError);
    expect(() => combinePValues([[0.5]], 'stouffer' as 'fisher')).toThrow(/one of sidak, fisher, omnibus, got stouffer/);
    expect(() => orFlags(cal, { scores: [[1], [1]], classes: [0] }, [1])).toThrow(/one SP per defender \(2\), got 1/);
  });
});

/**
 * Two defenders, two classes. Calibration scores are N(0,1) (the defenders' own training scores);
 * clean data at test time drifts to N(drift, 1) and the defenders are correlated (ρ = `rho`), as for
 * real detectors that both see the same image. Adversarial samples shift both defenders by `shift`.
 */
function world(seed: number, drift: number, rho: number, shift: number | [number, number]) {
  const [shift0, shift1] = typeof shift === 'number' ? [shift, shift] : shift;
  const rng = new Rng(seed);
  const calibrations: PValueCalibration[] = [0, 1].map((d) => ({
    label: `defender ${d}`,
    sortedScores: [0, 1].map(() => Float32Array.from({ length: 2000 }, () => rng.normal()).sort()),
  }));
  const sample = (n: number, mu0: number, mu1 = mu0): DefenderScores => {
    const s0 = new Float32Array(n);
    const s1 = new Float32Array(n);
    const classes = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const z0 = rng.normal();
      s0[i] = mu0 + drift + z0;
      s1[i] = mu1 + drift + rho * z0 + Math.sqrt(1 - rho * rho) * rng.normal();
      classes[i] = rng.int(2);
    }
    return { scores: [s0, s1], classes };
  };
  return {
    calibrations,
    heldout: sample(4000, 0),
    clean: sample(10000, 0),
    adv: sample(2000, shift0, shift1),
    validationClean: sample(3000, 0),
    validationAdv: sample(1000, shift0, shift1),
  };
}

describe('calibrated fusion', () => {
  // sampling sd of the achieved FP: held-out quantile (n = 4000) + test estimate (n = 10000)
  const sd = (a: number) => Math.sqrt((a * (1 - a)) / 4000 + (a * (1 - a)) / 10000);

  test.each([
    { name: 'calibration matches, independent defenders', drift: 0, rho: 0 },
    { name: 'clean scores drift, correlated defenders', drift: 0.4, rho: 0.6 },
  ])('hits its target combined FP rate where OR at the same SP does not ($name)', ({ drift, rho }) => {
    const w = world(42, drift, rho, 1.5);
    for (const method of ['fisher', 'sidak', 'omnibus'] as const) {
      const model = fitCalibratedFusion(w.calibrations, w.heldout, method);
      for (const target of [0.01, 0.05, 0.1]) {
        const fp = mean(calibratedFusionFlags(model, w.clean, target * 100));
        expect(Math.abs(fp - target)).toBeLessThan(4 * sd(target));
      }
    }
    // the paper's OR adds the defenders' false alarms: ≈ 1 − 0.95² = 9.75 % at SP 5 without drift
    const orFp = mean(orFlags(w.calibrations, w.clean, 5));
    expect(orFp).toBeGreaterThan(0.05 + 6 * sd(0.05));
  });

  test('its ROC dominates the paper\'s OR rule and each defender alone when both carry evidence', () => {
    const w = world(7, 0, 0, 1.5);
    const model = fitCalibratedFusion(w.calibrations, w.heldout, 'fisher');
    const fc = calibratedFusionScores(model, w.clean);
    const fa = calibratedFusionScores(model, w.adv);
    const fused = roc(fc, fa);
    const orCurve = spSweep(orRates(w.calibrations, w.clean, w.adv), spGrid(200));
    const single = [0, 1].map((d) => roc(w.clean.scores[d], w.adv.scores[d]));
    const fusedAuc = auc(fc, fa);
    expect(fusedAuc).toBeGreaterThan(aucFromCurve(orCurve) + 0.01);
    for (const s of single) expect(fusedAuc).toBeGreaterThan(aucFromCurve(s) + 0.01);
    for (const t of [0.9, 0.95, 0.98, 0.99]) {
      expect(fprAtTpr(fc, fa, t)).toBeLessThanOrEqual(fprAtTprFromCurve(orCurve, t));
      for (const d of [0, 1]) expect(fprAtTpr(fc, fa, t)).toBeLessThan(fprAtTpr(w.clean.scores[d], w.adv.scores[d], t));
    }
    // pointwise dominance of the step curves; 0.01 ≈ 1 sd of a detection rate on 2000 adversarial samples
    expect(dominates(fused, orCurve, 0.01)).toBe(true);
    for (const s of single) expect(dominates(fused, s, 0.01)).toBe(true);
    // and the reverse is clearly false
    expect(dominates(orCurve, fused, 0.01)).toBe(false);
  });

  test('threshold rule, rates function and plain-data model', () => {
    const w = world(1, 0, 0, 2);
    const model = fitCalibratedFusion(w.calibrations, w.heldout);
    expect(model.method).toBe('fisher');
    expect(model.heldoutSorted.length).toBe(4000);
    for (let k = 1; k < model.heldoutSorted.length; k++) expect(model.heldoutSorted[k]).toBeGreaterThanOrEqual(model.heldoutSorted[k - 1]);
    // on its own held-out set, at most ⌊sp·n/100⌋ are flagged
    const own = mean(calibratedFusionFlags(model, w.heldout, 5));
    expect(own).toBeLessThanOrEqual(0.05);
    expect(own).toBeGreaterThan(0.045);
    expect(calibratedFusionThreshold(model, 100)).toBe(-Infinity);
    expect(calibratedFusionThreshold(model, 0)).toBe(model.heldoutSorted[3999]);
    const rates = calibratedFusionRates(model, w.clean, w.adv);
    expect(rates(5).fp).toBe(mean(calibratedFusionFlags(model, w.clean, 5)));
    expect(rates(5).tp).toBe(mean(calibratedFusionFlags(model, w.adv, 5)));
    expect(rates(100)).toEqual({ fp: 1, tp: 1 });
    expect(() => calibratedFusionThreshold(model, -1)).toThrow(/sp in \[0, 100\] \(percent\), got -1/);
  });

  test('weights: all-ones ranks like the unweighted rule, a zero weight drops a defender', () => {
    const w = world(3, 0, 0, 1);
    const pc = pValueMatrix(w.calibrations, w.clean);
    const pa = pValueMatrix(w.calibrations, w.adv);
    for (const method of ['fisher', 'sidak'] as const) {
      // equal up to float rounding of the monotone transform, which can merge or split a tie among the 2·10⁷ pairs
      expect(auc(fusedScores(pc, method, [1, 1]), fusedScores(pa, method, [1, 1]))).toBeCloseTo(auc(fusedScores(pc, method), fusedScores(pa, method)), 6);
      expect(auc(fusedScores(pc, method, [2, 0]), fusedScores(pa, method, [2, 0]))).toBeCloseTo(auc(pc[0].map((p) => -p), pa[0].map((p) => -p)), 12);
    }
    expect(fusedScores([[0.5], [0.25]], 'fisher', [1, 2])[0]).toBeCloseTo(Math.log(2) + 2 * Math.log(4), 12);
    expect(fusedScores([[0.5], [0.25]], 'sidak', [3, 1])[0]).toBeCloseTo(3 * Math.log(2), 12);
    expect(() => fusedScores([[0.5]], 'fisher', [0])).toThrow(/at least one positive weight/);
    expect(() => fusedScores([[0.5]], 'fisher', [1, 1])).toThrow(/one weight per defender \(1\), got 2/);
    expect(() => fusedScores([[0.5]], 'fisher', [-1])).toThrow(/'weights\[0\]' to be a finite number ≥ 0, got -1/);
  });

  test('with one strong and one weak defender, tuned mixing coefficients keep the strong one\'s ROC', () => {
    // unweighted pooling lets the weak defender's noise in: FP at 90 % detection ≈ 16 % vs ≈ 10 % for the
    // strong defender alone. Weights tuned on a separate validation split recover it.
    const w = world(7, 0, 0, [2.5, 0.3]);
    const choice = selectFusionWeights(w.calibrations, w.validationClean, w.validationAdv);
    expect(choice.weights[0]).toBe(1);
    expect(choice.weights[1]).toBeLessThan(1);
    const tuned = fitCalibratedFusion(w.calibrations, w.heldout, 'fisher', choice.weights);
    expect(tuned.weights).toEqual(choice.weights);
    const plain = fitCalibratedFusion(w.calibrations, w.heldout, 'fisher');
    const fpTuned = fprAtTpr(calibratedFusionScores(tuned, w.clean), calibratedFusionScores(tuned, w.adv), 0.9);
    const fpPlain = fprAtTpr(calibratedFusionScores(plain, w.clean), calibratedFusionScores(plain, w.adv), 0.9);
    const fpStrong = fprAtTpr(w.clean.scores[0], w.adv.scores[0], 0.9);
    const fpOr = fprAtTprFromCurve(spSweep(orRates(w.calibrations, w.clean, w.adv), spGrid(200)), 0.9);
    expect(fpTuned).toBeLessThan(fpPlain - 0.03);
    expect(fpTuned).toBeLessThan(fpOr - 0.03);
    // sd of an FP rate near 10 % on 10,000 clean samples ≈ 0.003, plus the threshold's noise from 2,000 adversarial ones
    expect(fpTuned).toBeLessThan(fpStrong + 0.01);
    // still calibrated
    expect(Math.abs(mean(calibratedFusionFlags(tuned, w.clean, 5)) - 0.05)).toBeLessThan(4 * sd(0.05));
    expect(() => selectFusionWeights(w.calibrations, w.validationClean, w.validationAdv, { grid: [0] })).toThrow(/one positive/);
  });
});

describe('omnibus fusion', () => {
  /** m defenders with N(0,1) clean calibration scores; adversarial scores shifted per defender. */
  function worldM(seed: number, shifts: number[], n = 20000) {
    const rng = new Rng(seed);
    const calibrations: PValueCalibration[] = shifts.map(() => ({ sortedScores: [Float32Array.from({ length: 5000 }, () => rng.normal()).sort()] }));
    const sample = (mu: number[]): DefenderScores => ({ scores: mu.map((m) => Float32Array.from({ length: n }, () => m + rng.normal())) });
    return { calibrations, heldout: sample(shifts.map(() => 0)), clean: sample(shifts.map(() => 0)), adv: sample(shifts) };
  }
  const fp90 = (w: ReturnType<typeof worldM>, method: 'fisher' | 'omnibus' | 'sidak') => {
    const m = fitCalibratedFusion(w.calibrations, w.heldout, method);
    return fprAtTpr(calibratedFusionScores(m, w.clean), calibratedFusionScores(m, w.adv), 0.9);
  };

  test('one informative defender among blind ones: better than Fisher (which pools the blind ones\' noise), no adversarial tuning', () => {
    const w = worldM(11, [2.5, 0, 0]);
    // measured: Fisher ≈ 28 %, omnibus ≈ 26 %, the informative defender alone ≈ 11 % (no fixed rule gets there)
    expect(fp90(w, 'omnibus')).toBeLessThan(fp90(w, 'fisher') - 0.01);
    expect(fp90(w, 'omnibus')).toBeGreaterThan(fprAtTpr(w.clean.scores[0], w.adv.scores[0], 0.9) + 0.05);
  });

  test('two informative defenders and a blind one: better than min-p and than each defender alone', () => {
    const w = worldM(12, [2, 2, 0]);
    // measured: Fisher ≈ 11 %, omnibus ≈ 15 %, min-p ≈ 17 %, each informative defender alone ≈ 24 %
    expect(fp90(w, 'omnibus')).toBeLessThan(fp90(w, 'sidak') - 0.01);
    for (const d of [0, 1, 2]) expect(fp90(w, 'omnibus')).toBeLessThan(fprAtTpr(w.clean.scores[d], w.adv.scores[d], 0.9) - 0.05);
  });
});

describe('exact OR curve', () => {
  test('minFlagSp reproduces orFlags at every SP, and orCurve is the exact SP sweep', () => {
    const rng = new Rng(12);
    const sizes = [[37, 52], [41, 29]];
    const calibrations: PValueCalibration[] = sizes.map((per) => ({ sortedScores: per.map((n) => Float32Array.from({ length: n }, () => rng.normal()).sort()) }));
    const mk = (n: number, mu: number): DefenderScores => ({
      // coarse rounding creates ties with the calibration scores
      scores: [0, 1].map(() => Float32Array.from({ length: n }, () => Math.round((mu + rng.normal()) * 8) / 8)),
      classes: Int32Array.from({ length: n }, () => rng.int(2)),
    });
    const clean = mk(200, 0.1);
    const adv = mk(150, 1.2);
    const grid = spBreakpoints(sizes.flat());
    const m = minFlagSp(calibrations, clean);
    for (const sp of [0, ...grid.slice(1, 40), 37.5, 50, 99, 100]) {
      expect(Array.from(orFlags(calibrations, clean, sp))).toEqual(Array.from(m, (v) => (v <= sp + 1e-9 ? 1 : 0)));
    }
    const exact = orCurve(calibrations, clean, adv);
    const swept = spSweep(orRates(calibrations, clean, adv), grid);
    for (let k = 1; k < exact.length; k++) expect(exact[k].sp).toBeGreaterThan(exact[k - 1].sp);
    for (const level of [0.5, 0.8, 0.9, 0.95, 0.99, 1]) expect(fprAtTprFromCurve(exact, level)).toBe(fprAtTprFromCurve(swept, level));
    expect(aucFromCurve(exact)).toBeCloseTo(aucFromCurve(swept), 12);
    // each point of the exact curve is the OR rule's rates at its SP
    const rates = orRates(calibrations, clean, adv);
    for (const p of exact.slice(0, 25)) expect(rates(p.sp)).toEqual({ fp: p.fpr, tp: p.tpr });
  });
});
