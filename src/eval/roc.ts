/**
 * Threshold-free evaluation of a detector from its scores: ROC curve, AUROC, false-positive rate at
 * a given detection rate, and the paper's ROC obtained by sweeping the security parameter (SP).
 *
 * Conventions used throughout `src/eval`:
 * - **Higher score = more adversarial** (the library's single sign convention, see `Detector`).
 * - Rates (`fpr`, `tpr`, target detection rates) are **fractions in [0, 1]**; SP is a **percent**
 *   in [0, 100] as everywhere else in the library.
 * - A global score threshold `t` flags a sample **iff `score ≥ t`**. (A per-class SP threshold from
 *   `Detector.thresholds(sp)` flags iff `score > threshold`, see `classThresholdRates`; that is a
 *   different parameterisation and both are documented where they are used.)
 * - Scores may be any float except NaN and +Infinity (+Infinity could not be left unflagged by any
 *   threshold, so the "flag nothing" corner (0, 0) would not exist). -Infinity is allowed.
 *
 * @see Rouhani et al., "Towards safe deep learning: unsupervised defense against generic adversarial
 * attacks", §6 (evaluation protocol, Table 1) — PCL-METHOD.md §6.
 */
import { ArgumentError, ShapeError, assert } from '../errors.js';
import { checkScores, type ScoreArray } from '../util/scores.js';

export { checkScores, type ScoreArray };

/** One point of an empirical ROC curve for the rule "flag iff score ≥ threshold". */
export interface RocPoint {
  /** Fraction of clean samples flagged (false-positive rate), in [0, 1]. */
  fpr: number;
  /** Fraction of adversarial samples flagged (detection rate), in [0, 1]. */
  tpr: number;
  /** Flag iff score ≥ threshold. `+Infinity` for the (0, 0) corner, the minimum score for (1, 1). */
  threshold: number;
}

/** A point on a curve without a score threshold (e.g. from an SP sweep or a fused rule). */
export interface RatePoint {
  fpr: number;
  tpr: number;
}

/** One point of an SP sweep: the rule at security parameter `sp` (percent) and its rates. */
export interface SpPoint extends RatePoint {
  /** Security parameter in percent, [0, 100]. */
  sp: number;
}

/** The detection rates of the paper's Table 1, as fractions. */
export const DETECTION_LEVELS: readonly number[] = Object.freeze([0.9, 0.95, 0.98, 0.99]);

function checkRate(who: string, name: string, r: number): void {
  assert(
    typeof r === 'number' && r >= 0 && r <= 1,
    () => `${who}: expected '${name}' to be a fraction in [0, 1], got ${String(r)}`,
  );
}

/** Copy sorted in descending order. */
function sortedDesc(s: ScoreArray): Float64Array {
  const a = Float64Array.from(s as ArrayLike<number>);
  a.sort();
  a.reverse();
  return a;
}

