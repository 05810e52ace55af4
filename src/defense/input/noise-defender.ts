import * as tf from '@tensorflow/tfjs';
import { ArgumentError, ManifestError, ShapeError, assert, assertFitted } from '../../errors.js';
import type { Classifier } from '../../models/classifier.js';
import { readBundle, registerDetector, saveBundle, writeBundle, type LoadContext } from '../persistence.js';
import type { BundleLocation } from '../../io/store/router.js';
import { labelsFrom, runDetect } from '../detection.js';
import { type DetectOptions, type DetectionReport, type Detector, type FitOptions, type Labels } from '../types.js';
import { yieldToEventLoop } from '../../util/parallel.js';
import { correctMask, disposeMap, scoresFromTensors, scoresToTensors, sortedPerClass, thresholdsAt } from '../latent/common.js';

/** Hyperparameters of a {@link NoiseDefender}. */
export interface NoiseDefenderParams {
  /** Security parameter in percent: the share of clean training images of a class flagged (default 1). */
  sp: number;
  /** Pixel range [0, maxValue] of the images (default 1); only the raw score (dB) depends on it. */
  maxValue: number;
}

const DEFAULTS: Readonly<NoiseDefenderParams> = Object.freeze({ sp: 1, maxValue: 1 });

/** Donoho's factor: median |N(0, σ²)| = 0.6745 σ. */
const MAD_TO_SIGMA = 1 / 0.6745;

/**
 * Estimated pixel noise σ̂ of each image [n, h, w, c] (flat, channels last): the median absolute
 * finest-scale Haar diagonal coefficient, (a − b − c + d)/2 over each 2 × 2 block and channel,
 * divided by 0.6745 (Donoho & Johnstone's robust estimator: edges, which fill the detail bands of a
 * natural image, are too few to move the median; noise spread over every pixel moves it).
 */
export function haarNoiseSigma(images: Float32Array, n: number, h: number, w: number, c: number): Float32Array {
  const out = new Float32Array(n);
  const hh = new Float32Array((h >> 1) * (w >> 1) * c);
  const per = h * w * c;
  for (let i = 0; i < n; i++) {
    const o = i * per;
    let k = 0;
    for (let r = 0; r + 1 < h; r += 2) {
      for (let q = 0; q + 1 < w; q += 2) {
        const a0 = o + (r * w + q) * c;
        const b0 = a0 + c;
        const c0 = a0 + w * c;
        const d0 = c0 + c;
        for (let ch = 0; ch < c; ch++) hh[k++] = Math.abs(images[a0 + ch]! - images[b0 + ch]! - images[c0 + ch]! + images[d0 + ch]!) * 0.5;
      }
    }
    out[i] = k ? median(hh, k) * MAD_TO_SIGMA : 0;
  }
  return out;
}

/** The median of the first `k` values of `v` (reorders them; quickselect). */
function median(v: Float32Array, k: number): number {
  const sel = (lo: number, hi: number, m: number): number => {
    while (lo < hi) {
      const pivot = v[(lo + hi) >> 1]!;
      let i = lo;
      let j = hi;
      while (i <= j) {
        while (v[i]! < pivot) i++;
        while (v[j]! > pivot) j--;
        if (i <= j) {
          const t = v[i]!;
          v[i] = v[j]!;
          v[j] = t;
          i++;
          j--;
        }
      }
      if (m <= j) hi = j;
      else if (m >= i) lo = i;
      else return v[m]!;
    }
    return v[m]!;
  };
  const m = k >> 1;
  const hi = sel(0, k - 1, m);
  if (k % 2) return hi;
  let lo = -Infinity;
  for (let i = 0; i < m; i++) if (v[i]! > lo) lo = v[i]!; // after selection, v[0..m) ≤ v[m]
  return (lo + hi) / 2;
}

interface NoiseState {
  h: number;
  w: number;
  c: number;
  numClasses: number;
  trainScores: Float32Array[];
}

/**
 * A second input-space checkpoint: how much pixel-scale noise an image carries, against what the
 * clean training images of its predicted class carry. No dictionary and no model: the score is
 * Donoho's robust noise estimate σ̂ of the image ({@link haarNoiseSigma}); `fit` keeps the sorted
 * σ̂ of the clean training images the victim classifies correctly, per class, so thresholds are
 * quantiles at the security parameter, as for the other defenders. Fitted on clean data only.
 *
 * Why beside the paper's dictionary defender: its PSNR is a mean squared residual, dominated by the
 * poorly rebuilt edges and textures of natural images; a perturbation spread thinly over every pixel
 * (FGS at small ε, PGD L∞) raises the *median* residual far more than the mean. On the CIFAR-10
 * victim, AUROC on FGS ε = 0.05 is 0.83 for the PSNR and 0.99 for σ̂; on PGD L∞ ε = 8/255 0.62 vs 0.87
 * (`bench/input-statistic.bench.ts`). It sees nothing of sparse attacks (JSMA: 0.54, where the PSNR
 * gets 0.93) or of perturbations smooth at the pixel scale.
 *
 * `score` = σ̂ (higher = more adversarial); `rawFromScore` gives the noise level in dB below the
 * pixel range, 20·log10(maxValue / σ̂).
 */
