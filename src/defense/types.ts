import type * as tf from '@tensorflow/tfjs';
import type { BundleLocation } from '../io/store/router.js';

/** Options shared by long-running fits. */
export interface FitOptions {
  /** Seed for every random choice the fit makes. */
  seed?: number;
  /** Show a progress bar on stderr (default: the global setting, see util/progress). */
  progress?: boolean;
  /** Optional logger for loss curves etc. */
  log?: (message: string) => void;
}

/**
 * Labels, one type for the whole library (the same shape as the attacks' `Labels`): an int32 tensor
 * [n] or a plain array of class indices. Outputs are always `Int32Array`.
 */
export type Labels = tf.Tensor1D | ArrayLike<number>;

/** Options of {@link Detector.detect} (and of `PCLDetector.detect`). */
export interface DetectOptions {
  /** The victim's predicted label per row; when omitted the detector runs the victim itself. */
  yPred?: Labels;
  /** Security parameter in percent (default: the detector's `params.sp`). */
  sp?: number;
  /** Progress in rows: called with (rows done, rows in total). */
  onProgress?: (done: number, total: number) => void;
}

/** How a detection was decided, and how often that rule flags clean data. */
export interface DetectionSummary {
  /** Label of the detector ('latent:fc2', 'input', 'PCL', …). */
  detector: string;
  /** 'threshold' (a single detector's per-class SP quantile), 'or' (the paper's rule) or 'calibrated' (calibrated fusion). */
  rule: 'threshold' | 'or' | 'calibrated';
  /** The nominal security parameter, percent. */
  sp: number;
  /** Rows flagged, of `total`. */
  flagged: number;
  total: number;
  /**
   * Fraction of held-out clean images (never fitted on, classified correctly by the victim) that this
   * rule flags at `sp`, when the detector keeps such images' scores (a `PCLDetector` does); compare
   * with `sp / 100`. For the calibrated rule these are the images its threshold was set on.
   */
  cleanFalseAlarmRate?: number;
  /** How many held-out clean images `cleanFalseAlarmRate` is measured on. */
  cleanSamples?: number;
}

/**
 * What `detect` returns, for every detector (ART's `detect → (report, is_adversarial)` in one object).
 * `S` is the score type: `Float32Array` [n] for a single detector, one array per defender for a
 * `PCLDetector`.
 */
export interface DetectionReport<S = Float32Array> {
  /** 1 = adversarial, [n]. */
  adversarial: Uint8Array;
  /** Anomaly scores (higher = more adversarial). */
  scores: S;
  /** The victim's predicted label each row was judged under, [n]. */
  yPred: Int32Array;
  report: DetectionSummary;
}

/**
 * What a defender publishes for white-box (adaptive) attackers: a differentiable surrogate of its
 * score at one SP, so attacks never reach into a defender's internals. Optional: a defender without a
 * differentiable score (or a BPDA approximation of one) has no `surrogate`, and adaptive attacks
 * leave it out of their loss. Tensors returned are new; call inside `tf.tidy`.
 */
export interface ScoreSurrogate {
  /** The defender's label. */
  readonly label: string;
  /** Names of the score components, J of them (e.g. ['likelihood', 'ratio', 'disagreement']). */
  readonly components: readonly string[];
  /** The SP (percent) whose thresholds `excess` measures against. */
  readonly sp: number;
  /** Raw component scores of `x` [n,h,w,c] read under `classes` (one-hot [n, K]): [n, J], differentiable w.r.t. `x`. */
  scores(x: tf.Tensor4D, classes: tf.Tensor2D): tf.Tensor2D;
  /** Excess of each component over its threshold in units of its clean tail scale: [n, J]; ≤ 0 everywhere ⇔ not flagged. */
  excess(x: tf.Tensor4D, classes: tf.Tensor2D): tf.Tensor2D;
  /** Frees the surrogate's own tensors (not the defender's). */
  dispose(): void;
}

/**
 * A class-conditional anomaly detector that sits beside a victim classifier: the one contract of
 * every defender (`LatentDefender`, `MultiLatentDefender`, `InputDefender`, the baselines);
 * `PCLDetector` follows the same `detect(x, opts) → DetectionReport` shape with per-defender scores.
 *
 * Sign convention (one for the whole library): **higher score = more adversarial**.
 * Each detector keeps the scores of its clean training samples per class, so the
 * per-class threshold for any security parameter SP (percent of clean training samples
 * that fall outside) is a quantile of those, and changing SP needs no refit.
 *
 * `yPred` is the victim's predicted label, which selects the class-conditional density.
 * If omitted, the detector runs the victim itself.
 */
