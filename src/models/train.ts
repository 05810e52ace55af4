import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ArgumentError, ShapeError, assert } from '../errors.js';
import { loadDataset } from '../data/index.js';
import { disposeDataset, type Dataset } from '../data/types.js';
import { initEngine } from '../engine/backend.js';
import { info, progressBar } from '../util/progress.js';
import { yieldToEventLoop } from '../util/parallel.js';
import { Rng } from '../util/rng.js';
import { loadClassifier, saveClassifier, type ClassifierMetrics } from './io.js';
import { ARCHS, buildModel, type Arch } from './zoo.js';
import { memoryBoundBatch } from './classifier.js';
import { fusedAdam } from '../engine/fused-adam.js';
import { denseChain, softmaxCrossEntropy } from '../engine/dense-chain.js';
import { batchNormChain } from './bn-chain.js';

/** Optimizers `trainClassifier` can use. */
export type TrainOptimizer = 'adam' | 'sgd' | 'momentum';

/** Learning-rate schedules `trainClassifier` supports. */
export type LrSchedule = 'constant' | 'cosine';

/** Learning rate at mini-batch `step` of `steps` (0-based) under `schedule`, starting from `lr`. */
export function scheduledLr(schedule: LrSchedule, lr: number, step: number, steps: number): number {
  switch (schedule) {
    case 'constant':
      return lr;
    case 'cosine':
      return lr * 0.5 * (1 + Math.cos((Math.PI * step) / Math.max(1, steps)));
    default:
      throw new ArgumentError(`lrSchedule: expected 'constant' or 'cosine', got '${schedule as string}'`);
  }
}

/** Sets the learning rate of a tfjs optimizer made by `makeOptimizer`. */
function setLearningRate(opt: tf.Optimizer, lr: number): void {
  const o = opt as unknown as { setLearningRate?: (v: number) => void; learningRate: number };
  // SGD/momentum cache lr in a scalar (setLearningRate); Adam reads the field at every step
  if (typeof o.setLearningRate === 'function') o.setLearningRate(lr);
  else o.learningRate = lr;
}

/** Simple data augmentation for image training (off by default). */
export interface Augmentation {
  /** Mirror each image left–right with probability 1/2. */
  flip?: boolean;
  /** Pad by this many zero pixels on every side, then crop a random h×w window (per image). */
  crop?: number;
}

/** Options of `trainClassifier`. */
export interface TrainOptions {
  epochs: number;
  batchSize: number;
  /** Learning rate. */
  lr: number;
  /** Seed of the per-epoch shuffles and augmentation (default 0). */
  seed?: number;
  /** Default 'adam' (the victim setting; the latent defender reuses it at lr / 10). */
  optimizer?: TrainOptimizer;
  /**
   * Learning-rate schedule over all mini-batches: 'constant' (default) or 'cosine'
   * (lr · ½(1 + cos(π·step/steps)), annealing to 0 at the last step).
   */
  lrSchedule?: LrSchedule;
  /** Evaluated after each epoch (accuracy). */
  validation?: Dataset;
  augment?: Augmentation;
  /** Stop after this many mini-batches per epoch (for timing runs); default: all. */
  maxBatchesPerEpoch?: number;
  /** Called after each epoch with its log. */
  onEpoch?: (log: TrainEpochLog) => void | Promise<void>;
  /** Show a progress bar (defaults to the global CLI setting). */
  progress?: boolean;
  /**
   * Train a plain Flatten/Dense chain with a softmax output (the MNIST MLP) through the fused dense
   * kernels and a log-sum-exp cross-entropy on its logits (`denseChain`, about a third of the
   * kernels per step). Default true; false (or any other model, or a backend without the kernels)
   * takes the layers path: `model.apply` and the cross-entropy of the clipped probabilities.
   */
  fastDense?: boolean;
  /**
   * Train a batch-normalised chain CNN (the zoo's `batchNorm: true` models) with each batch norm
   * (and its ReLU) on the fused `PclBatchNorm` kernel, hidden Dense layers on `PclDense` and the
   * log-sum-exp cross-entropy on the logits (`batchNormChain`). Default true; false takes the
   * layers path.
   */
  fastBatchNorm?: boolean;
}