/** Number of elements of descending `a` that are ≥ t (binary search). */
function countAtLeast(desc: Float64Array, t: number): number {
  let lo = 0;
  let hi = desc.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (desc[mid] >= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Empirical ROC curve of the rule "flag iff score ≥ threshold" as the threshold sweeps every
 * distinct score, from flag-nothing (0, 0, +Infinity) to flag-everything (1, 1, min score).
 *
 * Ties are handled exactly: all samples sharing a score value enter together, giving one point per
 * distinct value (a tie between a clean and an adversarial score makes a diagonal segment, which
 * the trapezoid rule of {@link auc} counts as ½).
 *
 * @param scoresClean scores of clean (legitimate) samples, shape [nClean], higher = more adversarial
 * @param scoresAdv scores of adversarial samples, shape [nAdv]
 * @returns points with non-decreasing `fpr` and `tpr` and strictly decreasing `threshold`;
 *   length = number of distinct scores + 1
 */
export function roc(scoresClean: ScoreArray, scoresAdv: ScoreArray): RocPoint[] {
  checkScores('roc', 'scoresClean', scoresClean);
  checkScores('roc', 'scoresAdv', scoresAdv);
  return rocUnchecked(sortedDesc(scoresClean), sortedDesc(scoresAdv));
}

function rocUnchecked(c: Float64Array, a: Float64Array): RocPoint[] {
  const nc = c.length;
  const na = a.length;
  const pts: RocPoint[] = [{ fpr: 0, tpr: 0, threshold: Infinity }];
  let i = 0;
  let j = 0;
  while (i < nc || j < na) {
    // next distinct value, descending
    const v = i < nc && j < na ? Math.max(c[i], a[j]) : i < nc ? c[i] : a[j];
    while (i < nc && c[i] === v) i++;
    while (j < na && a[j] === v) j++;
    pts.push({ fpr: i / nc, tpr: j / na, threshold: v });
  }
  return pts;
}

/**
 * Area under the ROC curve (trapezoid rule over {@link roc}). Equals the Mann–Whitney statistic
 * P(score_adv > score_clean) + ½·P(score_adv = score_clean). 1 = perfect separation, 0.5 = chance,
 * 0 = perfectly inverted.
 *
 * @param scoresClean shape [nClean]; @param scoresAdv shape [nAdv]
 */
export function auc(scoresClean: ScoreArray, scoresAdv: ScoreArray): number {
  checkScores('auc', 'scoresClean', scoresClean);
  checkScores('auc', 'scoresAdv', scoresAdv);
  // the trapezoid sum over rocUnchecked's points, without materialising them
  const c = sortedDesc(scoresClean);
  const a = sortedDesc(scoresAdv);
  let i = 0;
  let j = 0;
  let area = 0; // in units of (1/nc)·(1/na)
  while (i < c.length || j < a.length) {
    const v = i < c.length && j < a.length ? Math.max(c[i], a[j]) : i < c.length ? c[i] : a[j];
    const i0 = i;
    const j0 = j;
    while (i < c.length && c[i] === v) i++;
    while (j < a.length && a[j] === v) j++;
    area += (i - i0) * (j + j0) * 0.5;
  }
  return area / (c.length * a.length);
}

/**
 * Area under a curve of (fpr, tpr) points by the trapezoid rule, completed with the trivial
 * flag-nothing (0, 0) and flag-everything (1, 1) corners. Points are sorted by fpr, then tpr.
 * Exact for a nested family of rules (every SP sweep here is nested: raising SP only adds flags).
 *
 * @param points any order; rates in [0, 1]
 */
export function aucFromCurve(points: readonly RatePoint[]): number {
  const pts = completeCurve('aucFromCurve', points);
  let area = 0;
  for (let k = 1; k < pts.length; k++) {
    area += (pts[k].fpr - pts[k - 1].fpr) * (pts[k].tpr + pts[k - 1].tpr) * 0.5;
  }
  return area;
}

function completeCurve(who: string, points: readonly RatePoint[]): RatePoint[] {
  assert(Array.isArray(points), () => `${who}: expected 'points' to be an array, got ${typeof points}`);
  points.forEach((p, k) => {
    checkRate(who, `points[${k}].fpr`, p.fpr);
    checkRate(who, `points[${k}].tpr`, p.tpr);
  });
  const pts: RatePoint[] = [{ fpr: 0, tpr: 0 }, ...points.map((p) => ({ fpr: p.fpr, tpr: p.tpr })), { fpr: 1, tpr: 1 }];
  pts.sort((p, q) => p.fpr - q.fpr || p.tpr - q.tpr);
  return pts;
}

/** The operating point {@link fprAtTpr} picks, with the detection rate it actually reaches. */
export interface OperatingPoint {
  fpr: number;
  /** Achieved detection rate (≥ the target; larger when scores tie at the threshold). */
  tpr: number;
  /** Flag iff score ≥ threshold. */
  threshold: number;
}

/**
 * The operating point with the smallest false-positive rate whose detection rate is at least `tpr`.
 *
 * Precisely: with adversarial scores sorted descending a₁ ≥ a₂ ≥ … ≥ a_n and k = ⌈tpr·n⌉, the
 * threshold is t = a_k (the largest threshold flagging ≥ k adversarial samples under "flag iff
 * score ≥ t"); the false-positive rate is the fraction of clean scores ≥ t. For tpr = 0 the
 * threshold is +Infinity and fpr = 0. (A 1e-9 slack in the ceiling absorbs float error in tpr·n,
 * so 0.9·10 asks for 9 samples, not 10.)
 *
 * @param scoresClean shape [nClean]; @param scoresAdv shape [nAdv]
 * @param tpr target detection rate, a fraction in [0, 1] (e.g. 0.9 for the paper's "90 %")
 */
export function operatingPointAtTpr(scoresClean: ScoreArray, scoresAdv: ScoreArray, tpr: number): OperatingPoint {
  checkScores('fprAtTpr', 'scoresClean', scoresClean);
  checkScores('fprAtTpr', 'scoresAdv', scoresAdv);
  checkRate('fprAtTpr', 'tpr', tpr);
  return operatingPointSorted(sortedDesc(scoresClean), sortedDesc(scoresAdv), tpr);
}

function operatingPointSorted(c: Float64Array, a: Float64Array, tpr: number): OperatingPoint {
  const k = Math.ceil(tpr * a.length - 1e-9);
  if (k <= 0) return { fpr: 0, tpr: 0, threshold: Infinity };
  const t = a[k - 1];
  return { fpr: countAtLeast(c, t) / c.length, tpr: countAtLeast(a, t) / a.length, threshold: t };
}

/**
 * Smallest false-positive rate at which at least `tpr` of the adversarial samples are detected
 * (the paper's Table 1 metric). See {@link operatingPointAtTpr} for the exact definition.
 *
 * @returns a fraction in [0, 1]
 */
export function fprAtTpr(scoresClean: ScoreArray, scoresAdv: ScoreArray, tpr: number): number {
  return operatingPointAtTpr(scoresClean, scoresAdv, tpr).fpr;
}

/**
 * {@link fprAtTpr} at several detection rates with one sort.
 * @param tprs target detection rates (fractions); default {@link DETECTION_LEVELS}
 * @returns one fpr per target, same order
 */
export function fprAtTprs(scoresClean: ScoreArray, scoresAdv: ScoreArray, tprs: readonly number[] = DETECTION_LEVELS): number[] {
  checkScores('fprAtTprs', 'scoresClean', scoresClean);
  checkScores('fprAtTprs', 'scoresAdv', scoresAdv);
  tprs.forEach((r, k) => checkRate('fprAtTprs', `tprs[${k}]`, r));
  const c = sortedDesc(scoresClean);
  const a = sortedDesc(scoresAdv);
  return tprs.map((r) => operatingPointSorted(c, a, r).fpr);
}

/**
 * Smallest false-positive rate among the points of a curve whose detection rate is ≥ `tpr`
 * (no interpolation: only operating points the rule family can actually realise). The curve is
 * completed with the flag-everything corner (1, 1), so the result is always defined.
 *
 * Use this for curves that have no single score threshold: SP sweeps with per-class thresholds and
 * the paper's "latent OR input" rule.
 */
export function fprAtTprFromCurve(points: readonly RatePoint[], tpr: number): number {
  checkRate('fprAtTprFromCurve', 'tpr', tpr);
  let best = 1;
  for (const p of completeCurve('fprAtTprFromCurve', points)) if (p.tpr >= tpr - 1e-12 && p.fpr < best) best = p.fpr;
  return best;
}

/**
 * Largest detection rate among the points of a curve whose false-positive rate is ≤ `fpr` (the
 * curve is completed with (0, 0), so the result is always defined). The ROC as a step function;
 * used by {@link dominates}.
 */
export function tprAtFprFromCurve(points: readonly RatePoint[], fpr: number): number {
  checkRate('tprAtFprFromCurve', 'fpr', fpr);
  return stepFunction('tprAtFprFromCurve', points)(fpr);
}

/** f ↦ max{tpr : point with fpr ≤ f} over the completed curve, by binary search over a prefix maximum. */
function stepFunction(who: string, points: readonly RatePoint[]): (f: number) => number {
  const pts = completeCurve(who, points);
  const xs = Float64Array.from(pts, (p) => p.fpr);
  const best = new Float64Array(pts.length);
  pts.forEach((p, k) => (best[k] = Math.max(p.tpr, k > 0 ? best[k - 1] : 0)));
  return (f) => {
    let lo = 0;
    let hi = xs.length; // first index with fpr > f + 1e-12
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (xs[mid] <= f + 1e-12) lo = mid + 1;
      else hi = mid;
    }
    return lo === 0 ? 0 : best[lo - 1];
  };
}

/**
 * Whether curve `a` dominates curve `b`: at every false-positive rate, the best detection rate
 * `a` can realise is at least `b`'s (minus `tolerance`). Both are read as step functions
 * ({@link tprAtFprFromCurve}); checked at every fpr where either curve has a point.
 *
 * @param tolerance allowed shortfall in detection rate (fraction), default 0
 */
export function dominates(a: readonly RatePoint[], b: readonly RatePoint[], tolerance = 0): boolean {
  assert(tolerance >= 0, () => `dominates: expected 'tolerance' ≥ 0, got ${tolerance}`);
  const fa = stepFunction('dominates', a);
  const fb = stepFunction('dominates', b);
  const grid = new Set<number>([...a.map((p) => p.fpr), ...b.map((p) => p.fpr), 0, 1]);
  for (const f of grid) if (fa(f) < fb(f) - tolerance) return false;
  return true;
}

/** Rates of one rule on clean and adversarial data, as fractions in [0, 1]. */
export interface FlagRates {
  /** Fraction of clean samples flagged. */
  fp: number;
  /** Fraction of adversarial samples flagged. */
  tp: number;
}

/**
 * Evaluates a family of rules indexed by the security parameter: calls `ratesAt(sp)` for each SP and
 * returns the curve sorted by SP (the paper's ROC, Fig. 7's FP and TP vs SP). `ratesAt` is usually
 * {@link classThresholdRates} or a fusion rule.
 *
 * @param ratesAt sp (percent) → rates (fractions)
 * @param sps security parameters in percent, each in [0, 100]; default {@link spGrid}()
 */
export function spSweep(ratesAt: (sp: number) => FlagRates, sps: readonly number[] = spGrid()): SpPoint[] {
  assert(typeof ratesAt === 'function', () => `spSweep: expected 'ratesAt' to be a function sp → {fp, tp}, got ${typeof ratesAt}`);
  assert(sps.length > 0, () => `spSweep: expected 'sps' to be a non-empty list of percentages, got length 0`);
  sps.forEach((sp, k) =>
    assert(typeof sp === 'number' && sp >= 0 && sp <= 100, () => `spSweep: expected sps[${k}] in [0, 100] (percent), got ${String(sp)}`),
  );
  const out = [...sps]
    .sort((x, y) => x - y)
    .map((sp) => {
      const r = ratesAt(sp);
      checkRate('spSweep', `ratesAt(${sp}).fp`, r?.fp);
      checkRate('spSweep', `ratesAt(${sp}).tp`, r?.tp);
      return { sp, fpr: r.fp, tpr: r.tp };
    });
  return out;
}

/**
 * A default SP grid (percent): 0, then `n` log-spaced values from 0.01 % to 100 %, plus the paper's
 * SP = 0.1, 1 and 5 %. Sorted, distinct.
 */
export function spGrid(n = 120): number[] {
  assert(Number.isInteger(n) && n >= 2, () => `spGrid: expected an integer n ≥ 2, got ${n}`);
  const s = new Set<number>([0, 0.1, 1, 5, 100]);
  for (let k = 0; k < n; k++) s.add(Number((0.01 * Math.pow(1e4, k / (n - 1))).toPrecision(6)));
  return [...s].sort((x, y) => x - y);
}

/**
 * Every SP (percent) at which a per-class quantile threshold (`thresholdFromScores`) can change: the
 * union over classes of 100·k/n_c for k = 0 … n_c, sorted and distinct. Between two consecutive
 * breakpoints every class's threshold is constant, so an {@link spSweep} over these SPs is the *exact*
 * SP-sweep ROC (no point of the rule family is missed), whereas a fixed grid like {@link spGrid} can
 * skip operating points and overstate the FP rate at a given detection rate.
 *
 * @param classSizes number of clean training scores per class (e.g. `detector.trainScores(k).length`);
 *   for several defenders, pass all their class sizes. Output length ≤ Σ n_c + 1.
 */
export function spBreakpoints(classSizes: readonly number[]): number[] {
  assert(
    Array.isArray(classSizes) && classSizes.length > 0,
    () => `spBreakpoints: expected a non-empty array of class sizes, got ${String(classSizes)}`,
  );
  const s = new Set<number>([0, 100]);
  classSizes.forEach((n, c) => {
    assert(Number.isInteger(n) && n >= 0, () => `spBreakpoints: expected 'classSizes[${c}]' to be a non-negative integer, got ${n}`);
    for (let k = 1; k < n; k++) s.add((100 * k) / n);
  });
  return Float64Array.from(s).sort().reduce<number[]>((a, v) => (a.push(v), a), []);
}

/** Scores plus the victim's predicted class of each sample (selects the per-class threshold). */
export interface ClassScores {
  /** Shape [n], higher = more adversarial. */
  scores: ScoreArray;
  /** Shape [n], integer class predicted by the victim, in [0, numClasses). */
  classes: ScoreArray;
}

/**
 * Fraction of samples flagged by per-class thresholds: sample i is flagged iff
 * `scores[i] > thresholds[classes[i]]` (the `Detector.thresholds(sp)` convention, see
 * `thresholdFromScores`).
 */
export function flagRate(data: ClassScores, thresholds: ScoreArray): number {
  checkClassScores('flagRate', 'data', data, thresholds.length);
  let k = 0;
  for (let i = 0; i < data.scores.length; i++) if (data.scores[i] > thresholds[data.classes[i]]) k++;
  return k / data.scores.length;
}

/** Validates {@link ClassScores}; classes must index into an array of length `numClasses`. */
export function checkClassScores(who: string, name: string, d: ClassScores, numClasses: number): void {
  checkScores(who, `${name}.scores`, d.scores);
  assert(
    d.classes !== undefined && d.classes.length === d.scores.length,
    () => `${who}: expected '${name}.classes' to have length ${d.scores.length} like '${name}.scores', got ${d.classes?.length}`,
    ShapeError,
  );
  for (let i = 0; i < d.classes.length; i++) {
    const c = d.classes[i];
    if (!Number.isInteger(c) || c < 0 || c >= numClasses) {
      throw new ArgumentError(`${who}: expected '${name}.classes[${i}]' to be an integer class in [0, ${numClasses}), got ${c}`);
    }
  }
}

/**
 * The rates of a per-class-threshold detector as a function of SP, for {@link spSweep}:
 * `sp → {fp: flagRate(clean, thresholdsAt(sp)), tp: flagRate(adv, thresholdsAt(sp))}`.
 *
 * @param thresholdsAt usually `(sp) => detector.thresholds(sp)`: per-class thresholds, shape [numClasses]
 * @param clean correctly classified clean test samples (the paper's FP protocol)
 * @param adv successful adversarial samples
 */
export function classThresholdRates(
  thresholdsAt: (sp: number) => ScoreArray,
  clean: ClassScores,
  adv: ClassScores,
): (sp: number) => FlagRates {
  return (sp) => {
    const t = thresholdsAt(sp);
    return { fp: flagRate(clean, t), tp: flagRate(adv, t) };
  };
}
