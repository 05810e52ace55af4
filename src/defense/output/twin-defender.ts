import * as tf from '@tensorflow/tfjs';
import { ArgumentError, ManifestError, ShapeError, assert, assertFitted } from '../../errors.js';
import { Classifier } from '../../models/classifier.js';
import { subStore } from '../../io/store/memory.js';
import type { BundleLocation } from '../../io/store/router.js';
import { readBundle, registerDetector, saveBundle, writeBundle, type LoadContext } from '../persistence.js';
import { labelsFrom, runDetect } from '../detection.js';
import { type DetectOptions, type DetectionReport, type Detector, type FitOptions, type Labels, type ScoreSurrogate } from '../types.js';
import { correctMask, disposeMap, mapRows, perClassSurrogate, scoresFromTensors, scoresToTensors, sortedPerClass, thresholdsAt } from '../latent/common.js';
import { loadModelCopy, saveModelCopy } from '../latent/replica.js';
import { floatsFingerprint } from '../../util/fingerprint.js';

/** Hyperparameters of a {@link TwinDefender}. */
export interface TwinDefenderParams {
  /** Security parameter in percent: the share of clean training images of a class flagged (default 1). */
  sp: number;
  /** Images per forward pass (default 256; fewer where the twin's activations would not fit). */
  batchSize: number;
}

const DEFAULTS: Readonly<TwinDefenderParams> = Object.freeze({ sp: 1, batchSize: 256 });

interface TwinState {
  numClasses: number;
  inputShape: [number, number, number];
  trainScores: Float32Array[];
}

/** A short fingerprint of a model's weights (16 hex digits, {@link floatsFingerprint}): which twin a bundle holds. */
export function weightsFingerprint(model: tf.LayersModel): string {
  return floatsFingerprint(model.getWeights().map((w) => w.dataSync() as Float32Array));
}

/**
 * A checkpoint outside the victim: a second classifier (the *twin*) trained on the same clean data, and how
 * surprised it is by the victim's label. Score of an image x with victim label ŷ: −log p_twin(ŷ | x)
 * (higher = more adversarial); `fit` keeps the sorted scores of the clean training images the victim
 * classifies correctly, per class, so thresholds are quantiles at the security parameter as for the
 * other defenders. Nothing adversarial is seen; the twin is any model with the victim's input shape and
 * classes (another training run, an earlier version of the deployed model).
 *
 * Why: an attack crafted on the victim that only just crosses its boundary often does not cross the
 * twin's, while a clean image near the victim's boundary is ambiguous to both. On ImageNet-10 FGS ε = 0.01
 * — where every statistic of the victim alone stops at AUROC ≈ 0.84 — the twin's surprise reaches 0.897
 * (`bench/twin-disagreement.bench.ts`). Its limits: attacks that transfer (large ε, PGD) fool both networks
 * alike, it doubles the inference cost, and an adaptive attacker attacks both (`surrogate`).
 *
 * The bundle holds a copy of the twin (`twin/`), so a saved detector is self-contained.
 */
export class TwinDefender implements Detector {
  static readonly detectorName = 'TwinDefender';
  readonly kind = TwinDefender.detectorName;
  readonly label = 'output:twin';
  /** The hyperparameters and the twin's weights fingerprint (`twin`), so that a changed twin is not mistaken for this one. */
  readonly params: Readonly<TwinDefenderParams & { twin: string }>;
  private state_?: TwinState;
  private ownsTwin_ = false;