/** One epoch of training. */
export interface TrainEpochLog {
  /** 1-based. */
  epoch: number;
  /** Mean training cross-entropy over the epoch's batches. */
  loss: number;
  /** Training accuracy over the epoch (in training mode, before each batch's update). */
  accuracy: number;
  /** Accuracy on `validation`, when given. */
  valAccuracy?: number;
  /** Wall-clock seconds of this epoch (training + validation). */
  seconds: number;
  /** Wall-clock seconds of the training steps alone (no validation). */
  trainSeconds?: number;
  /** Mini-batches run. */
  batches: number;
}

/** Result of `trainClassifier`. */
export interface TrainResult {
  history: TrainEpochLog[];
  /** Total wall-clock seconds. */
  seconds: number;
}

/** Creates the optimizer `name` with learning rate `lr`. Caller disposes it. */
export function makeOptimizer(name: TrainOptimizer, lr: number): tf.Optimizer {
  switch (name) {
    case 'adam':
      return fusedAdam(lr);
    case 'sgd':
      return tf.train.sgd(lr);
    case 'momentum':
      return tf.train.momentum(lr, 0.9);
    default:
      throw new ArgumentError(`optimizer: expected 'adam', 'sgd' or 'momentum', got '${name as string}'`);
  }
}

/** The probability floor of `pcl train`'s cross-entropy (a row whose true class is less likely contributes a flat loss). */
export const CE_MIN_PROB = 1e-7;

/**
 * Mean cross-entropy of softmax probabilities `p` [n, k] against int labels `y` [n]
 * (probabilities clipped to [1e-7, 1] as Keras does, so log stays finite).
 */
export function crossEntropy(p: tf.Tensor2D, y: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const oneHot = tf.oneHot(y, p.shape[1]);
    return tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.log(tf.clipByValue(p, CE_MIN_PROB, 1))), 1))) as tf.Scalar;
  });
}

/**
 * Applies `aug` to a batch `x` [n, h, w, c] using the seeded `rng` (per-image random crop after
 * zero padding, then per-image random left–right flip). Returns a new tensor [n, h, w, c] owned by
 * the caller; `x` is not disposed.
 */
export function augmentBatch(x: tf.Tensor4D, aug: Augmentation, rng: Rng): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w] = x.shape;
    let out: tf.Tensor4D = x;
    if (aug.crop && aug.crop > 0) {
      const p = aug.crop;
      const padded = tf.pad(out, [
        [0, 0],
        [p, p],
        [p, p],
        [0, 0],
      ]);
      const H = h + 2 * p;
      const W = w + 2 * p;
      const boxes = new Float32Array(n * 4);
      for (let i = 0; i < n; i++) {
        const oy = rng.int(2 * p + 1);
        const ox = rng.int(2 * p + 1);
        // pixel-aligned boxes: bilinear sampling at integer positions copies pixels exactly
        boxes.set([oy / (H - 1), ox / (W - 1), (oy + h - 1) / (H - 1), (ox + w - 1) / (W - 1)], i * 4);
      }
      out = tf.image.cropAndResize(
        padded,
        tf.tensor2d(boxes, [n, 4]),
        tf.tensor1d(Int32Array.from({ length: n }, (_, i) => i), 'int32'),
        [h, w],
      );
    }
    if (aug.flip) {
      const mask = new Float32Array(n);
      for (let i = 0; i < n; i++) mask[i] = rng.next() < 0.5 ? 1 : 0;
      const m = tf.tensor4d(mask, [n, 1, 1, 1]);
      const flipped = tf.reverse(out, 2);
      out = tf.add(tf.mul(m, flipped), tf.mul(tf.sub(1, m), out));
    }
    return out === x ? tf.clone(x) : out;
  });
}

/**
 * Accuracy of `model` (softmax or logits output) on `x` [n, h, w, c] with labels `y` [n], computed
 * in batches of `batchSize` (default 500) in inference mode. Returns a number in [0, 1].
 */
