import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ArgumentError, ManifestError, ShapeError, assert, assertFitted } from '../../errors.js';
import { Classifier } from '../../models/classifier.js';
import { progressBar } from '../../util/progress.js';
import { Rng } from '../../util/rng.js';
import { readBundle, registerDetector, writeBundle, writeDirAtomic, type LoadContext } from '../persistence.js';
import type { Detector, FitOptions } from '../types.js';
import { centerLoss, type SpreadReduction } from './center-loss.js';
import {
  checkImages,
  checkLabels,
  disposeMap,
  flagsFrom,
  labelsOf,
  mapRows,
  scoresFromTensors,
  scoresToTensors,
  sortedPerClass,
  thresholdsAt,
} from './common.js';
import { HDDA_DEFAULTS, fitHdda, hddaLogLikAll, hddaLogLikBatch, validateHddaOptions, type HddaClass, type HddaOptions } from './hdda.js';
import {
  LATENT_SCORINGS,
  baseScores,
  disagreementScores,
  latentScores,
  scoringNeedsComponents,
  scoringUsesReplicaOutput,
  type LatentScoring,
  type ScoreComponents,
} from './scoring.js';
import {
  buildReplica,
  defaultCheckpoint,
  disposeReplica,
  loadModelCopy,
  rescaleAfterCheckpoint,
  saveModelCopy,
  type Replica,
} from './replica.js';

/** Optimizers the fine-tuning can use (the victim's own, from its metrics.json). */
export type OptimizerName = 'adam' | 'sgd' | 'rmsprop' | 'adagrad' | 'adamax';

/** What fine-tuning the replica gets (`'centre'` is PCL; the others are ablations). */
export type FineTuneMode = 'centre' | 'ce' | 'none';

/** Hyperparameters of a {@link LatentDefender}. */
export interface LatentDefenderParams {
  /** Checkpoint layer name in the victim (default: the second-to-last layer). */
  checkpointLayer: string;
  /** γ, the weight of the centre loss L+ (default 0.01). */
  gamma: number;
  /** 'centre' = CE + γ·L+ (PCL, default); 'ce' = cross-entropy only; 'none' = no fine-tuning. */
  fineTune: FineTuneMode;
  /** Reduction of L+'s spread term over the other classes: 'sum' (Eq. 1 as printed, default) or 'mean'. */
  spread: SpreadReduction;
  /** Fine-tuning epochs over the training data (default 3). */
  epochs: number;
  /** Fine-tuning batch size (default 128). */
  batchSize: number;
  /** Fine-tuning learning rate: the victim's / 10 (default 1e-4 = Adam 1e-3 / 10). */
  lr: number;
  /** Fine-tuning optimizer: the victim's (default 'adam'). */
  optimizer: OptimizerName;
  /** HDDA intrinsic dimension ('auto' = Cattell's scree test, default). */
  hddaDims: number | 'auto';
  /** Cattell scree threshold (default 0.2). */
  screeThreshold: number;
  /** Relative eigenvalue floor of HDDA (default 1e-6; see hdda.ts). */
  eigenFloor: number;
  /**
   * How class log-likelihoods become the score (see {@link LatentScoring}): 'likelihood' = −log p(φ|ŷ)
   * (PCL as described), 'ratio' = −log [p(φ|ŷ) / Σ_{k≠ŷ} p(φ|k)], 'combined' = the larger
   * −log p-value of the two, 'disagreement' = −log p_replica(ŷ|x) (the fine-tuned replica's
   * probability of the victim's class), 'combined-disagreement' = the largest −log p-value of
   * likelihood, ratio and disagreement (default: equal to or better than 'combined' on every attack on
   * MNIST and much better on CIFAR-10 against JSMA, DeepFool and C&W, see bench/results/cifar-latent.md). Changing it needs a refit (the calibration scores depend on it).
   */
  scoring: LatentScoring;
  /** Security parameter (percent) `detect` uses when none is given (default 1). */
  sp: number;
  /** Seed of the fine-tuning batch order (default 0). */
  seed: number;
  /** Rows per forward pass when scoring (default 1000). */
  scoreBatchSize: number;
}

