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
 * A class-conditional anomaly detector that sits beside a victim classifier.
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
  /** Fits on clean data only. `x`: [n,h,w,c] in [0,1]; `y`: [n] int32 true labels. */
  fit(x: tf.Tensor4D, y: tf.Tensor1D, opts?: FitOptions): Promise<this>;
  /** Anomaly score per sample, higher = more adversarial. Inputs are not disposed. */
  score(x: tf.Tensor4D, yPred?: tf.Tensor1D): Promise<Float32Array>;
  /**
   * The raw, interpretable score the CLI prints (log-likelihood for latent defenders, PSNR for
   * the input defender). Always a monotone decreasing function of `score`.
   */
  rawFromScore(score: number): number;
  /** Per-class thresholds on `score` at security parameter `sp` (percent in [0,100]). */
  thresholds(sp: number): Float32Array;
  /** Flags (1 = adversarial) at security parameter `sp`. */
  detect(x: tf.Tensor4D, yPred?: tf.Tensor1D, sp?: number): Promise<Uint8Array>;
  /** Clean training scores of class `k` (sorted ascending); basis of thresholds and p-values. */
  trainScores(k: number): Float32Array;
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
export function empiricalPValue(sortedScores: Float32Array, s: number): number {
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