export class NoiseDefender implements Detector {
  static readonly detectorName = 'NoiseDefender';
  readonly kind = NoiseDefender.detectorName;
  readonly label = 'input:noise';
  readonly params: Readonly<NoiseDefenderParams>;
  private state_?: NoiseState;

  constructor(
    readonly victim?: Classifier,
    params: Partial<NoiseDefenderParams> = {},
  ) {
    const p = { ...DEFAULTS, ...params };
    assert(Number.isFinite(p.sp) && p.sp >= 0 && p.sp <= 100, () => `NoiseDefender: 'sp' must be a percentage in [0, 100], got ${p.sp}`, ArgumentError);
    assert(Number.isFinite(p.maxValue) && p.maxValue > 0, () => `NoiseDefender: 'maxValue' must be positive, got ${p.maxValue}`, ArgumentError);
    this.params = Object.freeze(p);
  }

  get isFitted(): boolean {
    return this.state_ !== undefined;
  }
  get numClasses(): number {
    assertFitted(this.state_, 'NoiseDefender');
    return this.state_.numClasses;
  }

  private checkX(x: tf.Tensor4D, who: string): void {
    assert(x instanceof tf.Tensor && x.rank === 4, () => `NoiseDefender.${who}: expected x of rank 4 [n,h,w,c], got shape [${(x as tf.Tensor)?.shape}]`, ShapeError);
    const st = this.state_;
    if (st) {
      assert(
        x.shape[1] === st.h && x.shape[2] === st.w && x.shape[3] === st.c,
        () => `NoiseDefender.${who}: expected x of shape [n,${st.h},${st.w},${st.c}], got [${x.shape}]`,
        ShapeError,
      );
    }
    assert(x.shape[1] >= 2 && x.shape[2] >= 2, () => `NoiseDefender.${who}: images must be at least 2 × 2, got [${x.shape}]`, ShapeError);
  }

  /** σ̂ of every image of x, in chunks (the event loop runs between them). */
  private async sigmas(x: tf.Tensor4D): Promise<Float32Array> {
    const [n, h, w, c] = x.shape;
    const out = new Float32Array(n);
    const chunk = 2048;
    for (let i = 0; i < n; i += chunk) {
      const m = Math.min(chunk, n - i);
      const xb = i === 0 && m === n ? x : x.slice([i, 0, 0, 0], [m, -1, -1, -1]);
      try {
        out.set(haarNoiseSigma((await xb.data()) as Float32Array, m, h, w, c), i);
      } finally {
        if (xb !== x) xb.dispose();
      }
      if (i + m < n) await yieldToEventLoop();
    }
    return out;
  }

  /** Keeps the sorted clean scores per class (of the images the victim classifies correctly). Inputs are not disposed. */
  async fit(x: tf.Tensor4D, y: tf.Tensor1D, opts: FitOptions = {}): Promise<this> {
    this.state_ = undefined;
    this.checkX(x, 'fit');
    assert(y.rank === 1 && y.shape[0] === x.shape[0], () => `NoiseDefender.fit: expected y of shape [${x.shape[0]}], got [${y.shape}]`, ShapeError);
    const [n, h, w, c] = x.shape;
    const labels = Int32Array.from(await y.data());
    let maxLabel = -1;
    for (let s = 0; s < n; s++) {
      assert(Number.isInteger(labels[s]) && labels[s]! >= 0, () => `NoiseDefender.fit: label ${labels[s]} at row ${s} is not a class index`, ArgumentError);
      maxLabel = Math.max(maxLabel, labels[s]!);
    }
    const numClasses = this.victim?.numClasses ?? maxLabel + 1;
    assert(maxLabel < numClasses, () => `NoiseDefender.fit: label ${maxLabel} is outside [0, ${numClasses})`, ArgumentError);
    const keep = this.victim ? correctMask(await this.victim.predictLabels(x), labels) : undefined;
    const sig = await this.sigmas(x);
    // a class with fewer than 2 correctly classified images falls back to all of its images (sortedPerClass)
    const groups = sortedPerClass(sig, labels, numClasses, keep);
    for (let k = 0; k < numClasses; k++) {
      assert(groups[k]!.length > 0, () => `NoiseDefender.fit: class ${k} has no training image to learn from`, ArgumentError);
    }
    this.state_ = { h, w, c, numClasses, trainScores: groups };
    opts.log?.(`NoiseDefender: clean σ̂ of ${groups.reduce((a, g) => a + g.length, 0)} images, median ${median(sig.slice(), n).toFixed(4)}`);
    return this;
  }