export function evaluateAccuracy(model: tf.LayersModel, x: tf.Tensor4D, y: tf.Tensor1D, batchSize = 500): number {
  assert(x.shape[0] === y.shape[0], () => `evaluateAccuracy: x has ${x.shape[0]} rows but y has ${y.shape[0]}`, ShapeError);
  const n = x.shape[0];
  if (n === 0) return NaN;
  const b = memoryBoundBatch(model, batchSize);
  let correct = 0;
  for (let i = 0; i < n; i += b) {
    const m = Math.min(b, n - i);
    correct += tf.tidy(() => {
      const p = model.apply(x.slice([i, 0, 0, 0], [m, -1, -1, -1]), { training: false }) as tf.Tensor2D;
      return tf.sum(tf.cast(tf.equal(tf.argMax(p, 1), tf.cast(y.slice([i], [m]), 'int32')), 'int32')).dataSync()[0];
    });
  }
  return correct / n;
}

/** One optimisation step of a classifier on a batch, as {@link trainClassifier} runs it. */
export interface TrainStep {
  /**
   * 'dense': the fused dense chain and log-sum-exp cross-entropy ({@link denseChain}); 'batch-norm':
   * the fused batch-norm chain ({@link batchNormChain}) and the same loss; 'layers': `model.apply`
   * and {@link crossEntropy}.
   */
  path: 'dense' | 'batch-norm' | 'layers';
  /** Updates the model's trainable weights on (xb, yb); returns [mean loss, correctly classified rows] (before the update). */
  run(xb: tf.Tensor, yb: tf.Tensor1D): [number, number];
}

/**
 * The training step of `pcl train`: minimises the mean cross-entropy of `model` on a batch with
 * `optimizer`. A plain Flatten/Dense chain with a softmax output takes the dense path unless
 * `fastDense` is false (see {@link TrainOptions.fastDense}); a batch-normalised chain CNN the
 * batch-norm path unless `fastBatchNorm` is false; everything else the layers path.
 */
export function makeTrainStep(model: tf.LayersModel, optimizer: tf.Optimizer, opts: { fastDense?: boolean; fastBatchNorm?: boolean } = {}): TrainStep {
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const chain = opts.fastDense === false ? undefined : denseChain(model);
  const dense = chain?.output === 'softmax' ? chain : undefined;
  const bn = dense || opts.fastBatchNorm === false ? undefined : batchNormChain(model);
  const fast = dense ?? bn;
  return {
    path: dense ? 'dense' : bn ? 'batch-norm' : 'layers',
    run(xb, yb) {
      return tf.tidy(() => {
        let nCorrect: tf.Scalar | undefined;
        const hits = (out: tf.Tensor) => tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(out, 1), tf.cast(yb, 'int32')), 'int32')) as tf.Scalar);
        const cost = optimizer.minimize(
          () => {
            if (fast) {
              const z = fast.logits(xb);
              nCorrect = hits(z);
              return softmaxCrossEntropy(z, yb, { minProb: CE_MIN_PROB }); // the layers path's objective, clip included
            }
            const p = model.apply(xb, { training: true }) as tf.Tensor2D;
            nCorrect = hits(p);
            return crossEntropy(p, yb);
          },
          true,
          vars,
        )!;
        const hitCount = nCorrect!.dataSync()[0]!;
        nCorrect!.dispose(); // kept out of minimize's scope, so tidy does not own it
        return [cost.dataSync()[0]!, hitCount];
      });
    },
  };
}

/**
 * Trains a softmax classifier (e.g. from `buildModel`) in place with mini-batch cross-entropy.
 * Each epoch visits the training set in a seeded random order (`seed`), so equal seeds and
 * equal initial weights give equal models. Shows a progress bar with the running loss and
 * accuracy on stderr (when progress output is on). Disposes every tensor it creates.
 *
 * @param model a LayersModel whose output is softmax probabilities [n, numClasses].
 * @param train images [n, h, w, c] in [0, 1] and int labels [n].
 */
