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
import { ArgumentError, ShapeError, assert } from '../errors.js';
import { empiricalPValue, thresholdFromScores } from '../defense/types.js';
import { auc, checkScores, fprAtTpr, roc, type FlagRates, type ScoreArray, type SpPoint } from './roc.js';

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

/**
 * Ways to combine p-values into one: min-p with Šidák's correction, Fisher's method, or the omnibus
 * of Fisher's method over every non-empty subset of defenders (see {@link logCombinedPValues}).
 */
export type FusionMethod = 'sidak' | 'fisher' | 'omnibus';

export const FUSION_METHODS: readonly FusionMethod[] = Object.freeze(['sidak', 'fisher', 'omnibus']);
const METHODS = FUSION_METHODS;

/** Most defenders the omnibus combines (it visits all 2^m − 1 subsets). */
export const OMNIBUS_MAX_DEFENDERS = 10;

function toF32(a: ScoreArray): Float32Array {
  return a instanceof Float32Array ? a : Float32Array.from(a as ArrayLike<number>);
}

function checkCalibration(who: string, name: string, cal: PValueCalibration): Float32Array[] {
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
function checkDefenderScores(who: string, name: string, data: DefenderScores, cals: Float32Array[][]): Int32Array {
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

function calFor(cal: Float32Array[], k: number): Float32Array {
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

/** ln of 1 − (1 − p)^m, accurate for tiny p. */
function logSidak(p: number, m: number): number {
  return Math.log(-Math.expm1(m * Math.log1p(-p)));
}

/** ln P(χ²_{2m} ≥ 2h) = −h + ln Σ_{k<m} h^k / k!  (closed form for even degrees of freedom). */
function logChi2SfEven(h: number, m: number): number {
  let acc = 0; // ln Σ via running log-sum-exp
  let logTerm = 0; // ln(h^k / k!) for k = 0
  for (let k = 1; k < m; k++) {
    logTerm += Math.log(h) - Math.log(k);
    const hi = Math.max(acc, logTerm);
    acc = hi + Math.log(Math.exp(acc - hi) + Math.exp(logTerm - hi));
  }
  return -h + acc;
}

function checkPValues(who: string, pvals: readonly ScoreArray[]): number {
  assert(Array.isArray(pvals) && pvals.length > 0, () => `${who}: expected 'pvals' to hold at least one defender's p-values, got ${pvals?.length}`, ShapeError);
  const n = pvals[0].length;
  pvals.forEach((p, d) => {
    assert(p.length === n, () => `${who}: expected 'pvals[${d}]' to have length ${n}, got ${p.length}`, ShapeError);
    for (let i = 0; i < n; i++) {
      if (!(p[i] > 0 && p[i] <= 1)) throw new ArgumentError(`${who}: expected 'pvals[${d}][${i}]' in (0, 1], got ${p[i]}`);
    }
  });
  return n;
}

/**
 * Natural log of the combined p-value of each sample.
 * - `'sidak'`: ln(1 − (1 − min_d p_d)^m)
 * - `'fisher'`: ln P(χ²_{2m} ≥ −2 Σ_d ln p_d)
 * - `'omnibus'`: min over every non-empty subset S of the defenders of ln P(χ²_{2|S|} ≥ −2 Σ_{d∈S} ln p_d).
 *   Fisher's method pools all defenders and is diluted when only some of them see an attack (a
 *   defender that is uninformative against it adds noise); the omnibus takes the subset with the
 *   strongest evidence. It sits between Fisher and min-p: better than Fisher when most defenders
 *   are blind to an attack, worse when all of them see it (bench/results/eval.md). No fixed rule
 *   avoids both costs: without knowing which defenders an attack affects, an uninformative defender
 *   always adds false alarms. The minimum is not a p-value itself (anti-conservative by the number
 *   of subsets); calibrated fusion fixes its threshold on held-out clean data, which makes the
 *   combined false-alarm rate exact anyway. At most {@link OMNIBUS_MAX_DEFENDERS} defenders.
 *
 * Computed in log space, so it neither underflows nor loses precision for tiny p-values.
 * @param pvals one array of shape [n] per defender, entries in (0, 1]
 * @returns shape [n], entries ≤ 0
 */
export function logCombinedPValues(pvals: readonly ScoreArray[], method: FusionMethod): Float64Array {
  assert(METHODS.includes(method), () => `combinePValues: expected 'method' to be one of ${METHODS.join(', ')}, got ${String(method)}`);
  const n = checkPValues('combinePValues', pvals);
  const m = pvals.length;
  const out = new Float64Array(n);
  if (method === 'omnibus') {
    assert(m <= OMNIBUS_MAX_DEFENDERS, () => `combinePValues: 'omnibus' combines at most ${OMNIBUS_MAX_DEFENDERS} defenders, got ${m}`, ArgumentError);
    const e = new Float64Array(m);
    for (let i = 0; i < n; i++) {
      for (let d = 0; d < m; d++) e[d] = -Math.log(pvals[d][i]);
      let best = 0;
      for (let mask = 1; mask < 1 << m; mask++) {
        let h = 0;
        let size = 0;
        for (let d = 0; d < m; d++) {
          if (mask & (1 << d)) {
            h += e[d];
            size++;
          }
        }
        best = Math.min(best, logChi2SfEven(h, size));
      }
      out[i] = best;
    }
    return out;
  }
  for (let i = 0; i < n; i++) {
    if (method === 'sidak') {
      let minP = 1;
      for (let d = 0; d < m; d++) minP = Math.min(minP, pvals[d][i]);
      out[i] = logSidak(minP, m);
    } else {
      let h = 0;
      for (let d = 0; d < m; d++) h -= Math.log(pvals[d][i]);
      out[i] = logChi2SfEven(h, m);
    }
  }
  return out;
}

/** Combined p-value of each sample, see {@link logCombinedPValues}. @returns shape [n], in (0, 1] */
export function combinePValues(pvals: readonly ScoreArray[], method: FusionMethod): Float64Array {
  return logCombinedPValues(pvals, method).map(Math.exp);
}

/**
 * Fused anomaly score, higher = more adversarial, ≥ 0.
 * - Unweighted: −ln(combined p-value) of {@link logCombinedPValues}.
 * - With `weights` w_d ≥ 0 (the paper's "mixing coefficients", Fig. 10): `'fisher'` → Σ_d w_d·(−ln p_d),
 *   `'sidak'` → max_d w_d·(−ln p_d). These are scores, not p-values; with all weights 1 they rank
 *   samples exactly as the unweighted rules (both transforms are monotone). A weight of 0 drops a defender.
 *
 * @param pvals one array of shape [n] per defender
 * @param weights optional, one per defender
 */
export function fusedScores(pvals: readonly ScoreArray[], method: FusionMethod, weights?: readonly number[]): Float64Array {
  if (weights === undefined) return logCombinedPValues(pvals, method).map((v) => -v);
  assert(METHODS.includes(method), () => `fusedScores: expected 'method' to be one of ${METHODS.join(', ')}, got ${String(method)}`);
  assert(method !== 'omnibus', () => `fusedScores: mixing weights apply to 'fisher' and 'sidak' only, not 'omnibus'`, ArgumentError);
  const n = checkPValues('fusedScores', pvals);
  checkWeights('fusedScores', weights, pvals.length);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let acc = 0;
    for (let d = 0; d < pvals.length; d++) {
      const e = weights[d] === 0 ? 0 : -weights[d] * Math.log(pvals[d][i]);
      acc = method === 'fisher' ? acc + e : Math.max(acc, e);
    }
    out[i] = acc;
  }
  return out;
}

function checkWeights(who: string, weights: readonly number[], m: number): void {
  assert(Array.isArray(weights) && weights.length === m, () => `${who}: expected one weight per defender (${m}), got ${weights?.length}`, ShapeError);
  weights.forEach((w, d) => assert(Number.isFinite(w) && w >= 0, () => `${who}: expected 'weights[${d}]' to be a finite number ≥ 0, got ${w}`));
  assert(weights.some((w) => w > 0), () => `${who}: expected at least one positive weight, got [${weights.join(', ')}]`);
}

function spsFor(who: string, sp: number | readonly number[], m: number): number[] {
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

function orFlagsChecked(cals: Float32Array[][], data: DefenderScores, classes: Int32Array, sps: number[]): Uint8Array {
  const n = classes.length;
  const flags = new Uint8Array(n);
  cals.forEach((cal, d) => {
    const t = cal.map((s) => thresholdFromScores(s, sps[d]));
    const s = data.scores[d];
    for (let i = 0; i < n; i++) if (Math.fround(s[i]) > t[cal.length === 1 ? 0 : classes[i]]) flags[i] = 1;
  });
  return flags;
}

function mean(flags: Uint8Array): number {
  let k = 0;
  for (const f of flags) k += f;
  return k / flags.length;
}

/**
 * The paper's OR rule as a function of the shared SP, for `spSweep` (ROC of "latent OR input").
 * @param clean correctly classified clean test samples; @param adv successful adversarial samples
 */
export function orRates(calibrations: readonly PValueCalibration[], clean: DefenderScores, adv: DefenderScores): (sp: number) => FlagRates {
  const cals = calibrations.map((c, d) => checkCalibration('orRates', `calibrations[${d}]`, c));
  const cc = checkDefenderScores('orRates', 'clean', clean, cals);
  const ca = checkDefenderScores('orRates', 'adv', adv, cals);
  return (sp) => {
    const sps = spsFor('orRates', sp, cals.length);
    return { fp: mean(orFlagsChecked(cals, clean, cc, sps)), tp: mean(orFlagsChecked(cals, adv, ca, sps)) };
  };
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

function minFlagSpChecked(cals: Float32Array[][], data: DefenderScores, classes: Int32Array): Float64Array {
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

/**
 * The exact ROC of the paper's OR rule as its shared SP sweeps [0, 100] (with one calibration: of that
 * defender alone): every operating point the rule family has, from one sort, instead of an
 * {@link spSweep} over a grid. Point k flags exactly the samples with `minFlagSp ≤ sp_k`.
 *
 * @param clean correctly classified clean test samples; @param adv successful adversarial samples
 * @returns points sorted by SP (ascending), without the (0, 0) corner
 */
export function orCurve(calibrations: readonly PValueCalibration[], clean: DefenderScores, adv: DefenderScores): SpPoint[] {
  const cals = calibrations.map((c, d) => checkCalibration('orCurve', `calibrations[${d}]`, c));
  const fc = minFlagSpChecked(cals, clean, checkDefenderScores('orCurve', 'clean', clean, cals));
  const fa = minFlagSpChecked(cals, adv, checkDefenderScores('orCurve', 'adv', adv, cals));
  // flag iff minFlagSp ≤ sp  ⟺  −minFlagSp ≥ −sp: roc's "score ≥ threshold" with threshold = −sp
  return roc(fc.map((v) => -v), fa.map((v) => -v))
    .slice(1)
    .map((p) => ({ sp: -p.threshold, fpr: p.fpr, tpr: p.tpr }));
}

/**
 * A fitted calibrated fusion: plain data (JSON-serialisable after `Array.from` of the typed arrays).
 * Decision: adversarial iff the fused score > {@link calibratedFusionThreshold}(model, sp).
 */
export interface CalibratedFusionModel {
  method: FusionMethod;
  /** Per defender, the clean calibration scores the p-values are taken against. */
  calibrations: PValueCalibration[];
  /** Fused scores of the held-out clean set, ascending; the SP quantiles of these are the thresholds. */
  heldoutSorted: Float64Array;
  /** Mixing coefficients, one per defender (see {@link fusedScores}); undefined = unweighted. */
  weights?: number[];
}

/**
 * Fits a calibrated fusion: computes the held-out clean samples' fused scores
 * (−ln combined p-value, see {@link fusedScores}) and keeps them sorted, so that for any SP the threshold
 * flags exactly ⌊SP·n/100⌋ held-out samples (fewer on ties) — the *combined* false-alarm rate is SP
 * up to sampling error, whatever the dependence between defenders.
 *
 * @param calibrations per defender, its clean calibration scores (usually the detector's training scores)
 * @param heldout clean samples disjoint from the calibration data (e.g. a validation split), scored by
 *   every defender, with the victim's predicted classes
 * @param method how to combine p-values; default 'fisher' (pools evidence from all defenders)
 * @param weights optional mixing coefficients, one per defender (see {@link fusedScores}, {@link selectFusionWeights})
 */
export function fitCalibratedFusion(
  calibrations: readonly PValueCalibration[],
  heldout: DefenderScores,
  method: FusionMethod = 'fisher',
  weights?: readonly number[],
): CalibratedFusionModel {
  assert(Array.isArray(calibrations) && calibrations.length > 0, () => `fitCalibratedFusion: expected at least one calibration, got ${calibrations?.length}`);
  const sorted = fusedScores(pValueMatrix(calibrations, heldout), method, weights);
  sorted.sort();
  return {
    method,
    calibrations: calibrations.map((c) => ({ label: c.label, sortedScores: c.sortedScores.map(toF32) })),
    heldoutSorted: sorted,
    ...(weights ? { weights: [...weights] } : {}),
  };
}

/** Fused scores of new samples under a fitted model; shape [n], higher = more adversarial. */
export function calibratedFusionScores(model: CalibratedFusionModel, data: DefenderScores): Float64Array {
  return fusedScores(pValueMatrix(model.calibrations, data), model.method, model.weights);
}

/**
 * Threshold on the fused score for a target combined false-alarm rate `sp` (percent): the same
 * quantile rule as `thresholdFromScores`, on the held-out fused scores (flag iff score > threshold).
 */
export function calibratedFusionThreshold(model: CalibratedFusionModel, sp: number): number {
  assert(sp >= 0 && sp <= 100, () => `calibratedFusionThreshold: expected sp in [0, 100] (percent), got ${sp}`);
  const s = model.heldoutSorted;
  assert(s.length > 0, () => `calibratedFusionThreshold: the model has no held-out scores`, ShapeError);
  const nOut = Math.floor((sp / 100) * s.length + 1e-9);
  if (nOut >= s.length) return -Infinity;
  return s[s.length - 1 - nOut];
}

/** Flags (1 = adversarial) at combined false-alarm target `sp` (percent); shape [n]. */
export function calibratedFusionFlags(model: CalibratedFusionModel, data: DefenderScores, sp: number): Uint8Array {
  const t = calibratedFusionThreshold(model, sp);
  return calibratedFusionScores(model, data).reduce((f, v, i) => ((f[i] = v > t ? 1 : 0), f), new Uint8Array(data.scores[0]?.length ?? 0));
}

/**
 * Rates of the calibrated fusion as a function of its target SP, for `spSweep`. (Its ROC as a
 * function of a free threshold is simply `roc` of {@link calibratedFusionScores}.)
 */
export function calibratedFusionRates(model: CalibratedFusionModel, clean: DefenderScores, adv: DefenderScores): (sp: number) => FlagRates {
  const sc = calibratedFusionScores(model, clean);
  const sa = calibratedFusionScores(model, adv);
  const rate = (s: Float64Array, t: number) => s.reduce((k, v) => k + (v > t ? 1 : 0), 0) / s.length;
  return (sp) => {
    const t = calibratedFusionThreshold(model, sp);
    return { fp: rate(sc, t), tp: rate(sa, t) };
  };
}

/** The mixing coefficients {@link selectFusionWeights} picked, with their validation metrics. */
export interface FusionWeightChoice {
  weights: number[];
  /** False-positive rate at the target detection rate on the validation data (fraction). */
  fpr: number;
  /** AUROC on the validation data. */
  auroc: number;
}

/**
 * Picks mixing coefficients for the fusion by grid search: every weight vector over `grid` (per
 * defender, at least one positive; vectors that are multiples of each other rank alike, so only those
 * whose largest weight is the grid's largest value are tried) is scored on validation data by the FP rate at detection `tpr`
 * (ties → higher AUROC, then the earlier vector). Weight 0 drops a defender, so the result is never
 * worse on the validation data than the best single defender or the unweighted fusion.
 *
 * **This step uses adversarial examples** (`validationAdv`), unlike the rest of PCL: use an attack or a
 * split that is not part of the evaluation, and report it. The paper leaves the choice of mixing
 * coefficients open (PCL-METHOD §7).
 *
 * @param validationClean clean samples (not the calibration data)
 * @param validationAdv adversarial samples for tuning only
 * @param opts.grid candidate weights per defender, default [0, 0.1, 0.25, 0.5, 1]
 * @param opts.tpr detection rate to optimise the FP rate at, default 0.9
 */
export function selectFusionWeights(
  calibrations: readonly PValueCalibration[],
  validationClean: DefenderScores,
  validationAdv: DefenderScores,
  opts: { method?: FusionMethod; grid?: readonly number[]; tpr?: number } = {},
): FusionWeightChoice {
  const method = opts.method ?? 'fisher';
  const grid = [...new Set(opts.grid ?? [0, 0.1, 0.25, 0.5, 1])].sort((a, b) => a - b);
  const tpr = opts.tpr ?? 0.9;
  assert(grid.every((w) => Number.isFinite(w) && w >= 0) && grid.some((w) => w > 0), () => `selectFusionWeights: expected 'grid' of finite weights ≥ 0 with one positive, got [${grid.join(', ')}]`);
  const m = calibrations.length;
  assert(m >= 1 && m <= 6, () => `selectFusionWeights: grid search supports 1 to 6 defenders, got ${m}`);
  assert(Math.pow(grid.length, m) <= 20000, () => `selectFusionWeights: ${grid.length}^${m} weight vectors is too many; pass a smaller 'grid'`);
  const pc = pValueMatrix(calibrations, validationClean);
  const pa = pValueMatrix(calibrations, validationAdv);
  const maxW = grid[grid.length - 1];
  let best: FusionWeightChoice | undefined;
  const w = new Array<number>(m).fill(0);
  const visit = (d: number): void => {
    if (d === m) {
      if (Math.max(...w) !== maxW) return;
      const sc = fusedScores(pc, method, w);
      const sa = fusedScores(pa, method, w);
      const fpr = fprAtTpr(sc, sa, tpr);
      const a = auc(sc, sa);
      if (best === undefined || fpr < best.fpr || (fpr === best.fpr && a > best.auroc)) best = { weights: [...w], fpr, auroc: a };
      return;
    }
    for (const g of grid) {
      w[d] = g;
      visit(d + 1);
    }
  };
  visit(0);
  return best!;
}
