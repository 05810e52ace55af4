import * as tf from '@tensorflow/tfjs';
import { ArgumentError, ManifestError, assert, assertFitted } from '../../errors.js';
import { Classifier } from '../../models/classifier.js';
import { readBundle, saveBundle, writeBundle, type LoadContext } from '../persistence.js';
import { subStore } from '../../io/store/memory.js';
import type { BundleLocation } from '../../io/store/router.js';
import { labelsFrom, runDetect } from '../detection.js';
import type { DetectOptions, DetectionReport, Detector, FitOptions, Labels } from '../types.js';
import {
  checkImages,
  checkLabels,
  correctMask,
  disposeMap,
  labelsOf,
  mapRows,
  scoresFromTensors,
  scoresToTensors,
  sortedPerClass,
  thresholdsAt,
} from '../latent/common.js';
import { defaultCheckpoint, loadModelCopy, saveModelCopy } from '../latent/replica.js';

/** Hyperparameters every victim-feature baseline has. */
export interface FeatureDetectorParams {
  /** Layer of the (un-fine-tuned) victim whose output is the feature (default: second-to-last). */
  layer: string;
  /** Security parameter (percent) `detect` uses when none is given (default 1). */
  sp: number;
  /** Rows per forward pass (default 1000). */
  batchSize: number;
}

/**
 * Shared machinery of the baselines: features are the victim's own activations at `layer`
 * (flattened, no fine-tuning); a subclass fits a per-class model on them and scores a feature
 * under a class. Thresholds, detection and the bundle (with a copy of the victim in `victim/`)
 * work as for the latent defender: training scores of correctly classified clean training samples,
 * per class, sorted; `thresholds(sp)` is their SP-quantile.
 */
export abstract class FeatureDetector<P extends FeatureDetectorParams> implements Detector {
  abstract readonly kind: string;
  readonly params: Readonly<P>;
  private scores_?: Float32Array[];
  private ownsVictim_ = false;

  protected constructor(
    readonly victim: Classifier,
    params: P,
  ) {
    assert(params.sp >= 0 && params.sp <= 100, () => `${new.target.name}: 'sp' must be a percentage in [0, 100], got ${params.sp}`);
    assert(Number.isInteger(params.batchSize) && params.batchSize >= 1, () => `${new.target.name}: 'batchSize' must be an integer ≥ 1, got ${params.batchSize}`);
    const names = victim.layerNames();
    assert(names.includes(params.layer), () => `${new.target.name}: 'layer' '${params.layer}' is not a layer of the victim (layers: ${names.join(', ')})`);
    this.params = Object.freeze({ ...params });
  }

  /** Default layer of a victim: its second-to-last layer. */
  protected static defaultLayer(victim: Classifier): string {
    return defaultCheckpoint(victim.model);
  }

  abstract get label(): string;
  get isFitted(): boolean {
    return this.scores_ !== undefined;
  }
  get numClasses(): number {
    return this.victim.numClasses;
  }

  /** Fits the per-class model on features `phi` ([n·p] row-major) with true labels. */
  protected abstract fitFeatures(phi: Float32Array, dim: number, labels: Int32Array): void;
  /** Scores (higher = more adversarial) of features `phi` under classes `classOf`. */
  protected abstract scoreFeatures(phi: Float32Array, dim: number, classOf: ArrayLike<number>): Float32Array;
  /** The fitted model as named tensors (caller disposes) and JSON attributes. */
  protected abstract exportModel(): { tensors: tf.NamedTensorMap; attributes: Record<string, unknown> };
  /** Restores the fitted model from a bundle's tensors (not disposed here) and attributes. */
  protected abstract importModel(tensors: tf.NamedTensorMap, attributes: Record<string, unknown>, file: string): void;

  /** The victim's features at `layer`, [n·p] row-major. */
  features(x: tf.Tensor4D): { data: Float32Array; dim: number } {
    return mapRows(x, this.victim.batchFor(this.params.batchSize), (xb) => this.victim.activations(xb, this.params.layer));
  }

  async fit(x: tf.Tensor4D, y: tf.Tensor1D, _opts: FitOptions = {}): Promise<this> {
    checkImages(x, this.victim.inputShape, `${this.kind}.fit`);
    checkLabels(y, x.shape[0], `${this.kind}.fit`);
    const yTrue = labelsOf(y);
    const k = this.numClasses;
    for (let s = 0; s < yTrue.length; s++) {
      if (!(yTrue[s] >= 0 && yTrue[s] < k)) throw new ArgumentError(`${this.kind}.fit: label ${yTrue[s]} at row ${s} is outside [0, ${k})`);
    }
    const { data, dim } = this.features(x);
    this.fitFeatures(data, dim, yTrue);
    const scores = this.scoreFeatures(data, dim, yTrue);
    const yPred = this.labels(x);
    this.scores_ = sortedPerClass(scores, yTrue, k, correctMask(yPred, yTrue));
    return this;
  }

  private labels(x: tf.Tensor4D): Int32Array {
    const p = this.victim.predict(x, this.params.batchSize);
    try {
      return labelsOf(p);
    } finally {
      p.dispose();
    }
  }