export async function trainClassifier(model: tf.LayersModel, train: Dataset, opts: TrainOptions): Promise<TrainResult> {
  const { epochs, batchSize, lr } = opts;
  assert(Number.isInteger(epochs) && epochs >= 1, () => `epochs: expected a positive integer, got ${epochs}`);
  assert(Number.isInteger(batchSize) && batchSize >= 1, () => `batchSize: expected a positive integer, got ${batchSize}`);
  assert(Number.isFinite(lr) && lr > 0, () => `lr: expected a positive number, got ${lr}`);
  const n = train.x.shape[0];
  assert(n === train.y.shape[0], () => `trainClassifier: x has ${n} rows but y has ${train.y.shape[0]}`, ShapeError);
  assert(n > 0, () => `trainClassifier: the training set is empty`, ShapeError);
  const inShape = model.inputs[0].shape.slice(1);
  assert(
    inShape.every((d, i) => d === null || d === train.x.shape[i + 1]),
    () => `trainClassifier: model input [${inShape}] does not match images [${train.x.shape.slice(1)}]`,
    ShapeError,
  );
  const rng = new Rng(opts.seed ?? 0);
  const optimizer = makeOptimizer(opts.optimizer ?? 'adam', lr);
  const trainStep = makeTrainStep(model, optimizer, { fastDense: opts.fastDense, fastBatchNorm: opts.fastBatchNorm });
  const order = Int32Array.from({ length: n }, (_, i) => i);
  const nBatches = Math.min(Math.ceil(n / batchSize), opts.maxBatchesPerEpoch ?? Infinity);
  const history: TrainEpochLog[] = [];
  const schedule = opts.lrSchedule ?? 'constant';
  scheduledLr(schedule, lr, 0, 1); // validates the name before any work
  const totalSteps = epochs * nBatches;
  let step = 0;
  const t0 = performance.now();
  try {
    for (let epoch = 1; epoch <= epochs; epoch++) {
      const te = performance.now();
      rng.shuffle(order);
      const bar = progressBar(`epoch ${epoch}/${epochs}`, nBatches, { enabled: opts.progress });
      let lossSum = 0;
      let correct = 0;
      let seen = 0;
      try {
        for (let b = 0; b < nBatches; b++) {
          const idx = order.subarray(b * batchSize, Math.min(n, (b + 1) * batchSize));
          if (schedule !== 'constant') setLearningRate(optimizer, scheduledLr(schedule, lr, step, totalSteps));
          step++;
          const [loss, hits] = tf.tidy(() => {
            const it = tf.tensor1d(idx, 'int32');
            let xb = tf.gather(train.x, it) as tf.Tensor4D;
            if (opts.augment && (opts.augment.flip || opts.augment.crop)) xb = augmentBatch(xb, opts.augment, rng);
            const yb = tf.gather(train.y, it) as tf.Tensor1D;
            return trainStep.run(xb, yb);
          });
          if (!Number.isFinite(loss)) {
            throw new ArgumentError(`trainClassifier: loss became ${loss} in epoch ${epoch}, batch ${b + 1}; lower the learning rate (lr=${lr})`);
          }
          lossSum += loss * idx.length;
          correct += hits;
          seen += idx.length;
          bar.tick(1, { loss: lossSum / seen, acc: correct / seen });
          // yield to the event loop so progress output and signals are handled
          if (b % 20 === 19) await yieldToEventLoop();
        }
      } finally {
        bar.stop();
      }
      const log: TrainEpochLog = { epoch, loss: lossSum / seen, accuracy: correct / seen, seconds: 0, trainSeconds: (performance.now() - te) / 1000, batches: nBatches };
      if (opts.validation) log.valAccuracy = evaluateAccuracy(model, opts.validation.x, opts.validation.y);
      log.seconds = (performance.now() - te) / 1000;
      history.push(log);
      if (opts.onEpoch) await opts.onEpoch(log);
    }
  } finally {
    optimizer.dispose();
  }
  return { history, seconds: (performance.now() - t0) / 1000 };
}

/**
 * Training defaults per architecture (used by `pcl train` when an option is omitted). mnist-mlp and
 * cifar-cnn are the settings of the victims in bench/results/train.md. imagenet-alexnet's follow the
 * recipe of the independent PyTorch check of issue 15 (batch norm, random flips and crops, a cosine
 * schedule: 75.0 % in 15 epochs there); on the wasm engine an epoch was measured, not a whole run
 * (bench/results/train.md).
 */
export const TRAIN_DEFAULTS: Record<
  Arch,
  { epochs: number; batchSize: number; lr: number; lrSchedule: LrSchedule; augment?: Augmentation; batchNorm: boolean }