const DEFAULTS: Readonly<Omit<LatentDefenderParams, 'checkpointLayer'>> = Object.freeze({
  gamma: 0.01,
  fineTune: 'centre',
  spread: 'sum',
  epochs: 3,
  batchSize: 128,
  lr: 1e-4,
  optimizer: 'adam',
  hddaDims: HDDA_DEFAULTS.dims,
  screeThreshold: HDDA_DEFAULTS.screeThreshold,
  eigenFloor: HDDA_DEFAULTS.eigenFloor,
  scoring: 'combined-disagreement',
  sp: 1,
  seed: 0,
  scoreBatchSize: 1000,
});

const OPTIMIZERS: readonly OptimizerName[] = ['adam', 'sgd', 'rmsprop', 'adagrad', 'adamax'];

function validateParams(p: LatentDefenderParams): LatentDefenderParams {
  assert(p.gamma >= 0 && Number.isFinite(p.gamma), () => `LatentDefender: 'gamma' must be a finite number ≥ 0, got ${p.gamma}`);
  assert(['centre', 'ce', 'none'].includes(p.fineTune), () => `LatentDefender: 'fineTune' must be 'centre', 'ce' or 'none', got '${p.fineTune}'`);
  assert(p.spread === 'sum' || p.spread === 'mean', () => `LatentDefender: 'spread' must be 'sum' or 'mean', got '${p.spread}'`);
  assert(Number.isInteger(p.epochs) && p.epochs >= 0, () => `LatentDefender: 'epochs' must be an integer ≥ 0, got ${p.epochs}`);
  assert(Number.isInteger(p.batchSize) && p.batchSize >= 1, () => `LatentDefender: 'batchSize' must be an integer ≥ 1, got ${p.batchSize}`);
  assert(p.lr > 0 && Number.isFinite(p.lr), () => `LatentDefender: 'lr' must be > 0, got ${p.lr}`);
  assert(OPTIMIZERS.includes(p.optimizer), () => `LatentDefender: 'optimizer' must be one of ${OPTIMIZERS.join(', ')}, got '${p.optimizer}'`);
  assert(LATENT_SCORINGS.includes(p.scoring), () => `LatentDefender: 'scoring' must be one of ${LATENT_SCORINGS.join(', ')}, got '${p.scoring}'`);
  assert(p.sp >= 0 && p.sp <= 100, () => `LatentDefender: 'sp' must be a percentage in [0, 100], got ${p.sp}`);
  assert(Number.isInteger(p.scoreBatchSize) && p.scoreBatchSize >= 1, () => `LatentDefender: 'scoreBatchSize' must be an integer ≥ 1, got ${p.scoreBatchSize}`);
  validateHddaOptions({ dims: p.hddaDims, screeThreshold: p.screeThreshold, eigenFloor: p.eigenFloor });
  return p;
}

/** Fine-tuning settings from a victim's `metrics.json` (`optimizer`, `lr`): same optimizer, lr / 10. */
export function fineTuneSettingsFromMetrics(metrics: { optimizer?: string; lr?: number }): { optimizer: OptimizerName; lr: number } {
  const optimizer = (metrics.optimizer ?? 'adam').toLowerCase() as OptimizerName;
  assert(OPTIMIZERS.includes(optimizer), () => `metrics.json: optimizer '${metrics.optimizer}' is not one of ${OPTIMIZERS.join(', ')}`);
  return { optimizer, lr: (metrics.lr ?? 1e-3) / 10 };
}

function makeOptimizer(name: OptimizerName, lr: number): tf.Optimizer {
  switch (name) {
    case 'adam':
      return tf.train.adam(lr);
    case 'sgd':
      return tf.train.sgd(lr);
    case 'rmsprop':
      return tf.train.rmsprop(lr);
    case 'adagrad':
      return tf.train.adagrad(lr);
    case 'adamax':
      return tf.train.adamax(lr);
  }
}

/** Mean loss terms of one fine-tuning epoch (CE, and the three L+ terms before γ). */
export interface EpochLog {
  epoch: number;
  ce: number;
  condense: number;
  spread: number;
  sphere: number;
  /** Training accuracy of the replica over the epoch's batches. */
  accuracy: number;
}

/** What `fit` measured; stored in the bundle. */
export interface LatentFitInfo {
  epochs: EpochLog[];
  /** HDDA intrinsic dimension per class. */
  dims: number[];
  /** Training samples used for HDDA per class. */
  samples: number[];
  /** Mean ‖h‖ of the un-normalised checkpoint features, absorbed into the next kernel (see rescaleAfterCheckpoint). */
  meanFeatureNorm: number;
  /** Seconds spent in fine-tuning and in HDDA + calibration. */
  fineTuneSeconds: number;
  densitySeconds: number;
}

