/**
 * Fusion of several defenders' scores (latent checkpoints, input defender) into one decision.
 *
 * Every defender is put on a common scale first: its **empirical p-value** against its own clean
 * calibration scores for the victim's predicted class (`empiricalPValue` in `defense/types.ts`:
 * fraction of clean calibration scores ≥ the score, +1 smoothed, so p ∈ [1/(n+1), 1]; small = unusual).
 * On that scale:
 * - {@link orFlags}: the paper's rule, PCL-METHOD §4 — adversarial iff *any* defender exceeds its own
 *   per-class threshold at one shared SP. Its false alarms add up: with m independent defenders the
 *   combined false-alarm rate is ≈ 1 − (1 − SP)^m, not SP.
 * - {@link combinePValues}: one combined p-value per sample, by the min-p rule with Šidák's correction
 *   `1 − (1 − min_d p_d)^m` or by Fisher's method `P(χ²_{2m} ≥ −2 Σ_d ln p_d)`. Both are exact p-values
 *   only if the defenders' p-values are independent and uniform on clean data, which they are not
 *   quite (the defenders see the same image, and a detector's clean test scores drift from its own
 *   training scores). Hence:
 * - **Calibrated fusion** ({@link fitCalibratedFusion}): combine the p-values into one statistic, then
 *   choose the threshold on the statistic of a *held-out* clean set, so that the combined
 *   false-alarm rate equals the target SP by construction, whatever the dependence between defenders.
 *   The held-out set must be disjoint from the data the defenders were fitted and calibrated on.
 *
 * All functions are pure functions of plain arrays; the fitted fusion model is plain JSON-able data.
 *
 * @see Rouhani et al. 2018, §4 "any defender raises an alarm" and Fig. 10 (several checkpoints);
 * R. A. Fisher, Statistical Methods for Research Workers (1925), §21.1; Z. Šidák, JASA 62 (1967).
 */
import { ArgumentError, ShapeError, assert } from '../../errors.js';
import { checkScores, type ScoreArray } from '../../util/scores.js';
import { empiricalPValue } from '../types.js';

/** A defender's clean calibration scores, per class of the victim's prediction. */
export interface PValueCalibration {
  /** Label for reports, e.g. 'latent:fc2' or 'input'. */
  label?: string;
  /**
   * Per class k, the clean calibration scores of samples predicted as k, **ascending**
   * (e.g. `detector.trainScores(k)`). A single entry means class-agnostic calibration.
   */
  sortedScores: readonly ScoreArray[];
}

/** Several defenders' scores of the same n samples. */
export interface DefenderScores {
  /** Per defender d (same order as the calibrations), shape [n]; higher = more adversarial. */
  scores: readonly ScoreArray[];
  /** Victim's predicted class per sample, shape [n]. May be omitted if every calibration is class-agnostic. */
  classes?: ScoreArray;
}


export function toF32(a: ScoreArray): Float32Array {
  return a instanceof Float32Array ? a : Float32Array.from(a as ArrayLike<number>);
}

export function checkCalibration(who: string, name: string, cal: PValueCalibration): Float32Array[] {
  assert(
    cal !== undefined && Array.isArray(cal.sortedScores) && cal.sortedScores.length > 0,
    () => `${who}: expected '${name}.sortedScores' to be a non-empty array of per-class score arrays, got ${String(cal?.sortedScores)}`,
  );
  return cal.sortedScores.map((s, k) => {
    checkScores(who, `${name}.sortedScores[${k}]`, s);
    for (let i = 1; i < s.length; i++) {
      if (s[i] < s[i - 1]) {
        throw new ArgumentError(`${who}: expected '${name}.sortedScores[${k}]' sorted ascending, but index ${i} (${s[i]}) < index ${i - 1} (${s[i - 1]})`);
      }
    }
    return toF32(s);
  });
}

/** Validates a multi-defender sample set against its calibrations; returns the class of each sample. */
export function checkDefenderScores(who: string, name: string, data: DefenderScores, cals: Float32Array[][]): Int32Array {
  assert(
    data !== undefined && Array.isArray(data.scores) && data.scores.length === cals.length,
    () => `${who}: expected '${name}.scores' to hold one score array per defender (${cals.length}), got ${data?.scores?.length}`,
    ShapeError,
  );
  const n = data.scores[0]?.length ?? 0;
  data.scores.forEach((s, d) => {
    checkScores(who, `${name}.scores[${d}]`, s);
    assert(s.length === n, () => `${who}: expected '${name}.scores[${d}]' to have length ${n} like '${name}.scores[0]', got ${s.length}`, ShapeError);
  });
  const classes = new Int32Array(n);
  const needClasses = cals.some((c) => c.length > 1);
  if (data.classes === undefined) {
    assert(!needClasses, () => `${who}: '${name}.classes' is required because a calibration is per class`);
    return classes;
  }
  assert(data.classes.length === n, () => `${who}: expected '${name}.classes' to have length ${n}, got ${data.classes!.length}`, ShapeError);
  const numClasses = Math.min(...cals.filter((c) => c.length > 1).map((c) => c.length));
  for (let i = 0; i < n; i++) {
    const c = data.classes[i];
    if (!Number.isInteger(c) || c < 0 || (needClasses && c >= numClasses)) {
      throw new ArgumentError(`${who}: expected '${name}.classes[${i}]' to be an integer class in [0, ${needClasses ? numClasses : '∞'}), got ${c}`);
    }
    classes[i] = c;
  }
  return classes;
}