export interface Detector {
  /** Registry name (e.g. 'LatentDefender'); used by `loadDetector`. */
  readonly kind: string;
  /** A short label for reports, e.g. 'latent:fc2' or 'input'. */
  readonly label: string;
  readonly isFitted: boolean;
  readonly numClasses: number;
  /** Fits on clean data only. `x`: [n,h,w,c] in [0,1]; `y`: [n] int32 true labels. Refitting replaces the learned state. */
  fit(x: tf.Tensor4D, y: tf.Tensor1D, opts?: FitOptions): Promise<this>;
  /** Anomaly score per sample, higher = more adversarial. Inputs are not disposed. */
  score(x: tf.Tensor4D, yPred?: Labels): Promise<Float32Array>;
  /**
   * The raw, interpretable score the CLI prints (log-likelihood for latent defenders, PSNR for
   * the input defender). Always a monotone decreasing function of `score`.
   */
  rawFromScore(score: number): number;
  /** Per-class thresholds on `score` at security parameter `sp` (percent in [0,100]). */
  thresholds(sp: number): Float32Array;
  /** Flags, scores and how they were decided, at `opts.sp` (default `params.sp`). Inputs are not disposed. */
  detect(x: tf.Tensor4D, opts?: DetectOptions): Promise<DetectionReport>;
  /**
   * @deprecated The positional form of earlier versions: flags only (1 = adversarial). Use
   * `detect(x, {yPred, sp})` (its `.adversarial`) or `flags(x, {yPred, sp})`.
   */
  detect(x: tf.Tensor4D, yPred: Labels | undefined, sp?: number): Promise<Uint8Array>;
  /** Just the flags of {@link detect}, [n], 1 = adversarial. */
  flags(x: tf.Tensor4D, opts?: DetectOptions): Promise<Uint8Array>;
  /** Clean training scores of class `k` (sorted ascending); basis of thresholds and p-values. */
  trainScores(k: number): Float32Array;
  /** A differentiable surrogate of the score at `sp` (default `params.sp`), for adaptive attacks; absent where there is none. */
  surrogate?(opts?: { sp?: number }): ScoreSurrogate;
  /** Saves the bundle to a folder path or `file://` URL (Node), `indexeddb://` / `downloads://` (browser) or a `BundleStore`. */
  save(dir: BundleLocation): Promise<void>;
  dispose(): void;
}

/**
 * Threshold on `score` such that `sp` percent of `sortedScores` (ascending) lie strictly above it.
 * SP = 0 → the maximum (nothing flagged), SP = 100 → below the minimum (everything flagged).
 */
export function thresholdFromScores(sortedScores: Float32Array, sp: number): number {
  if (!(sp >= 0 && sp <= 100)) throw new RangeError(`sp: expected a percentage in [0, 100], got ${sp}`);
  const n = sortedScores.length;
  if (n === 0) return Infinity;
  const nOut = Math.floor((sp / 100) * n + 1e-9); // samples allowed above the threshold
  if (nOut >= n) return -Infinity;
  return sortedScores[n - 1 - nOut];
}

/** Empirical p-value of `s` among ascending `sortedScores`: fraction of clean scores ≥ s (with +1 smoothing). */
export function empiricalPValue(sortedScores: Float32Array | Float64Array, s: number): number {
  const n = sortedScores.length;
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sortedScores[mid] < s) lo = mid + 1;
    else hi = mid;
  }
  return (n - lo + 1) / (n + 1);
}

/**
 * {@link empiricalPValue} with an exponential tail beyond the largest clean score, so that scores
 * past every clean sample keep their order instead of all tying at 1/(n+1): for s > max,
 * p = exp(−(s − max)/β)/(n+1), with β the mean excess of the top 1 % of clean scores over the next
 * one (the maximum-likelihood exponential fit of that tail, as in peaks-over-threshold).
 */
export function tailPValue(sortedScores: Float32Array, s: number): number {
  const n = sortedScores.length;
  if (n === 0 || s <= sortedScores[n - 1]) return empiricalPValue(sortedScores, s);
  const m = Math.max(1, Math.min(n - 1, Math.floor(0.01 * n)));
  const u = sortedScores[n - 1 - m];
  let excess = 0;
  for (let i = n - m; i < n; i++) excess += sortedScores[i] - u;
  const beta = Math.max(excess / m, 1e-12);
  return Math.exp(-(s - sortedScores[n - 1]) / beta) / (n + 1);
}

/**
 * −log {@link tailPValue}(sortedScores, s), computed in the log domain so that scores far past every
 * clean score give a large finite value instead of −log 0 = ∞ (the tail's exp underflows once
 * (s − max)/β exceeds about 745). Equal to `-Math.log(tailPValue(sortedScores, s))` wherever that is finite.
 */
export function negLogTailPValue(sortedScores: Float32Array, s: number): number {
  const n = sortedScores.length;
  if (n === 0 || s <= sortedScores[n - 1]) return -Math.log(empiricalPValue(sortedScores, s));
  const m = Math.max(1, Math.min(n - 1, Math.floor(0.01 * n)));
  const u = sortedScores[n - 1 - m];
  let excess = 0;
  for (let i = n - m; i < n; i++) excess += sortedScores[i] - u;
  const beta = Math.max(excess / m, 1e-12);
  return (s - sortedScores[n - 1]) / beta + Math.log(n + 1);
}
