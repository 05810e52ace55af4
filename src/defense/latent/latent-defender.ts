import * as tf from '@tensorflow/tfjs';
import { ArgumentError, ShapeError, assert, assertFitted } from '../../errors.js';
import type { Classifier } from '../../models/classifier.js';
import { registerDetector, type LoadContext } from '../persistence.js';
import type { BundleLocation } from '../../io/store/router.js';
import { checkSp, labelsFrom, runDetect } from '../detection.js';
import type { DetectOptions, DetectionReport, Detector, FitOptions, Labels } from '../types.js';
import { checkImages, checkLabels, correctMask, labelsOf, mapRows, thresholdsAt } from './common.js';
import { fineTuneReplica } from './fine-tune.js';
import { fitHdda, hddaLogLikBatch, type HddaClass, type HddaOptions } from './hdda.js';
import { readLatentBundle, saveLatentBundle } from './latent-bundle.js';
import { LATENT_DEFAULTS, validateLatentParams, type LatentDefenderParams } from './params.js';
import { buildReplica, defaultCheckpoint, disposeReplica, forwardReplica, rescaleAfterCheckpoint, type Replica } from './replica.js';
import { scoreFeatures, scoringUsesReplicaOutput, trainingScores, type ScoreComponents } from './scoring.js';
import type { LatentFitInfo, LatentState } from './state.js';
import { LatentScoreSurrogate } from './surrogate.js';

export { fineTuneSettingsFromMetrics, type FineTuneMode, type LatentDefenderParams, type OptimizerName } from './params.js';
export type { EpochLog } from './fine-tune.js';
export type { LatentFitInfo } from './state.js';


/**
 * PCL latent defender for one checkpoint layer (PCL-METHOD.md §2).
 *
 * `fit` (clean training data only): (1) replicates the victim with an L2 normalisation after the
 * checkpoint layer (the next layer's kernel absorbs the mean feature norm, see
 * {@link rescaleAfterCheckpoint}, so the replica starts close to the victim); (2) fine-tunes the replica with cross-entropy + γ·L+ ({@link centerLoss};
 * trainable centres initialised to the class means of the normalised features); (3) fits an HDDA
 * density per class ({@link fitHddaClass}) on the fine-tuned features φ(x) of the training data
 * (grouped by true label); (4) keeps, per class, the sorted scores of the training samples that
 * the victim classifies correctly, so `thresholds(sp)` is a quantile and needs no refit.
 *
 * `score(x)` = −log p(φ(x) | ŷ) with ŷ the **victim's** prediction: higher = more adversarial;
 * `rawFromScore` gives back the log-likelihood the CLI prints. With `scoring: 'ratio'` the score is
 * −log [p(φ|ŷ) / Σ_{k≠ŷ} p(φ|k)], with `'combined'` the larger −log p-value of the two, with
 * `'disagreement'` −log p_replica(ŷ | x) (the replica's probability of the victim's class) and with
 * `'combined-disagreement'` the largest −log p-value of all three (see {@link LatentScoring});
 * `rawFromScore` then gives the log-ratio / the log p-value / log p_replica(ŷ | x).
 *
 * The replica must come from a chain model (each layer feeding the next, as tf.sequential builds).
 * @see Rouhani et al., "Towards safe deep learning: unsupervised defense against generic adversarial attacks" (2018).
 */
export class LatentDefender implements Detector {
  static readonly detectorName = 'LatentDefender';
  readonly kind = LatentDefender.detectorName;
  readonly params: Readonly<LatentDefenderParams>;
  private state_?: LatentState;
  /** True when `load` built the victim from the bundle's copy (then `dispose` frees it too). */
  private ownsVictim_ = false;

  constructor(
    readonly victim: Classifier,
    params: Partial<LatentDefenderParams> = {},
  ) {
    const checkpointLayer = params.checkpointLayer ?? defaultCheckpoint(victim.model);
    this.params = Object.freeze(validateLatentParams({ ...LATENT_DEFAULTS, ...params, checkpointLayer }));
  }