> = {
  'mnist-mlp': { epochs: 15, batchSize: 128, lr: 1e-3, lrSchedule: 'constant', batchNorm: false },
  // 4 epochs is a compute budget (≈ 1 h at width 0.25 on one shared wasm core), see bench/results/train.md
  'cifar-cnn': { epochs: 4, batchSize: 64, lr: 1e-3, lrSchedule: 'cosine', augment: { flip: true }, batchNorm: false },
  'imagenet-alexnet': { epochs: 20, batchSize: 64, lr: 1e-3, lrSchedule: 'cosine', augment: { flip: true, crop: 4 }, batchNorm: true },
};

/** Options of `trainVictim` (what `pcl train` takes). */
export interface TrainVictimOptions {
  /** Dataset spec (see `loadDataset`). */
  dataset: string;
  arch: Arch;
  /** Output folder (replaced atomically). */
  out: string;
  /** Conv channel multiplier (default 1). */
  width?: number;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  /** Seeds the initial weights, the shuffles and the augmentation (default 0). */
  seed?: number;
  optimizer?: TrainOptimizer;
  /** Train on a seeded random subset of this many training images (smoke tests). */
  limit?: number;
  /** Measure test accuracy on a seeded random subset of this many test images (default: the whole test split). */
  testLimit?: number;
  /** Learning-rate schedule (default: per architecture). */
  lrSchedule?: LrSchedule;
  /** Override the architecture's default augmentation (`{}` turns it off). */
  augment?: Augmentation;
  /** Batch normalisation after each convolution (default: per architecture, see `TRAIN_DEFAULTS`). */
  batchNorm?: boolean;
  /** Stop each epoch after this many mini-batches (timing runs; the model is still evaluated and saved). */
  maxBatchesPerEpoch?: number;
  /** Evaluate on the test split after every epoch (default true). */
  validateEachEpoch?: boolean;
  /**
   * Save the model to `out` after every epoch (atomically, with `"complete": false` in
   * metrics.json until the last epoch), so a long run that is stopped still leaves its latest
   * epoch behind. Needs `validateEachEpoch`. Default false.
   */
  saveEachEpoch?: boolean;
  /**
   * Warm start: a folder written by `pcl train` whose weights replace the fresh initial weights
   * (same architecture, width, batch norm and input shape, else `ArgumentError`). Training then
   * runs its own `epochs` and schedule from there; metrics.json records the starting folder's
   * summary under `initFrom`, so a chain of runs stays reproducible command by command.
   */
  init?: string;
  /** See {@link TrainOptions.fastDense} (default true). */
  fastDense?: boolean;
  /** See {@link TrainOptions.fastBatchNorm} (default true). */
  fastBatchNorm?: boolean;
  onEpoch?: (log: TrainEpochLog) => void | Promise<void>;
}

/** What metrics.json keeps of a warm start's starting folder. */
export interface InitFromSummary {
  dir: string;
  testAccuracy: number;
  epochs: number;
  seconds: number;
  lr?: number;
  lrSchedule?: unknown;
  seed?: number;
  augment?: unknown;
  initFrom?: unknown;
  /** The starting model had no batch norm; it was inserted function-preservingly (`insertBatchNorm`). */
  batchNormInserted?: boolean;
}

/**
 * Copies a model without batch norm (`src`, the zoo's `batchNorm: false`) into the same
 * architecture with batch norm (`dst`) so that `dst` computes the same function in inference mode:
 * each convK's kernel is copied; its bias b and the batch statistics (mean μ, variance σ²) of its
 * pre-activation output over `calibration` images set convK_bn to γ = √(σ² + ε), β = μ + b, moving
 * mean μ and moving variance σ², so γ·(z − μ)/√(σ² + ε) + β = z + b; Dense layers are copied as
 * they are. In training mode the batch statistics stand in for μ and σ², so training starts from
 * (nearly) the source model's function instead of from scratch.
 */