  constructor(
    readonly victim: Classifier,
    readonly twin: Classifier,
    params: Partial<TwinDefenderParams> = {},
  ) {
    assert(victim !== undefined && typeof victim.logits === 'function', () => 'TwinDefender: a victim Classifier is required', ArgumentError);
    assert(twin !== undefined && typeof twin.logits === 'function', () => 'TwinDefender: a twin Classifier is required', ArgumentError);
    assert(twin !== victim && twin.model !== victim.model, () => 'TwinDefender: the twin must be another model than the victim', ArgumentError);
    assert(
      twin.inputShape.join() === victim.inputShape.join() && twin.numClasses === victim.numClasses,
      () => `TwinDefender: the twin takes [${twin.inputShape}] images into ${twin.numClasses} classes, the victim [${victim.inputShape}] into ${victim.numClasses}; they must match`,
      ShapeError,
    );
    const p = { ...DEFAULTS, ...params };
    assert(Number.isFinite(p.sp) && p.sp >= 0 && p.sp <= 100, () => `TwinDefender: 'sp' must be a percentage in [0, 100], got ${p.sp}`, ArgumentError);
    assert(Number.isInteger(p.batchSize) && p.batchSize >= 1, () => `TwinDefender: 'batchSize' must be a positive integer, got ${p.batchSize}`, ArgumentError);
    this.params = Object.freeze({ sp: p.sp, batchSize: p.batchSize, twin: weightsFingerprint(twin.model) });
  }

  get isFitted(): boolean {
    return this.state_ !== undefined;
  }
  get numClasses(): number {
    assertFitted(this.state_, 'TwinDefender');
    return this.state_.numClasses;
  }

  private checkX(x: tf.Tensor4D, who: string): void {
    assert(x instanceof tf.Tensor && x.rank === 4, () => `TwinDefender.${who}: expected x of rank 4 [n,h,w,c], got shape [${(x as tf.Tensor)?.shape}]`, ShapeError);
    const want = this.victim.inputShape;
    assert(
      x.shape[1] === want[0] && x.shape[2] === want[1] && x.shape[3] === want[2],
      () => `TwinDefender.${who}: expected x of shape [n,${want.join(',')}] (the victim's input), got [${x.shape}]`,
      ShapeError,
    );
  }

  /** The twin's log-probabilities of every image, [n·K] row-major, in batches. */
  private logProbs(x: tf.Tensor4D): Float32Array {
    return mapRows(x, this.twin.batchFor(this.params.batchSize), (xb) => tf.logSoftmax(this.twin.logits(xb))).data;
  }

  /** −log p_twin(class | x) of every image, from its log-probabilities. */
  private surprise(logProbs: Float32Array, classes: Int32Array): Float32Array {
    const k = this.twin.numClasses;
    return Float32Array.from(classes, (c, s) => -logProbs[s * k + c]!);
  }

  /** Keeps the sorted clean scores per class (of the images the victim classifies correctly). Inputs are not disposed. */
  async fit(x: tf.Tensor4D, y: tf.Tensor1D, opts: FitOptions = {}): Promise<this> {
    this.state_ = undefined;
    this.checkX(x, 'fit');
    assert(y.rank === 1 && y.shape[0] === x.shape[0], () => `TwinDefender.fit: expected y of shape [${x.shape[0]}], got [${y.shape}]`, ShapeError);
    const numClasses = this.victim.numClasses;
    const labels = Int32Array.from(await y.data());
    for (let s = 0; s < labels.length; s++) {
      assert(Number.isInteger(labels[s]) && labels[s]! >= 0 && labels[s]! < numClasses, () => `TwinDefender.fit: label ${labels[s]} at row ${s} is outside [0, ${numClasses})`, ArgumentError);
    }
    const keep = correctMask(await this.victim.predictLabels(x), labels);
    const lp = this.logProbs(x);
    const scores = this.surprise(lp, labels);
    // a class with fewer than 2 correctly classified images falls back to all of its images (sortedPerClass)
    const groups = sortedPerClass(scores, labels, numClasses, keep);
    for (let c = 0; c < numClasses; c++) {
      assert(groups[c]!.length > 0, () => `TwinDefender.fit: class ${c} has no training image to learn from`, ArgumentError);
    }
    const [, h, w, ch] = x.shape;
    this.state_ = { numClasses, inputShape: [h, w, ch], trainScores: groups };
    // the twin is right where the label is its most likely class: its surprise there is the smallest of the row
    const k = this.twin.numClasses;
    let agree = 0;
    for (let r = 0; r < labels.length; r++) {
      const row = lp.subarray(r * k, (r + 1) * k);
      if (row.every((v) => v <= row[labels[r]!]!)) agree++;
    }
    opts.log?.(`TwinDefender: clean twin surprise of ${groups.reduce((a, g) => a + g.length, 0)} images; the twin classifies ${((100 * agree) / Math.max(labels.length, 1)).toFixed(1)} % of them correctly`);
    return this;
  }