  /** 'latent:LAYER' with the default scoring, 'latent:LAYER:SCORING' otherwise (unique in reports). */
  get label(): string {
    const base = `latent:${this.params.checkpointLayer}`;
    return this.params.scoring === LATENT_DEFAULTS.scoring ? base : `${base}:${this.params.scoring}`;
  }
  get isFitted(): boolean {
    return this.state_ !== undefined;
  }
  get numClasses(): number {
    return this.victim.numClasses;
  }
  /** What the last fit measured (loss terms per epoch, HDDA dimensions, timings). */
  get fitInfo(): LatentFitInfo {
    assertFitted(this.state_, 'LatentDefender');
    return this.state_.info;
  }
  /** The fitted HDDA class densities. */
  get densities(): readonly HddaClass[] {
    assertFitted(this.state_, 'LatentDefender');
    return this.state_.hdda;
  }

  /**
   * The fine-tuned replica (two outputs: normalised checkpoint features φ and the victim-like
   * output). Owned by the defender: do not dispose it or change its weights. For white-box
   * (adaptive) attacks that differentiate through the defender.
   */
  get replica(): Readonly<Replica> {
    assertFitted(this.state_, 'LatentDefender');
    return this.state_.replica;
  }
  /**
   * Per-class sorted clean training scores of the components of the `'combined'` and
   * `'combined-disagreement'` scorings (undefined for the single-component scorings, whose
   * component scores are {@link trainScores}).
   */
  get scoreComponents(): Readonly<ScoreComponents> | undefined {
    assertFitted(this.state_, 'LatentDefender');
    return this.state_.components;
  }

  private hddaOptions(): HddaOptions {
    return { dims: this.params.hddaDims, screeThreshold: this.params.screeThreshold, eigenFloor: this.params.eigenFloor };
  }

  async fit(x: tf.Tensor4D, y: tf.Tensor1D, opts: FitOptions = {}): Promise<this> {
    checkImages(x, this.victim.inputShape, 'LatentDefender.fit');
    checkLabels(y, x.shape[0], 'LatentDefender.fit');
    const yTrue = labelsOf(y);
    const k = this.numClasses;
    for (let s = 0; s < yTrue.length; s++) {
      if (!(yTrue[s] >= 0 && yTrue[s] < k)) throw new ArgumentError(`LatentDefender.fit: label ${yTrue[s]} at row ${s} is outside [0, ${k})`);
    }
    const replica = await buildReplica(this.victim.model, this.params.checkpointLayer);
    try {
      const t0 = performance.now();
      const { data: h, dim: hDim } = mapRows(x, this.victim.batchFor(this.params.scoreBatchSize), (xb) => this.victim.activations(xb, this.params.checkpointLayer));
      let normSum = 0;
      for (let s = 0; s < yTrue.length; s++) {
        let q = 0;
        for (let j = 0; j < hDim; j++) q += h[s * hDim + j] ** 2;
        normSum += Math.sqrt(q);
      }
      const meanNorm = normSum / yTrue.length;
      if (meanNorm > 0) rescaleAfterCheckpoint(replica, meanNorm);
      const epochs = this.params.fineTune === 'none' ? [] : await fineTuneReplica(replica, x, y, yTrue, k, { ...this.params, scoreBatchSize: this.victim.batchFor(this.params.scoreBatchSize) }, opts);
      const t1 = performance.now();
      const { phi, dim, logProbs } = forwardReplica(replica, x, this.victim.batchFor(this.params.scoreBatchSize), scoringUsesReplicaOutput(this.params.scoring));
      const hdda = fitHdda(phi, dim, yTrue, k, this.hddaOptions());
      const yPred = this.predictLabels(x);
      const correct = correctMask(yPred, yTrue);
      const { perClass, components } = trainingScores(hdda, phi, logProbs, yTrue, correct, k, this.params.scoring);
      const t2 = performance.now();
      // refit: free the previous replica only; the victim (even the bundle's own copy) stays in use
      if (this.state_) disposeReplica(this.state_.replica);
      this.state_ = {
        replica,
        hdda,
        scores: perClass,
        components,
        info: {
          epochs,
          dims: hdda.map((h) => h.d),
          samples: hdda.map((h) => h.n),
          meanFeatureNorm: meanNorm,
          fineTuneSeconds: (t1 - t0) / 1000,
          densitySeconds: (t2 - t1) / 1000,
        },
      };
      return this;
    } catch (e) {
      disposeReplica(replica);
      throw e;
    }
  }