export function insertBatchNorm(src: tf.LayersModel, dst: tf.LayersModel, calibration: tf.Tensor4D, opts: { dir?: string; limit?: number } = {}): void {
  const dir = opts.dir ?? 'init';
  type L = tf.layers.Layer;
  const byName = new Map(src.layers.map((l) => [l.name, l] as const));
  for (const l of dst.layers) {
    const cls = l.getClassName();
    if (cls === 'Conv2D' || cls === 'Dense') {
      const s = byName.get(l.name);
      if (!s || s.getClassName() !== cls) throw new ArgumentError(`init: ${dir} has no ${cls} layer '${l.name}' to start ${l.name} from`);
      const sw = s.getWeights();
      const dw = l.getWeights();
      if (sw[0]!.shape.join() !== dw[0]!.shape.join()) {
        throw new ArgumentError(`init: ${l.name} of ${dir} has kernel shape [${sw[0]!.shape}], the model built here expects [${dw[0]!.shape}]`);
      }
      l.setWeights(cls === 'Dense' ? sw : [sw[0]!]); // a batch-normalised conv has no bias: its BN's beta takes it
    }
  }
  for (const bn of dst.layers.filter((l) => l.getClassName() === 'BatchNormalization')) {
    const convName = bn.name.replace(/_bn$/, '');
    const conv = byName.get(convName) as (L & { bias?: tf.LayerVariable }) | undefined;
    if (!conv || conv.getClassName() !== 'Conv2D') throw new ArgumentError(`init: ${dir} has no convolution '${convName}' for ${bn.name}`);
    const bias = conv.getWeights()[1];
    const eps = (bn.getConfig() as { epsilon: number }).epsilon;
    // the batch norm's input (the conv's linear output) with every earlier batch norm already set
    const probe = tf.model({ inputs: dst.inputs, outputs: bn.input as tf.SymbolicTensor });
    const c = (bn.input as tf.SymbolicTensor).shape[3]!;
    const sum = new Float64Array(c);
    const sumSq = new Float64Array(c);
    let count = 0;
    const n = Math.min(calibration.shape[0], opts.limit ?? Infinity);
    const step = Math.max(1, Math.min(n, memoryBoundBatch(probe, 256)));
    for (let i = 0; i < n; i += step) {
      const [s1, s2, k] = tf.tidy(() => {
        const z = probe.predict(calibration.slice(i, Math.min(step, n - i))) as tf.Tensor4D;
        const flat = z.reshape([-1, c]);
        return [tf.sum(flat, 0).dataSync(), tf.sum(tf.square(flat), 0).dataSync(), flat.shape[0]] as const;
      });
      for (let j = 0; j < c; j++) {
        sum[j]! += s1[j]!;
        sumSq[j]! += s2[j]!;
      }
      count += k;
    }
    const mean = Float32Array.from(sum, (v) => v / count);
    const variance = Float32Array.from(sumSq, (v, j) => Math.max(0, v / count - mean[j]! * mean[j]!));
    const b = bias ? bias.dataSync() : new Float32Array(c);
    const gamma = Float32Array.from(variance, (v) => Math.sqrt(v + eps));
    const beta = Float32Array.from(mean, (m, j) => m + b[j]!);
    // BatchNormalization's weights: gamma, beta, moving mean, moving variance
    bn.setWeights([tf.tensor1d(gamma), tf.tensor1d(beta), tf.tensor1d(mean), tf.tensor1d(variance)]);
  }
}

/** Training images whose statistics set batch norms inserted by a warm start (`insertBatchNorm`). */
const CALIBRATION_IMAGES = 2000;

/**
 * Copies the weights of the `pcl train` folder `dir` into `model` (built by `buildModel` with the
 * options the folder's metrics record). Checks architecture, width, batch norm, class count, input
 * shape and every weight's shape first, so a mismatch raises `ArgumentError` before anything changes.
 * With `calibration` (training images) and a folder without batch norm for a batch-normalised
 * `model`, inserts the batch norms instead (`insertBatchNorm`, on the first 2,000 images).
 * Returns the summary metrics.json keeps as `initFrom`.
 */