  /** The victim's labels of `x` [n]: `yPred` (tensor or array) if given, else the victim's prediction. */
  async predictedLabels(x: tf.Tensor4D, yPred: Labels | undefined, who = `${this.kind}.predictedLabels`): Promise<Int32Array> {
    checkImages(x, this.victim.inputShape, who);
    return labelsFrom(yPred, x.shape[0], who) ?? this.labels(x);
  }

  /** Scores under given classes (no victim pass), for the shared `detect`. */
  async scoreGiven(x: tf.Tensor4D, classes: Int32Array): Promise<Float32Array> {
    const { data, dim } = this.features(x);
    return this.scoreFeatures(data, dim, classes);
  }

  async score(x: tf.Tensor4D, yPred?: Labels): Promise<Float32Array> {
    assertFitted(this.scores_, this.kind);
    return this.scoreGiven(x, await this.predictedLabels(x, yPred, `${this.kind}.score`));
  }

  /** Raw score = −score (the negative distance), decreasing in `score` as the Detector contract asks. */
  rawFromScore(score: number): number {
    return -score;
  }

  thresholds(sp: number): Float32Array {
    assertFitted(this.scores_, this.kind);
    return thresholdsAt(this.scores_, sp);
  }

  trainScores(k: number): Float32Array {
    assertFitted(this.scores_, this.kind);
    assert(Number.isInteger(k) && k >= 0 && k < this.numClasses, () => `trainScores: class ${k} is outside [0, ${this.numClasses})`);
    return this.scores_[k];
  }

  /** Flags, scores and labels at `opts.sp` (default `params.sp`), see {@link Detector.detect}. */
  detect(x: tf.Tensor4D, opts?: DetectOptions): Promise<DetectionReport>;
  /** @deprecated Positional form (flags only): use `detect(x, {yPred, sp})` or `flags`. */
  detect(x: tf.Tensor4D, yPred: Labels | undefined, sp?: number): Promise<Uint8Array>;
  async detect(x: tf.Tensor4D, a?: DetectOptions | Labels, b?: number): Promise<DetectionReport | Uint8Array> {
    assertFitted(this.scores_, this.kind);
    return runDetect(this, `${this.kind}.detect`, x, a, b, this.params.sp);
  }

  /** The flags of {@link detect}, [n], 1 = adversarial. */
  async flags(x: tf.Tensor4D, opts: DetectOptions = {}): Promise<Uint8Array> {
    return (await this.detect(x, opts)).adversarial;
  }

  /** Writes manifest.json + weights.bin (model tensors, `scores/k`) and a copy of the victim in `victim/`. */
  async save(dir: BundleLocation): Promise<void> {
    const scores = this.scores_;
    assertFitted(scores, this.kind);
    await saveBundle(dir, async (tmp) => {
      const files = await saveModelCopy(this.victim.model, subStore(tmp, 'victim'));
      const { tensors, attributes } = this.exportModel();
      const st = scoresToTensors(scores);
      try {
        await writeBundle(
          tmp,
          {
            name: this.kind,
            params: { ...this.params },
            attributes: { ...attributes, numClasses: this.numClasses, thresholds: { sp: this.params.sp, values: Array.from(this.thresholds(this.params.sp)) } },
            children: { victim: 'victim/' },
          },
          { ...tensors, ...st },
          files.map((f) => `victim/${f}`),
        );
      } finally {
        disposeMap(tensors);
        disposeMap(st);
      }
    });
  }

  /** Shared loader: reads the bundle, builds the detector with `make`, restores its state. */
  protected static async loadWith<D extends FeatureDetector<any>>(
    dir: BundleLocation,
    name: string,
    ctx: LoadContext,
    make: (victim: Classifier, params: Record<string, unknown>) => D,
  ): Promise<D> {
    const { manifest, tensors, store } = await readBundle(dir, name);
    const mpath = store.describe('manifest.json');
    let owned: tf.LayersModel | undefined;
    try {
      let victim: Classifier;
      if (ctx.victim instanceof Classifier) victim = ctx.victim;
      else {
        owned = await loadModelCopy(subStore(store, 'victim'));
        victim = new Classifier(owned);
      }
      const numClasses = manifest.attributes.numClasses as number;
      if (numClasses !== victim.numClasses) throw new ManifestError(`${mpath}: bundle has ${numClasses} classes, the victim has ${victim.numClasses}`);
      const det = make(victim, manifest.params);
      det.importModel(tensors, manifest.attributes, mpath);
      det.scores_ = scoresFromTensors(tensors, numClasses);
      det.ownsVictim_ = owned !== undefined;
      return det;
    } catch (e) {
      owned?.dispose();
      throw e;
    } finally {
      disposeMap(tensors);
    }
  }

  /** Frees the victim when it was loaded from the bundle's copy; the fitted model is plain arrays. */
  dispose(): void {
    this.scores_ = undefined;
    if (this.ownsVictim_) {
      this.victim.model.dispose();
      this.ownsVictim_ = false;
    }
  }
}

/** Reads a named tensor of a bundle as Float32Array, or throws `ManifestError` naming it. */
export function bundleArray(tensors: tf.NamedTensorMap, name: string, file: string): Float32Array {
  const t = tensors[name];
  if (!t) throw new ManifestError(`${file}: missing weight '${name}'`);
  return Float32Array.from(t.dataSync() as Float32Array);
}