  private predictLabels(x: tf.Tensor4D): Int32Array {
    const p = this.victim.predict(x, this.victim.batchFor(this.params.scoreBatchSize));
    try {
      return labelsOf(p);
    } finally {
      p.dispose();
    }
  }

  /** Normalised checkpoint features φ(x) of the fine-tuned replica, [n·p] row-major. */
  features(x: tf.Tensor4D): { data: Float32Array; dim: number } {
    const st = this.state_;
    assertFitted(st, 'LatentDefender');
    checkImages(x, this.victim.inputShape, 'LatentDefender.features');
    return mapRows(x, this.victim.batchFor(this.params.scoreBatchSize), (xb) => (st.replica.model.apply(xb) as tf.Tensor[])[0]);
  }

  /** Class predictions of the fine-tuned replica [n] (for checking it still classifies like the victim). */
  replicaPredict(x: tf.Tensor4D): Int32Array {
    const st = this.state_;
    assertFitted(st, 'LatentDefender');
    checkImages(x, this.victim.inputShape, 'LatentDefender.replicaPredict');
    const { data } = mapRows(x, this.victim.batchFor(this.params.scoreBatchSize), (xb) => tf.argMax((st.replica.model.apply(xb) as tf.Tensor[])[1], 1).toFloat());
    return Int32Array.from(data);
  }

  /** Scores under explicitly given classes `classOf` ([n]); no victim pass. */
  scoreUnder(x: tf.Tensor4D, classOf: ArrayLike<number>): Float32Array {
    const st = this.state_;
    assertFitted(st, 'LatentDefender');
    checkImages(x, this.victim.inputShape, 'LatentDefender.score');
    assert(classOf.length === x.shape[0], () => `LatentDefender.score: expected ${x.shape[0]} labels, got ${classOf.length}`, ShapeError);
    const { phi, logProbs } = forwardReplica(st.replica, x, this.victim.batchFor(this.params.scoreBatchSize), scoringUsesReplicaOutput(this.params.scoring));
    return scoreFeatures(st.hdda, phi, logProbs, classOf, this.numClasses, this.params.scoring, st.components);
  }

  /**
   * The fine-tuned replica's log-probabilities log p_replica(k | x), [n·K] row-major (log-softmax of
   * its output). `'disagreement'` scores are −(this at the victim's class). Inputs are not disposed.
   */
  replicaLogProbs(x: tf.Tensor4D): Float32Array {
    const st = this.state_;
    assertFitted(st, 'LatentDefender');
    checkImages(x, this.victim.inputShape, 'LatentDefender.replicaLogProbs');
    return forwardReplica(st.replica, x, this.victim.batchFor(this.params.scoreBatchSize), true).logProbs!;
  }

  /**
   * log p(φ(x) | class) under the fitted HDDA density of `classes[i]` for each row: the raw score
   * the CLI prints, whatever the `scoring`. Inputs are not disposed.
   */
  logLikelihood(x: tf.Tensor4D, classes: ArrayLike<number>): Float32Array {
    const st = this.state_;
    assertFitted(st, 'LatentDefender');
    checkImages(x, this.victim.inputShape, 'LatentDefender.logLikelihood');
    assert(classes.length === x.shape[0], () => `LatentDefender.logLikelihood: expected ${x.shape[0]} labels, got ${classes.length}`, ShapeError);
    return Float32Array.from(hddaLogLikBatch(st.hdda, this.features(x).data, classes));
  }

  async score(x: tf.Tensor4D, yPred?: Labels): Promise<Float32Array> {
    assertFitted(this.state_, 'LatentDefender');
    return this.scoreUnder(x, await this.predictedLabels(x, yPred, 'LatentDefender.score'));
  }