export async function warmStartFrom(
  model: tf.LayersModel,
  dir: string,
  expect: { arch: Arch; width: number; batchNorm: boolean; numClasses: number },
  calibration?: tf.Tensor4D,
): Promise<InitFromSummary> {
  const { model: src, metrics } = await loadClassifier(dir);
  try {
    const mismatch = (what: string, got: unknown, want: unknown) =>
      new ArgumentError(`init: ${dir} was trained with ${what} ${JSON.stringify(got)}, this run uses ${JSON.stringify(want)}`);
    const insertBn = expect.batchNorm && metrics.batchNorm !== true && calibration !== undefined;
    for (const [key, what] of [['arch', 'arch'], ['width', 'width'], ['batchNorm', 'batch norm'], ['numClasses', 'classes']] as const) {
      if (key === 'batchNorm' && insertBn) continue;
      if (metrics[key] !== undefined && metrics[key] !== expect[key]) throw mismatch(what, metrics[key], expect[key]);
    }
    const fromIn = JSON.stringify(src.inputs[0].shape.slice(1));
    const toIn = JSON.stringify(model.inputs[0].shape.slice(1));
    if (fromIn !== toIn) throw mismatch('input shape', src.inputs[0].shape.slice(1), model.inputs[0].shape.slice(1));
    const summary: InitFromSummary = { dir, testAccuracy: metrics.testAccuracy, epochs: metrics.epochs, seconds: metrics.seconds };
    for (const key of ['lr', 'lrSchedule', 'seed', 'augment', 'initFrom'] as const) {
      if (metrics[key] !== undefined) (summary as unknown as Record<string, unknown>)[key] = metrics[key];
    }
    if (insertBn) {
      insertBatchNorm(src, model, calibration!, { dir, limit: CALIBRATION_IMAGES });
      summary.batchNormInserted = true;
      return summary;
    }
    const from = src.weights;
    const to = model.weights;
    if (from.length !== to.length) {
      throw new ArgumentError(`init: ${dir} has ${from.length} weight tensors, the model built here has ${to.length}`);
    }
    for (let i = 0; i < to.length; i++) {
      if (JSON.stringify(from[i].shape) !== JSON.stringify(to[i].shape)) {
        throw new ArgumentError(
          `init: weight ${i} (${from[i].originalName}) of ${dir} has shape [${from[i].shape.join(', ')}], ` +
            `the model built here expects [${to[i].shape.join(', ')}] (${to[i].originalName})`,
        );
      }
    }
    // assign() keeps its own reference to each value, so disposing `src` below does not free them
    model.setWeights(src.getWeights());
    return summary;
  } finally {
    src.dispose();
  }
}

/**
 * Builds `arch` for `dataset`, trains it, measures test accuracy and saves the model folder
 * (`model.json`, `weights.bin`, `metrics.json`; see `saveClassifier`). Resolves to the metrics
 * written. This is `pcl train`.
 */