  async predictedLabels(x: tf.Tensor4D, yPred: Labels | undefined, who = 'predictedLabels'): Promise<Int32Array> {
    return labelsFrom(yPred, x.shape[0], `TwinDefender.${who}`) ?? this.victim.predictLabels(x);
  }

  /** −log p_twin(class | x) of each image under the given class. */
  async scoreGiven(x: tf.Tensor4D, classes: Int32Array): Promise<Float32Array> {
    assertFitted(this.state_, 'TwinDefender');
    this.checkX(x, 'score');
    assert(classes.length === x.shape[0], () => `TwinDefender.score: expected ${x.shape[0]} classes, got ${classes.length}`, ShapeError);
    const k = this.state_.numClasses;
    for (let s = 0; s < classes.length; s++) {
      assert(Number.isInteger(classes[s]) && classes[s]! >= 0 && classes[s]! < k, () => `TwinDefender.score: class ${classes[s]} of row ${s} is outside [0, ${k})`, ArgumentError);
    }
    return this.surprise(this.logProbs(x), classes);
  }

  async score(x: tf.Tensor4D, yPred?: Labels): Promise<Float32Array> {
    assertFitted(this.state_, 'TwinDefender');
    this.checkX(x, 'score');
    return this.scoreGiven(x, await this.predictedLabels(x, yPred, 'score'));
  }

  /** The twin's probability of the victim's label, p_twin(ŷ | x). */
  rawFromScore(score: number): number {
    return Math.exp(-score);
  }

  thresholds(sp: number): Float32Array {
    assertFitted(this.state_, 'TwinDefender');
    return thresholdsAt(this.state_.trainScores, sp);
  }

  trainScores(k: number): Float32Array {
    assertFitted(this.state_, 'TwinDefender');
    assert(Number.isInteger(k) && k >= 0 && k < this.state_.numClasses, () => `TwinDefender.trainScores: class ${k} is outside [0, ${this.state_!.numClasses})`, ArgumentError);
    return this.state_.trainScores[k]!;
  }

  /**
   * The score as a differentiable function of the image (for adaptive attacks, which must then fool the twin
   * too): one component, −log p_twin(class | x); `excess` = (score − threshold of the class at `sp`) / (the
   * class's clean inter-quartile range of scores), ≤ 0 ⇔ not flagged.
   */
  surrogate(opts: { sp?: number } = {}): ScoreSurrogate {
    const st = this.state_;
    assertFitted(st, 'TwinDefender');
    const sp = opts.sp ?? this.params.sp;
    const twin = this.twin;
    const scores = (x: tf.Tensor4D, classes: tf.Tensor2D): tf.Tensor2D =>
      tf.tidy(() => tf.neg(tf.sum(tf.mul(tf.logSoftmax(twin.logits(x)), classes), 1)).expandDims(1) as tf.Tensor2D);
    return perClassSurrogate(this.label, 'twin', sp, this.thresholds(sp), st.trainScores, scores);
  }