/**
 * One forward pass of the replica over `x` in batches: the normalised checkpoint features φ ([n·p]
 * row-major) and, with `withLogProbs`, the log-probabilities of its output ([n·K]: log of the
 * softmax output, floored at 1e-30, or log-softmax of logits).
 */
function forwardReplica(
  replica: Replica,
  x: tf.Tensor4D,
  batchSize: number,
  withLogProbs: boolean,
): { phi: Float32Array; dim: number; logProbs?: Float32Array } {
  if (!withLogProbs) {
    const { data, dim } = mapRows(x, batchSize, (xb) => (replica.model.apply(xb) as tf.Tensor[])[0]);
    return { phi: data, dim };
  }
  const k = replica.model.outputs[1].shape[replica.model.outputs[1].shape.length - 1]!;
  const { data, dim: total } = mapRows(x, batchSize, (xb) => {
    const [phi, out] = replica.model.apply(xb) as tf.Tensor[];
    const lp = replica.outputIsProbs ? tf.log(tf.clipByValue(out, 1e-30, 1)) : tf.logSoftmax(out);
    return tf.concat([phi.reshape([xb.shape[0], -1]), lp.reshape([xb.shape[0], k])], 1);
  });
  const n = x.shape[0];
  const dim = total - k;
  const phi = new Float32Array(n * dim);
  const logProbs = new Float32Array(n * k);
  for (let s = 0; s < n; s++) {
    phi.set(data.subarray(s * total, s * total + dim), s * dim);
    logProbs.set(data.subarray(s * total + dim, (s + 1) * total), s * k);
  }
  return { phi, dim, logProbs };
}

