/**
 * The calibrated fusion of a PCLDetector uses tail p-values (issue 10): a score far past every clean
 * calibration score keeps its evidence instead of tying at 1/(n+1) with the most unusual clean images.
 */
import { describe, expect, test } from 'vitest';
import { calibratedFusionFlags, calibratedFusionScores, fitCalibratedFusion, negLogPValueMatrix, type DefenderScores, type PValueCalibration } from '../../src/defense/fusion/index.js';
import { tailScale } from '../../src/defense/fusion/p-values.js';
import { negLogTailPValue, tailPValue } from '../../src/defense/types.js';
import { Rng } from '../../src/util/rng.js';

const rng = new Rng(11);
const normal = (n: number, mu = 0) => Float32Array.from({ length: n }, () => mu + rng.normal());
const rate = (f: Uint8Array) => f.reduce((a, b) => a + b, 0) / f.length;

describe('calibrated fusion with tail p-values', () => {
  // two defenders; the held-out and test clean scores drift above the calibration (in-sample) scores,
  // as a fitted defender's out-of-sample scores do, so several percent of clean images pass every calibration score
  const calibrations: PValueCalibration[] = [{ sortedScores: [normal(1000).sort()] }, { sortedScores: [normal(1000).sort()] }];
  const clean = (n: number): DefenderScores => ({ scores: [normal(n, 0.6), normal(n, 0.6)] });
  const heldout = clean(3000);
  const test_ = clean(3000);
  // "absurd" images: far past every clean score on defender 0 (random noise for the input defender), ordinary on defender 1
  const absurd: DefenderScores = { scores: [Float32Array.from({ length: 200 }, () => 40 + rng.next()), normal(200, 0.6)] };

  test('negLogPValueMatrix is −ln tailPValue, finite far past the clean scores', () => {
    const e = negLogPValueMatrix(calibrations, { scores: [Float32Array.of(-1, 2, 40, 1e6), Float32Array.of(0, 0, 0, 0)] });
    const ref = calibrations[0].sortedScores[0] as Float32Array;
    for (const [i, s] of [-1, 2, 40].entries()) expect(e[0][i]).toBeCloseTo(-Math.log(tailPValue(ref, Math.fround(s))), 9);
    expect(Number.isFinite(e[0][3]) && e[0][3] > e[0][2]).toBe(true);
    expect(e[0][3]).toBeCloseTo(negLogTailPValue(ref, 1e6), 6);
  });

  test('a tied top (in-sample p-value scores cap at ln(n+1)) widens the tail window instead of β ≈ 0', () => {
    // 100 scores: 90 spread over [0, 1], the top 10 tied at 2
    const tied = Float32Array.from({ length: 100 }, (_, i) => (i < 90 ? i / 90 : 2)).sort();
    expect(tailScale(tied)).toBeGreaterThan(0.05);
    const e = negLogPValueMatrix([{ sortedScores: [tied] }], { scores: [Float32Array.of(2.5)] });
    expect(e[0][0]).toBeLessThan(20); // a little past the cap is unusual, not infinitely so
    const smooth = Float32Array.from({ length: 1000 }, () => rng.normal()).sort();
    const m = 10;
    let excess = 0;
    for (let i = 1000 - m; i < 1000; i++) excess += smooth[i] - smooth[1000 - 1 - m];
    expect(tailScale(smooth)).toBeCloseTo(excess / m, 6); // untied: tailPValue's own estimate
  });

  test('flags SP % of clean images and every absurd one; without the tail the absurd ones tie with clean images', () => {
    const withTail = fitCalibratedFusion(calibrations, heldout, 'fisher', undefined, { tail: true });
    const plain = fitCalibratedFusion(calibrations, heldout, 'fisher');
    for (const sp of [1, 5]) {
      expect(Math.abs(rate(calibratedFusionFlags(withTail, test_, sp)) - sp / 100)).toBeLessThan(0.01);
      expect(rate(calibratedFusionFlags(withTail, absurd, sp))).toBe(1);
    }
    // the failure mode the tail removes: at SP 1 % the plain empirical p-values cannot separate them
    expect(rate(calibratedFusionFlags(plain, absurd, 1))).toBeLessThan(0.9);
    expect(Math.min(...calibratedFusionScores(withTail, absurd))).toBeGreaterThan(Math.max(...calibratedFusionScores(withTail, test_)));
  });
});
