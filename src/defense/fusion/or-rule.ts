/**
 * The paper's decision rule (PCL-METHOD §4): adversarial iff *any* defender exceeds its own per-class
 * threshold at one shared SP. Its false alarms add up: with m independent defenders the combined
 * false-alarm rate is ≈ 1 − (1 − SP)^m, not SP (see `calibrated.ts` for the rule whose combined rate is SP).
 *
 * @see Rouhani et al. 2018, §4 "any defender raises an alarm".
 */
import { ShapeError, assert } from '../../errors.js';
import { empiricalPValue, thresholdFromScores } from '../types.js';
import { calFor, checkCalibration, checkDefenderScores, type DefenderScores, type PValueCalibration } from './p-values.js';

export function spsFor(who: string, sp: number | readonly number[], m: number): number[] {
  const sps = typeof sp === 'number' ? new Array<number>(m).fill(sp) : [...sp];
  assert(sps.length === m, () => `${who}: expected one SP per defender (${m}), got ${sps.length}`, ShapeError);
  sps.forEach((s, d) => assert(s >= 0 && s <= 100, () => `${who}: expected sp[${d}] in [0, 100] (percent), got ${s}`));
  return sps;
}

/**
 * The paper's decision rule: sample i is adversarial iff some defender d has
 * `scores[d][i] > thresholdFromScores(calibration_d[class_i], sp_d)`, i.e. is outside its own per-class
 * SP-quantile. (Equivalently, p_d ≤ (⌊sp_d·n/100⌋ + 1)/(n + 1) for some d.)
 *
 * @param sp one security parameter (percent) for all defenders, or one per defender
 * @returns flags, shape [n], 1 = adversarial
 */
export function orFlags(calibrations: readonly PValueCalibration[], data: DefenderScores, sp: number | readonly number[]): Uint8Array {
  const cals = calibrations.map((c, d) => checkCalibration('orFlags', `calibrations[${d}]`, c));
  const classes = checkDefenderScores('orFlags', 'data', data, cals);
  return orFlagsChecked(cals, data, classes, spsFor('orFlags', sp, cals.length));
}

export function orFlagsChecked(cals: Float32Array[][], data: DefenderScores, classes: Int32Array, sps: number[]): Uint8Array {
  const n = classes.length;
  const flags = new Uint8Array(n);
  cals.forEach((cal, d) => {
    const t = cal.map((s) => thresholdFromScores(s, sps[d]));
    const s = data.scores[d];
    for (let i = 0; i < n; i++) if (Math.fround(s[i]) > t[cal.length === 1 ? 0 : classes[i]]) flags[i] = 1;
  });
  return flags;
}

/**
 * Per sample, the smallest shared SP (percent) at which the paper's OR rule ({@link orFlags}) flags it:
 * min over defenders d of 100·#{calibration_d[class] ≥ score_d} / n_d[class]. (A defender flags a score
 * at SP iff at most ⌊SP·n/100⌋ of its calibration scores are ≥ it — the `thresholdFromScores` rule.)
 * So `orFlags(cal, data, sp)[i] === (minFlagSp(cal, data)[i] <= sp)` for every SP (up to the 1e-9
 * slack of `thresholdFromScores`), and the whole OR family is one score: see {@link orCurve}.
 *
 * @returns shape [n], percent in [0, 100]
 */
export function minFlagSp(calibrations: readonly PValueCalibration[], data: DefenderScores): Float64Array {
  const cals = calibrations.map((c, d) => checkCalibration('minFlagSp', `calibrations[${d}]`, c));
  const classes = checkDefenderScores('minFlagSp', 'data', data, cals);
  return minFlagSpChecked(cals, data, classes);
}

export function minFlagSpChecked(cals: Float32Array[][], data: DefenderScores, classes: Int32Array): Float64Array {
  const out = new Float64Array(classes.length).fill(Infinity);
  cals.forEach((cal, d) => {
    const s = data.scores[d];
    for (let i = 0; i < classes.length; i++) {
      const ref = calFor(cal, classes[i]);
      // empiricalPValue = (#{ref ≥ s} + 1)/(n + 1)
      const cnt = Math.round(empiricalPValue(ref, Math.fround(s[i])) * (ref.length + 1)) - 1;
      out[i] = Math.min(out[i], (100 * cnt) / ref.length);
    }
  });
  return out;
}