  async predictedLabels(x: tf.Tensor4D, yPred: Labels | undefined, who = 'predictedLabels'): Promise<Int32Array> {
    assertFitted(this.state_, 'NoiseDefender');
    this.checkX(x, who.replace(/^NoiseDefender\./, ''));
    const given = labelsFrom(yPred, x.shape[0], `NoiseDefender.${who}`);
    if (given) return given;
    assert(this.victim !== undefined, () => `NoiseDefender.${who}: no victim to predict classes; pass yPred`, ArgumentError);
    return this.victim.predictLabels(x);
  }

  /** σ̂ of each image (the class does not enter the score, only the thresholds). */
  async scoreGiven(x: tf.Tensor4D, classes: Int32Array): Promise<Float32Array> {
    assertFitted(this.state_, 'NoiseDefender');
    this.checkX(x, 'score');
    assert(classes.length === x.shape[0], () => `NoiseDefender.score: expected ${x.shape[0]} classes, got ${classes.length}`, ShapeError);
    return this.sigmas(x);
  }

  async score(x: tf.Tensor4D, yPred?: Labels): Promise<Float32Array> {
    this.checkX(x, 'score');
    return this.scoreGiven(x, await this.predictedLabels(x, yPred, 'score'));
  }

  rawFromScore(score: number): number {
    return 20 * Math.log10(this.params.maxValue / score);
  }

  thresholds(sp: number): Float32Array {
    assertFitted(this.state_, 'NoiseDefender');
    return thresholdsAt(this.state_.trainScores, sp);
  }

  trainScores(k: number): Float32Array {
    assertFitted(this.state_, 'NoiseDefender');
    assert(Number.isInteger(k) && k >= 0 && k < this.state_.numClasses, () => `NoiseDefender.trainScores: class ${k} is outside [0, ${this.state_!.numClasses})`, ArgumentError);
    return this.state_.trainScores[k]!;
  }

  detect(x: tf.Tensor4D, opts?: DetectOptions): Promise<DetectionReport>;
  /** @deprecated Positional form (flags only): use `detect(x, {yPred, sp})` or `flags`. */
  detect(x: tf.Tensor4D, yPred: Labels | undefined, sp?: number): Promise<Uint8Array>;
  async detect(x: tf.Tensor4D, a?: DetectOptions | Labels, b?: number): Promise<DetectionReport | Uint8Array> {
    assertFitted(this.state_, 'NoiseDefender');
    return runDetect(this, 'NoiseDefender.detect', x, a, b, this.params.sp);
  }

  async flags(x: tf.Tensor4D, opts: DetectOptions = {}): Promise<Uint8Array> {
    return (await this.detect(x, opts)).adversarial;
  }

  /** Writes the bundle (manifest.json + weights.bin: the clean scores per class) atomically. */
  async save(dir: BundleLocation): Promise<void> {
    const st = this.state_;
    assertFitted(st, 'NoiseDefender');
    const named = scoresToTensors(st.trainScores, 'noise/trainScores');
    try {
      await saveBundle(dir, (tmp) =>
        writeBundle(tmp, { name: NoiseDefender.detectorName, params: { ...this.params }, attributes: { imageShape: [st.h, st.w, st.c], numClasses: st.numClasses } }, named),
      );
    } finally {
      disposeMap(named);
    }
  }

  /** Loads a bundle written by `save`; `ctx.victim` (a `Classifier`) predicts classes when `detect` gets none. */
  static async load(dir: BundleLocation, ctx: LoadContext = {}): Promise<NoiseDefender> {
    const { manifest, tensors, store } = await readBundle(dir, NoiseDefender.detectorName);
    try {
      const mpath = store.describe('manifest.json');
      const victim = ctx.victim as Classifier | undefined;
      const det = new NoiseDefender(victim, manifest.params as Partial<NoiseDefenderParams>);
      const attr = manifest.attributes as { imageShape?: [number, number, number]; numClasses?: number };
      if (!Array.isArray(attr.imageShape) || attr.imageShape.length !== 3 || !Number.isInteger(attr.numClasses)) {
        throw new ManifestError(`${mpath}: attributes must hold imageShape [h, w, c] and numClasses`);
      }
      const trainScores = scoresFromTensors(tensors, attr.numClasses!, 'noise/trainScores', mpath);
      if (victim) {
        assert(victim.numClasses === attr.numClasses, () => `NoiseDefender.load: the bundle has ${attr.numClasses} classes, the victim ${victim.numClasses}`, ShapeError);
      }
      const [h, w, c] = attr.imageShape;
      det.state_ = { h, w, c, numClasses: attr.numClasses!, trainScores };
      return det;
    } finally {
      disposeMap(tensors);
    }
  }

  dispose(): void {
    this.state_ = undefined;
  }
}

registerDetector(NoiseDefender.detectorName, (dir, ctx) => NoiseDefender.load(dir, ctx));