  detect(x: tf.Tensor4D, opts?: DetectOptions): Promise<DetectionReport>;
  /** @deprecated Positional form (flags only): use `detect(x, {yPred, sp})` or `flags`. */
  detect(x: tf.Tensor4D, yPred: Labels | undefined, sp?: number): Promise<Uint8Array>;
  async detect(x: tf.Tensor4D, a?: DetectOptions | Labels, b?: number): Promise<DetectionReport | Uint8Array> {
    assertFitted(this.state_, 'TwinDefender');
    return runDetect(this, 'TwinDefender.detect', x, a, b, this.params.sp);
  }

  async flags(x: tf.Tensor4D, opts: DetectOptions = {}): Promise<Uint8Array> {
    return (await this.detect(x, opts)).adversarial;
  }

  /** Writes the bundle atomically: manifest.json + weights.bin (the clean scores per class) and a copy of the twin in `twin/`. */
  async save(dir: BundleLocation): Promise<void> {
    const st = this.state_;
    assertFitted(st, 'TwinDefender');
    const named = scoresToTensors(st.trainScores, 'twin/trainScores');
    try {
      await saveBundle(dir, async (tmp) => {
        const files = await saveModelCopy(this.twin.model, subStore(tmp, 'twin'));
        await writeBundle(
          tmp,
          {
            name: TwinDefender.detectorName,
            params: { sp: this.params.sp, batchSize: this.params.batchSize },
            attributes: { imageShape: st.inputShape, numClasses: st.numClasses, twin: this.params.twin },
            children: { twin: 'twin/' },
          },
          named,
          files.map((f) => `twin/${f}`),
        );
      });
    } finally {
      disposeMap(named);
    }
  }

  /** Loads a bundle written by `save`; needs `ctx.victim` (the `Classifier` whose labels it checks); the twin comes from the bundle. */
  static async load(dir: BundleLocation, ctx: LoadContext = {}): Promise<TwinDefender> {
    const { manifest, tensors, store } = await readBundle(dir, TwinDefender.detectorName);
    let owned: tf.LayersModel | undefined;
    try {
      const mpath = store.describe('manifest.json');
      const victim = ctx.victim as Classifier | undefined;
      if (!victim) throw new ArgumentError(`TwinDefender.load: ${mpath} needs the victim (load it through PCLDetector.load, or pass ctx.victim)`);
      const attr = manifest.attributes as { imageShape?: [number, number, number]; numClasses?: number; twin?: string };
      if (!Array.isArray(attr.imageShape) || attr.imageShape.length !== 3 || !Number.isInteger(attr.numClasses) || typeof attr.twin !== 'string') {
        throw new ManifestError(`${mpath}: attributes must hold imageShape [h, w, c], numClasses and the twin's fingerprint`);
      }
      assert(victim.numClasses === attr.numClasses, () => `TwinDefender.load: the bundle has ${attr.numClasses} classes, the victim ${victim.numClasses}`, ShapeError);
      owned = await loadModelCopy(subStore(store, 'twin'));
      const det = new TwinDefender(victim, new Classifier(owned), manifest.params as Partial<TwinDefenderParams>);
      if (det.params.twin !== attr.twin) throw new ManifestError(`${mpath}: the twin in twin/ (weights ${det.params.twin}) is not the one the bundle was fitted with (${attr.twin})`);
      const trainScores = scoresFromTensors(tensors, attr.numClasses!, 'twin/trainScores', mpath);
      det.state_ = { numClasses: attr.numClasses!, inputShape: attr.imageShape, trainScores };
      det.ownsTwin_ = true;
      return det;
    } catch (e) {
      owned?.dispose();
      throw e;
    } finally {
      disposeMap(tensors);
    }
  }

  /** Frees the fitted state, and the twin when it was loaded from the bundle's copy (a twin passed in stays the caller's). */
  dispose(): void {
    this.state_ = undefined;
    if (this.ownsTwin_) {
      this.twin.model.dispose();
      this.ownsTwin_ = false;
    }
  }
}

registerDetector(TwinDefender.detectorName, (dir, ctx) => TwinDefender.load(dir, ctx));