export function calFor(cal: Float32Array[], k: number): Float32Array {
  return cal.length === 1 ? cal[0] : cal[k];
}

/**
 * Empirical p-values of every defender's scores (small = unusual for clean data).
 *
 * @returns one Float64Array of shape [n] per defender, entries in [1/(n_cal+1), 1]
 */
export function pValueMatrix(calibrations: readonly PValueCalibration[], data: DefenderScores): Float64Array[] {
  const cals = calibrations.map((c, d) => checkCalibration('pValueMatrix', `calibrations[${d}]`, c));
  const classes = checkDefenderScores('pValueMatrix', 'data', data, cals);
  return cals.map((cal, d) => {
    const s = data.scores[d];
    const p = new Float64Array(s.length);
    for (let i = 0; i < s.length; i++) p[i] = empiricalPValue(calFor(cal, classes[i]), Math.fround(s[i]));
    return p;
  });
}

/**
 * The evidence −ln p of every defender's scores, with a tail p-value as {@link tailPValue}: empirical
 * up to the largest calibration score, an exponential tail past it (scale {@link tailScale}), computed
 * in the log domain so it never underflows. Without the tail a defender cannot say "far more
 * unusual than any clean image": every score past the largest clean one ties at 1/(n_cal+1), and a
 * fusion thresholded at a small SP cannot tell an image a defender finds absurd (random noise for the
 * input defender) from the most unusual clean ones.
 *
 * @returns one Float64Array of shape [n] per defender, entries ≥ 0
 */
export function negLogPValueMatrix(calibrations: readonly PValueCalibration[], data: DefenderScores): Float64Array[] {
  const cals = calibrations.map((c, d) => checkCalibration('negLogPValueMatrix', `calibrations[${d}]`, c));
  const classes = checkDefenderScores('negLogPValueMatrix', 'data', data, cals);
  return cals.map((cal, d) => {
    const s = data.scores[d];
    const e = new Float64Array(s.length);
    const scales = new Map<Float32Array, number>();
    for (let i = 0; i < s.length; i++) {
      const ref = calFor(cal, classes[i]);
      const v = Math.fround(s[i]);
      const past = ref.length > 0 && v > ref[ref.length - 1];
      if (past && !scales.has(ref)) scales.set(ref, tailScale(ref));
      e[i] = negLogTailEvidence(ref, v, past ? scales.get(ref)! : 1);
    }
    return e;
  });
}

/**
 * −ln of the tail p-value of `v` against ascending reference scores `ref`: the empirical
 * (#{ref ≥ v} + 1)/(n + 1) up to the largest reference, an exponential tail of scale `beta` past it
 * (ln(n + 1) + (v − max)/β), in the log domain so that it never underflows.
 */
export function negLogTailEvidence(ref: Float32Array | Float64Array, v: number, beta: number): number {
  const n = ref.length;
  if (n === 0 || v <= ref[n - 1]) return -Math.log(empiricalPValue(ref, v));
  return (v - ref[n - 1]) / beta + Math.log(n + 1);
}

/**
 * Scale β of the exponential tail past the largest of ascending scores `sorted`: the mean excess of
 * the top 1 % over the next score ({@link tailPValue}'s estimate), over a wider top (5, 10, 25, 50 %)
 * where the top 1 % ties. Ties are common at the top of in-sample p-value scores (a latent defender's
 * 'combined' scores cap at ln(n+1) on its own training images); a tied top gives β ≈ 0 and would make
 * every clean image past it look infinitely unusual.
 */
export function tailScale(sorted: Float32Array | Float64Array): number {
  const n = sorted.length;
  if (n < 2) return 1;
  const spread = Math.max(sorted[n - 1] - sorted[0], 1e-12);
  let beta = 0;
  for (const frac of [0.01, 0.05, 0.1, 0.25, 0.5]) {
    const m = Math.max(1, Math.min(n - 1, Math.floor(frac * n)));
    const u = sorted[n - 1 - m];
    let excess = 0;
    for (let i = n - m; i < n; i++) excess += sorted[i] - u;
    beta = excess / m;
    if (beta > 1e-6 * spread) return beta;
  }
  return Math.max(beta, 1e-6 * spread);
}