export async function trainVictim(opts: TrainVictimOptions): Promise<ClassifierMetrics> {
  if (!(ARCHS as readonly string[]).includes(opts.arch)) {
    throw new ArgumentError(`arch: unknown architecture '${opts.arch}'; expected one of ${ARCHS.join(', ')}`);
  }
  const defaults = TRAIN_DEFAULTS[opts.arch];
  const epochs = opts.epochs ?? defaults.epochs;
  const batchSize = opts.batchSize ?? defaults.batchSize;
  const lr = opts.lr ?? defaults.lr;
  const seed = opts.seed ?? 0;
  const width = opts.width ?? 1;
  const optimizer = opts.optimizer ?? 'adam';
  const augment = opts.augment ?? defaults.augment ?? {};
  const lrSchedule = opts.lrSchedule ?? defaults.lrSchedule;
  const batchNorm = opts.batchNorm ?? defaults.batchNorm;
  if (opts.init !== undefined && path.resolve(opts.init) === path.resolve(opts.out)) {
    throw new ArgumentError(`init: ${opts.init} is also --out; write the continued model to another folder so the starting one survives`);
  }
  const engine = await initEngine();
  const train = await loadDataset(opts.dataset, { split: 'train', limit: opts.limit, seed });
  let test: Dataset | undefined;
  let model: tf.LayersModel | undefined;
  try {
    test = await loadDataset(opts.dataset, { split: 'test', limit: opts.testLimit, seed });
    model = buildModel(opts.arch, {
      inputShape: train.x.shape.slice(1) as [number, number, number],
      numClasses: train.numClasses,
      width,
      seed,
      batchNorm,
    });
    // a batch-normalised run may start from a model without batch norm: training images set the inserted layers
    const initFrom =
      opts.init !== undefined
        ? await warmStartFrom(model, opts.init, { arch: opts.arch, width, batchNorm, numClasses: train.numClasses }, batchNorm ? (train.x as tf.Tensor4D) : undefined)
        : undefined;
    if (initFrom) info(`warm start from ${initFrom.dir} (${initFrom.epochs} epochs, test accuracy ${initFrom.testAccuracy})`);
    info(
      `training ${opts.arch} (width ${width}${batchNorm ? ', batch norm' : ''}, ${model.countParams()} parameters) on ${train.x.shape[0]} images of ` +
        `${opts.dataset}: ${epochs} epochs, batch ${batchSize}, ${optimizer} lr ${lr} (${lrSchedule}), ` +
        `augment ${JSON.stringify(augment)}, backend ${engine.backend}`,
    );
    const m = model;
    const started = performance.now();
    const describe = (testAccuracy: number, trainAccuracy: number, epochsDone: number, seconds: number, history: TrainEpochLog[]) =>
      ({
        testAccuracy,
        trainAccuracy,
        epochs: epochsDone,
        seconds: Number(seconds.toFixed(2)),
        complete: epochsDone === epochs,
        arch: opts.arch,
        width,
        batchNorm,
        optimizer,
        lr,
        lrSchedule,
        batchSize,
        seed,
        ...(initFrom ? { initFrom } : {}),
        dataset: opts.dataset,
        trainSamples: train.x.shape[0],
        ...(opts.maxBatchesPerEpoch !== undefined ? { maxBatchesPerEpoch: opts.maxBatchesPerEpoch } : {}),
        testSamples: test!.x.shape[0],
        inputShape: train.x.shape.slice(1),
        numClasses: train.numClasses,
        classNames: train.classNames,
        augment,
        backend: engine.backend,
        tfjsVersion: engine.tfjsVersion,
        parameters: m.countParams(),
        history: history.map((h) => ({
          ...h,
          loss: Number(h.loss.toFixed(5)),
          seconds: Number(h.seconds.toFixed(2)),
          ...(h.trainSeconds !== undefined ? { trainSeconds: Number(h.trainSeconds.toFixed(2)) } : {}),
        })),
        createdAt: new Date().toISOString(),
      }) satisfies ClassifierMetrics;
    const done: TrainEpochLog[] = [];
    const result = await trainClassifier(model, train, {
      epochs,
      batchSize,
      lr,
      seed,
      optimizer,
      lrSchedule,
      augment,
      maxBatchesPerEpoch: opts.maxBatchesPerEpoch,
      fastDense: opts.fastDense,
      fastBatchNorm: opts.fastBatchNorm,
      validation: opts.validateEachEpoch === false ? undefined : test,
      onEpoch: async (log) => {
        info(
          `epoch ${log.epoch}/${epochs}: loss ${log.loss.toFixed(4)} train acc ${log.accuracy.toFixed(4)}` +
            (log.valAccuracy !== undefined ? ` test acc ${log.valAccuracy.toFixed(4)}` : '') +
            ` (${log.seconds.toFixed(1)} s, training ${(log.trainSeconds ?? log.seconds).toFixed(1)} s = ` +
            `${((1000 * (log.trainSeconds ?? log.seconds)) / log.batches).toFixed(0)} ms per batch of ${batchSize})`,
        );
        done.push(log);
        if (opts.saveEachEpoch && log.valAccuracy !== undefined && log.epoch < epochs) {
          await saveClassifier(opts.out, m, describe(log.valAccuracy, log.accuracy, log.epoch, (performance.now() - started) / 1000, done));
        }
        if (opts.onEpoch) await opts.onEpoch(log);
      },
    });
    const last = result.history[result.history.length - 1];
    const testAccuracy = last.valAccuracy ?? evaluateAccuracy(model, test.x, test.y);
    const metrics: ClassifierMetrics = describe(testAccuracy, last.accuracy, epochs, result.seconds, result.history);
    await saveClassifier(opts.out, model, metrics);
    return metrics;
  } finally {
    disposeDataset(train);
    if (test) disposeDataset(test);
    model?.dispose();
  }
}
