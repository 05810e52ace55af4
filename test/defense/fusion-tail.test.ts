/**
 * The calibrated fusion of a PCLDetector uses tail p-values (issue 10): a score far past every clean
 * calibration score keeps its evidence instead of tying at 1/(n+1) with the most unusual clean images.
 */
import { describe, expect, test } from 'vitest';
import {
  calibratedFusionFlags,
  calibratedFusionScores,
  fitCalibratedFusion,
  negLogPValueMatrix,
  recalibrateEvidence,
  type DefenderScores,
  type PValueCalibration,
} from '../../src/defense/fusion/index.js';
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

describe('second calibration stage (recalibrateEvidence against held-out evidence)', () => {
  test('is −ln of the empirical held-out p-value up to the held-out maximum, an exponential tail past it, and monotone', () => {
    const ref = Float64Array.of(0.1, 0.5, 0.5, 1, 2, 3);
    const out = recalibrateEvidence(Float64Array.of(0, 0.5, 0.7, 3, 4, 9), ref);
    const n1 = Math.log(7);
    expect(out[0]).toBeCloseTo(n1 - Math.log(7), 12); // every reference ≥ 0: p = 1
    expect(out[1]).toBeCloseTo(n1 - Math.log(6), 12); // 5 references ≥ 0.5
    expect(out[2]).toBeCloseTo(n1 - Math.log(4), 12); // 3 references ≥ 0.7
    expect(out[3]).toBeCloseTo(n1 - Math.log(2), 12); // only the maximum
    const beta = tailScale(ref);
    expect(out[4]).toBeCloseTo(n1 + 1 / beta, 12);
    expect(out[5]).toBeCloseTo(n1 + 6 / beta, 12);
    for (let i = 1; i < out.length; i++) expect(out[i]).toBeGreaterThanOrEqual(out[i - 1]);
  });

  // one defender whose clean scores on unseen images are far heavier-tailed than its in-sample
  // calibration (a latent defender), one that is well calibrated (the input defender)
  const rng2 = new Rng(5);
  const heavy = (n: number) => Float32Array.from({ length: n }, () => (rng2.next() < 0.02 ? 8 + 6 * rng2.next() : rng2.normal()));
  const calibrations: PValueCalibration[] = [
    { sortedScores: [Float32Array.from({ length: 500 }, () => rng2.normal()).sort()] },
    { sortedScores: [Float32Array.from({ length: 500 }, () => rng2.normal()).sort()] },
  ];
  const clean = (n: number): DefenderScores => ({ scores: [heavy(n), Float32Array.from({ length: n }, () => rng2.normal())] });
  const heldout = clean(600);
  // noise-like images: ordinary for defender 0, far past every clean score of defender 1
  const absurd: DefenderScores = { scores: [Float32Array.from({ length: 100 }, () => rng2.normal()), Float32Array.from({ length: 100 }, () => 6 + rng2.next())] };

  test('with one stage, a defender with heavy-tailed clean scores sets the threshold above absurd images; the second stage flags them', () => {
    const one = fitCalibratedFusion(calibrations, heldout, 'fisher', undefined, { tail: true });
    const two = fitCalibratedFusion(calibrations, heldout, 'fisher', undefined, { tail: true, recalibrate: true });
    expect(two.heldoutEvidence).toHaveLength(2);
    expect(rate(calibratedFusionFlags(one, absurd, 1))).toBeLessThan(0.5);
    expect(rate(calibratedFusionFlags(two, absurd, 1))).toBe(1);
    // and the combined clean false-alarm rate on fresh clean images stays near SP
    const fresh = clean(4000);
    expect(rate(calibratedFusionFlags(two, fresh, 5))).toBeGreaterThan(0.03);
    expect(rate(calibratedFusionFlags(two, fresh, 5))).toBeLessThan(0.07);
  });

  test('needs tail p-values', () => {
    expect(() => fitCalibratedFusion(calibrations, heldout, 'fisher', undefined, { recalibrate: true })).toThrow(/recalibrate needs tail/);
  });
});