  /** The victim's labels of `x` [n]: `yPred` (tensor or array) if given, else the victim's prediction. */
  async predictedLabels(x: tf.Tensor4D, yPred: Labels | undefined, who = 'LatentDefender.predictedLabels'): Promise<Int32Array> {
    checkImages(x, this.victim.inputShape, who);
    return labelsFrom(yPred, x.shape[0], who) ?? this.predictLabels(x);
  }

  /** {@link scoreUnder}, for the shared `detect`. */
  async scoreGiven(x: tf.Tensor4D, classes: Int32Array): Promise<Float32Array> {
    return this.scoreUnder(x, classes);
  }

  rawFromScore(score: number): number {
    return -score;
  }

  thresholds(sp: number): Float32Array {
    assertFitted(this.state_, 'LatentDefender');
    return thresholdsAt(this.state_.scores, sp);
  }

  trainScores(k: number): Float32Array {
    assertFitted(this.state_, 'LatentDefender');
    assert(Number.isInteger(k) && k >= 0 && k < this.numClasses, () => `trainScores: class ${k} is outside [0, ${this.numClasses})`);
    return this.state_.scores[k];
  }

  /** Flags, scores and labels at `opts.sp` (default `params.sp`), see {@link Detector.detect}. */
  detect(x: tf.Tensor4D, opts?: DetectOptions): Promise<DetectionReport>;
  /** @deprecated Positional form (flags only): use `detect(x, {yPred, sp})` or `flags`. */
  detect(x: tf.Tensor4D, yPred: Labels | undefined, sp?: number): Promise<Uint8Array>;
  async detect(x: tf.Tensor4D, a?: DetectOptions | Labels, b?: number): Promise<DetectionReport | Uint8Array> {
    assertFitted(this.state_, 'LatentDefender');
    return runDetect(this, 'LatentDefender.detect', x, a, b, this.params.sp);
  }

  /** The flags of {@link detect}, [n], 1 = adversarial. */
  async flags(x: tf.Tensor4D, opts: DetectOptions = {}): Promise<Uint8Array> {
    return (await this.detect(x, opts)).adversarial;
  }

  /**
   * The differentiable surrogate of this defender's score at `opts.sp` (default `params.sp`): the
   * same components, per-class thresholds and tail scales as its decision (see `surrogate.ts`). For
   * adaptive attacks. The caller owns it (`dispose()`); it is valid while this defender is.
   */
  surrogate(opts: { sp?: number } = {}): LatentScoreSurrogate {
    const st = this.state_;
    assertFitted(st, 'LatentDefender');
    return new LatentScoreSurrogate(this, st.replica, st.hdda, checkSp('LatentDefender.surrogate', opts.sp ?? this.params.sp));
  }

  /** Writes the bundle (see `latent-bundle.ts`): the replica, the HDDA densities, the clean scores and a copy of the victim. */
  async save(dir: BundleLocation): Promise<void> {
    assertFitted(this.state_, 'LatentDefender');
    await saveLatentBundle(dir, LatentDefender.detectorName, this.victim, this.params, this.state_);
  }

  /**
   * Loads a bundle written by {@link save}. The victim comes from `ctx.victim` (a `Classifier`)
   * if given, else from the bundle's own copy. Throws `ManifestError` naming the file or field.
   */
  static async load(dir: BundleLocation, ctx: LoadContext = {}): Promise<LatentDefender> {
    let det: LatentDefender | undefined;
    const r = await readLatentBundle(dir, LatentDefender.detectorName, ctx, (p, victim) => (det = new LatentDefender(victim, p)).params);
    det!.state_ = r.state;
    det!.ownsVictim_ = r.ownsVictim;
    return det!;
  }

  /** Frees the replica (and the victim, when it was loaded from the bundle's copy). */
  dispose(): void {
    if (this.state_) {
      disposeReplica(this.state_.replica);
      this.state_ = undefined;
    }
    if (this.ownsVictim_) {
      this.victim.model.dispose();
      this.ownsVictim_ = false;
    }
  }
}

registerDetector(LatentDefender.detectorName, (dir, ctx) => LatentDefender.load(dir, ctx));