interface LatentState {
  replica: Replica;
  hdda: HddaClass[];
  scores: Float32Array[];
  /** Per-class clean training scores of the likelihood and ratio (and disagreement) components ('combined', 'combined-disagreement'). */
  components?: ScoreComponents;
  info: LatentFitInfo;
}

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
    this.params = Object.freeze(validateParams({ ...DEFAULTS, ...params, checkpointLayer }));
  }

  /** 'latent:LAYER' with the default scoring, 'latent:LAYER:SCORING' otherwise (unique in reports). */
  get label(): string {
    const base = `latent:${this.params.checkpointLayer}`;
    return this.params.scoring === DEFAULTS.scoring ? base : `${base}:${this.params.scoring}`;
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
      const { data: h, dim: hDim } = mapRows(x, this.params.scoreBatchSize, (xb) => this.victim.activations(xb, this.params.checkpointLayer));
      let normSum = 0;
      for (let s = 0; s < yTrue.length; s++) {
        let q = 0;
        for (let j = 0; j < hDim; j++) q += h[s * hDim + j] ** 2;
        normSum += Math.sqrt(q);
      }
      const meanNorm = normSum / yTrue.length;
      if (meanNorm > 0) rescaleAfterCheckpoint(replica, meanNorm);
      const epochs = this.params.fineTune === 'none' ? [] : await this.fineTune(replica, x, y, yTrue, opts);
      const t1 = performance.now();
      const scoring = this.params.scoring;
      const { phi, dim, logProbs } = forwardReplica(replica, x, this.params.scoreBatchSize, scoringUsesReplicaOutput(scoring));
      const hdda = fitHdda(phi, dim, yTrue, k, this.hddaOptions());
      const yPred = this.predictLabels(x);
      const correct = yPred.map((v, s) => (v === yTrue[s] ? 1 : 0));
      let scores: Float64Array;
      let components: ScoreComponents | undefined;
      if (scoring === 'likelihood') {
        scores = hddaLogLikBatch(hdda, phi, yTrue).map((v) => -v);
      } else if (scoring === 'disagreement') {
        scores = disagreementScores(logProbs!, k, yTrue);
      } else {
        const ll = hddaLogLikAll(hdda, phi);
        if (scoringNeedsComponents(scoring)) {
          components = {
            likelihood: sortedPerClass(baseScores(ll, k, yTrue, 'likelihood'), yTrue, k, correct),
            ratio: sortedPerClass(baseScores(ll, k, yTrue, 'ratio'), yTrue, k, correct),
            ...(scoring === 'combined-disagreement' ? { disagreement: sortedPerClass(disagreementScores(logProbs!, k, yTrue), yTrue, k, correct) } : {}),
          };
        }
        scores = latentScores(ll, k, yTrue, scoring, components, logProbs);
      }
      const perClass = sortedPerClass(scores, yTrue, k, correct);
      const t2 = performance.now();
      this.dispose();
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

  /** Fine-tunes `replica` in place (custom loop, optimizer.minimize). Returns per-epoch mean loss terms. */
  private async fineTune(replica: Replica, x: tf.Tensor4D, y: tf.Tensor1D, yTrue: Int32Array, opts: FitOptions): Promise<EpochLog[]> {
    const { gamma, batchSize, epochs } = this.params;
    const useCentre = this.params.fineTune === 'centre';
    const n = x.shape[0];
    const k = this.numClasses;
    // centres start at the class means of the normalised (not yet fine-tuned) features
    const { data: phi0, dim } = mapRows(x, this.params.scoreBatchSize, (xb) => (replica.model.apply(xb) as tf.Tensor[])[0]);
    const means = new Float32Array(k * dim);
    const counts = new Float64Array(k);
    for (let s = 0; s < n; s++) {
      counts[yTrue[s]]++;
      for (let j = 0; j < dim; j++) means[yTrue[s] * dim + j] += phi0[s * dim + j];
    }
    for (let c = 0; c < k; c++) for (let j = 0; j < dim; j++) means[c * dim + j] /= Math.max(counts[c], 1);
    const init = tf.tensor2d(means, [k, dim]);
    const centres = tf.variable(init, true, 'pcl_centres');
    init.dispose();
    const optimizer = makeOptimizer(this.params.optimizer, this.params.lr);
    const vars = [...replica.model.trainableWeights.map((w) => w.read() as tf.Variable), ...(useCentre ? [centres] : [])];
    const rng = new Rng(opts.seed ?? this.params.seed);
    const yInt = tf.tidy(() => y.toInt());
    const bar = progressBar(`fine-tune ${this.params.checkpointLayer}`, epochs * Math.ceil(n / batchSize), { enabled: opts.progress });
    const log: EpochLog[] = [];
    try {
      for (let e = 0; e < epochs; e++) {
        const order = rng.shuffle(Int32Array.from({ length: n }, (_, i) => i));
        const sums = new Float64Array(5);
        for (let i = 0; i < n; i += batchSize) {
          const m = Math.min(batchSize, n - i);
          const idx = order.subarray(i, i + m);
          let terms: tf.Tensor1D | undefined;
          tf.tidy(() => {
            const it = tf.tensor1d(idx, 'int32');
            const xb = tf.gather(x, it) as tf.Tensor4D;
            const yb = tf.gather(yInt, it) as tf.Tensor1D;
            optimizer.minimize(() => {
              const [phi, out] = replica.model.apply(xb, { training: true }) as tf.Tensor[];
              const oneHot = tf.oneHot(yb, k).toFloat();
              const ce = replica.outputIsProbs
                ? tf.mean(tf.neg(tf.sum(tf.mul(oneHot, tf.log(tf.clipByValue(out, 1e-7, 1))), 1)))
                : tf.losses.softmaxCrossEntropy(oneHot, out);
              const c = centerLoss(phi.reshape([m, dim]) as tf.Tensor2D, yb, centres, gamma, this.params.spread);
              const correct = tf.sum(tf.equal(tf.argMax(out, 1), yb).toFloat());
              terms = tf.keep(tf.stack([ce as tf.Scalar, c.condense, c.spread, c.sphere, correct]) as tf.Tensor1D);
              return useCentre ? (tf.add(ce, c.total) as tf.Scalar) : (ce as tf.Scalar);
            }, false, vars);
          });
          const v = terms!.dataSync();
          terms!.dispose();
          for (let j = 0; j < 4; j++) sums[j] += v[j] * m;
          sums[4] += v[4];
          bar.tick(1, { ce: v[0], cond: v[1] });
        }
        const entry: EpochLog = {
          epoch: e + 1,
          ce: sums[0] / n,
          condense: sums[1] / n,
          spread: sums[2] / n,
          sphere: sums[3] / n,
          accuracy: sums[4] / n,
        };
        log.push(entry);
        opts.log?.(
          `fine-tune ${this.params.checkpointLayer} epoch ${entry.epoch}/${epochs}: ce=${entry.ce.toFixed(4)} ` +
            `condense=${entry.condense.toFixed(4)} spread=${entry.spread.toFixed(4)} sphere=${entry.sphere.toExponential(3)} ` +
            `acc=${entry.accuracy.toFixed(4)}`,
        );
        await new Promise((r) => setImmediate(r));
      }
    } finally {
      bar.stop();
      centres.dispose();
      optimizer.dispose();
      yInt.dispose();
    }
    return log;
  }

  private predictLabels(x: tf.Tensor4D, yPred?: tf.Tensor1D): Int32Array {
    if (yPred) return labelsOf(yPred);
    const p = this.victim.predict(x, this.params.scoreBatchSize);
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
    return mapRows(x, this.params.scoreBatchSize, (xb) => (st.replica.model.apply(xb) as tf.Tensor[])[0]);
  }

  /** Class predictions of the fine-tuned replica [n] (for checking it still classifies like the victim). */
  replicaPredict(x: tf.Tensor4D): Int32Array {
    const st = this.state_;
    assertFitted(st, 'LatentDefender');
    checkImages(x, this.victim.inputShape, 'LatentDefender.replicaPredict');
    const { data } = mapRows(x, this.params.scoreBatchSize, (xb) => tf.argMax((st.replica.model.apply(xb) as tf.Tensor[])[1], 1).toFloat());
    return Int32Array.from(data);
  }

  /** Scores under explicitly given classes `classOf` ([n]); no victim pass. */
  scoreUnder(x: tf.Tensor4D, classOf: ArrayLike<number>): Float32Array {
    const st = this.state_;
    assertFitted(st, 'LatentDefender');
    checkImages(x, this.victim.inputShape, 'LatentDefender.score');
    assert(classOf.length === x.shape[0], () => `LatentDefender.score: expected ${x.shape[0]} labels, got ${classOf.length}`, ShapeError);
    const scoring = this.params.scoring;
    const { phi, logProbs } = forwardReplica(st.replica, x, this.params.scoreBatchSize, scoringUsesReplicaOutput(scoring));
    if (scoring === 'likelihood') return Float32Array.from(hddaLogLikBatch(st.hdda, phi, classOf), (v) => -v);
    if (scoring === 'disagreement') return Float32Array.from(disagreementScores(logProbs!, this.numClasses, classOf));
    return Float32Array.from(latentScores(hddaLogLikAll(st.hdda, phi), this.numClasses, classOf, scoring, st.components, logProbs));
  }

  /**
   * The fine-tuned replica's log-probabilities log p_replica(k | x), [n·K] row-major (log-softmax of
   * its output). `'disagreement'` scores are −(this at the victim's class). Inputs are not disposed.
   */
  replicaLogProbs(x: tf.Tensor4D): Float32Array {
    const st = this.state_;
    assertFitted(st, 'LatentDefender');
    checkImages(x, this.victim.inputShape, 'LatentDefender.replicaLogProbs');
    return forwardReplica(st.replica, x, this.params.scoreBatchSize, true).logProbs!;
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

  async score(x: tf.Tensor4D, yPred?: tf.Tensor1D): Promise<Float32Array> {
    assertFitted(this.state_, 'LatentDefender');
    checkImages(x, this.victim.inputShape, 'LatentDefender.score');
    checkLabels(yPred, x.shape[0], 'LatentDefender.score', 'yPred');
    return this.scoreUnder(x, this.predictLabels(x, yPred));
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

  async detect(x: tf.Tensor4D, yPred?: tf.Tensor1D, sp = this.params.sp): Promise<Uint8Array> {
    assertFitted(this.state_, 'LatentDefender');
    checkImages(x, this.victim.inputShape, 'LatentDefender.detect');
    checkLabels(yPred, x.shape[0], 'LatentDefender.detect', 'yPred');
    const labels = this.predictLabels(x, yPred);
    return flagsFrom(this.scoreUnder(x, labels), labels, this.thresholds(sp));
  }

  /**
   * Writes the bundle: manifest.json + weights.bin (replica weights `replica/i`, HDDA parameters
   * `hdda/k/{mean,basis,a}`, sorted training scores `scores/k`; for 'combined' scoring also
   * `components/{likelihood,ratio}/k`, for 'combined-disagreement' also `components/disagreement/k`)
   * and a copy of the victim in `victim/`.
   */
  async save(dir: string): Promise<void> {
    const st = this.state_;
    assertFitted(st, 'LatentDefender');
    await writeDirAtomic(dir, async (tmp) => {
      const files = await saveModelCopy(this.victim.model, path.join(tmp, 'victim'));
      const tensors: tf.NamedTensorMap = {};
      st.replica.model.getWeights().forEach((w, i) => {
        tensors[`replica/${i}`] = w;
      });
      st.hdda.forEach((h, k) => {
        tensors[`hdda/${k}/mean`] = tf.tensor1d(h.mean);
        tensors[`hdda/${k}/basis`] = tf.tensor2d(h.basis, [h.d, h.p]);
        tensors[`hdda/${k}/a`] = tf.tensor1d(h.a);
      });
      const scoreTensors = {
        ...scoresToTensors(st.scores),
        ...(st.components ? { ...scoresToTensors(st.components.likelihood, 'components/likelihood'), ...scoresToTensors(st.components.ratio, 'components/ratio') } : {}),
        ...(st.components?.disagreement ? scoresToTensors(st.components.disagreement, 'components/disagreement') : {}),
      };
      try {
        await writeBundle(
          tmp,
          {
            name: LatentDefender.detectorName,
            params: { ...this.params },
            attributes: {
              numClasses: this.numClasses,
              featureDim: st.replica.featureDim,
              hdda: st.hdda.map((h) => ({ d: h.d, b: h.b, n: h.n })),
              thresholds: { sp: this.params.sp, values: Array.from(this.thresholds(this.params.sp)) },
              fit: st.info,
            },
            children: { victim: 'victim/' },
          },
          { ...tensors, ...scoreTensors },
          files.map((f) => `victim/${f}`),
        );
      } finally {
        for (const [name, t] of Object.entries(tensors)) if (!name.startsWith('replica/')) t.dispose();
        disposeMap(scoreTensors);
      }
    });
  }

  /**
   * Loads a bundle written by {@link save}. The victim comes from `ctx.victim` (a `Classifier`)
   * if given, else from the bundle's own copy. Throws `ManifestError` naming the file or field.
   */
  static async load(dir: string, ctx: LoadContext = {}): Promise<LatentDefender> {
    const { manifest, tensors } = await readBundle(dir, LatentDefender.detectorName);
    try {
      const own = !(ctx.victim instanceof Classifier);
      const victim = ctx.victim instanceof Classifier ? ctx.victim : new Classifier(await loadModelCopy(path.join(dir, 'victim')));
      const attrs = manifest.attributes as { numClasses: number; hdda: { d: number; b: number; n: number }[]; fit: LatentFitInfo };
      if (attrs.numClasses !== victim.numClasses) {
        throw new ManifestError(`${path.join(dir, 'manifest.json')}: bundle has ${attrs.numClasses} classes, the victim has ${victim.numClasses}`);
      }
      const det = new LatentDefender(victim, manifest.params as Partial<LatentDefenderParams>);
      const mpath = path.join(dir, 'manifest.json');
      const hdda: HddaClass[] = attrs.hdda.map((h, k) => {
        const get = (name: string) => {
          const t = tensors[`hdda/${k}/${name}`];
          if (!t) throw new ManifestError(`${mpath}: missing weight 'hdda/${k}/${name}'`);
          return Float32Array.from(t.dataSync() as Float32Array);
        };
        const mean = get('mean');
        return { p: mean.length, d: h.d, n: h.n, b: h.b, mean, basis: get('basis'), a: get('a') };
      });
      const scores = scoresFromTensors(tensors, attrs.numClasses);
      const components: ScoreComponents | undefined = scoringNeedsComponents(det.params.scoring)
        ? {
            likelihood: scoresFromTensors(tensors, attrs.numClasses, 'components/likelihood'),
            ratio: scoresFromTensors(tensors, attrs.numClasses, 'components/ratio'),
            ...(det.params.scoring === 'combined-disagreement'
              ? { disagreement: scoresFromTensors(tensors, attrs.numClasses, 'components/disagreement') }
              : {}),
          }
        : undefined;
      const replica = await buildReplica(victim.model, det.params.checkpointLayer);
      try {
        const ws = replica.model.getWeights().map((_, i) => {
          const t = tensors[`replica/${i}`];
          if (!t) throw new ManifestError(`${mpath}: missing weight 'replica/${i}'`);
          return t;
        });
        replica.model.setWeights(ws);
      } catch (e) {
        disposeReplica(replica);
        throw e;
      }
      det.state_ = { replica, hdda, scores, components, info: attrs.fit };
      det.ownsVictim_ = own;
      return det;
    } finally {
      disposeMap(tensors);
    }
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
