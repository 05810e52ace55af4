import * as tf from '@tensorflow/tfjs';
import { ArgumentError, ShapeError, assert, assertFitted } from '../../errors.js';
import { createPool, yieldToEventLoop, type ParallelPool } from '../../util/parallel.js';
import type { Classifier } from '../../models/classifier.js';
import { progressBar } from '../../util/progress.js';
import { Rng } from '../../util/rng.js';
import { registerDetector, type LoadContext } from '../persistence.js';
import type { BundleLocation } from '../../io/store/router.js';
import { labelsFrom, runDetect } from '../detection.js';
import { thresholdFromScores, type DetectOptions, type DetectionReport, type Detector, type FitOptions, type Labels } from '../types.js';
import { learnDictionaryTask, type DictionaryTask, type DictionaryTaskResult } from './dictionary-task.js';
import { gramMatrix } from './omp.js';
import { readInputBundle, saveInputBundle } from './input-bundle.js';
import { INPUT_DEFAULTS, MIN_PARALLEL_PATCHES, dictParams, scoringGrid, validateInputParams, type InputDefenderParams } from './params.js';
import type { InputFitInfo, InputState } from './state.js';

export type { InputDefenderParams } from './params.js';
export type { InputFitInfo } from './state.js';
import type { ShardCodingTask } from './omp-task.js';
import { reconstructByClass, reconstructImages, reconstructPatches } from './sparse-coding.js';
import { defaultPatchSize, samplePatches, type PatchGrid } from './patches.js';
import { psnr } from './psnr.js';
import { correctMask, sortedPerClass } from '../latent/common.js';
/** A parallel map over worker threads (the engine's `WorkerPool.map` shape). */
export type ParallelMap = <P, R>(moduleUrl: string, exportName: string, payloads: P[]) => Promise<R[]>;

/**
 * The paper's input defender: one dictionary per class learned from clean image patches, and an
 * alarm when an image is poorly rebuilt from the dictionary of the class the victim predicted.
 *
 * `fit` (clean training data only): per class k, draw `patchesPerClass` random p × p patches from
 * the class's training images (centred per channel, see `patches.ts`) and learn `nAtoms` unit-norm
 * atoms by online dictionary learning with Lasso penalty β = `alpha` (`dictionary-learning.ts`); the
 * classes are fitted in parallel worker threads when a pool is available. Then every clean
 * training image that the victim classifies correctly is scored, and the sorted scores of each
 * class are kept, so `thresholds(sp)` is a quantile (no refit when SP changes).
 *
 * `score(x, yPred)`: cut each image into the non-overlapping patch grid, code every patch with
 * Batch-OMP (`nNonzero` atoms) on D_{yPred}, add the patch means back, and compute
 * PSNR = 20·log10(MAX) − 10·log10(MSE). score = −PSNR (higher = more adversarial);
 * `rawFromScore` gives the PSNR back. Patch correlations D·x are tfjs matMuls over chunks of
 * patches; the greedy selection and Cholesky updates run in typed-array loops (`omp.ts`), in this
 * thread or split over `scoreWorkers` worker threads (`omp-task.ts`).
 *
 * @see Rouhani et al., "Towards safe deep learning: unsupervised defense against generic
 *   adversarial attacks" (2018), §3 (input defender).
 */
export class InputDefender implements Detector {
  static readonly detectorName = 'InputDefender';
  readonly kind = InputDefender.detectorName;
  readonly label = 'input';
  readonly params: Readonly<InputDefenderParams>;
  private state_?: InputState;
  /** Worker threads for scoring (created on first use when `scoreWorkers` > 1). */
  private scorePool_?: ParallelPool;

  /**
   * @param victim the guarded classifier: predicts the class whose dictionary is used when `score`
   *   gets no `yPred`, and filters misclassified training images out of the thresholds. May be
   *   undefined if every call passes `yPred`.
   */
  constructor(
    readonly victim: Classifier | undefined,
    params: Partial<InputDefenderParams> = {},
  ) {
    this.params = Object.freeze(validateInputParams({ ...INPUT_DEFAULTS, ...params }));
  }

  get isFitted(): boolean {
    return this.state_ !== undefined;
  }
  get numClasses(): number {
    if (this.state_) return this.state_.numClasses;
    if (this.victim) return this.victim.numClasses;
    assertFitted(this.state_, 'InputDefender');
    return 0;
  }
  /** Patch grid used for scoring (after fit/load). */
  get grid(): PatchGrid {
    assertFitted(this.state_, 'InputDefender');
    return this.state_.grid;
  }
  /** Dictionary of class `k`, `[nAtoms, p·p·c]` atom-major (a copy). */
  dictionary(k: number): Float32Array {
    assertFitted(this.state_, 'InputDefender');
    this.checkClass(k, 'dictionary');
    return this.state_.dicts[k].slice();
  }
  /** What the last `fit` measured (undefined after `load`). */
  get fitInfo(): InputFitInfo | undefined {
    assertFitted(this.state_, 'InputDefender');
    return this.state_.info;
  }

  private checkClass(k: number, who: string): void {
    const nc = this.state_!.numClasses;
    assert(Number.isInteger(k) && k >= 0 && k < nc, () => `InputDefender.${who}: expected a class in [0, ${nc}), got ${k}`, ArgumentError);
  }

  private checkX(x: tf.Tensor, who: string, shape?: readonly number[]): void {
    assert(x.rank === 4, () => `InputDefender.${who}: expected x of rank 4 [n,h,w,c], got shape [${x.shape}]`, ShapeError);
    if (shape) {
      assert(
        x.shape.slice(1).every((v, i) => v === shape[i]),
        () => `InputDefender.${who}: expected x of shape [n,${shape.join(',')}], got [${x.shape}]`,
        ShapeError,
      );
    }
  }

  /**
   * Learns the class dictionaries and the clean-score profiles. `x`: [n,h,w,c] clean training
   * images in [0, maxValue]; `y`: [n] true labels. Inputs are not disposed. Resolves to `this`.
   * The per-class fits run on the engine's `WorkerPool` with `params.workers` threads (in this
   * thread when it is 0 or 1); `opts.parallel` substitutes another parallel map.
   */
  async fit(x: tf.Tensor4D, y: tf.Tensor1D, opts: FitOptions & { parallel?: ParallelMap } = {}): Promise<this> {
    this.checkX(x, 'fit', this.victim?.inputShape);
    assert(y.rank === 1 && y.shape[0] === x.shape[0], () => `InputDefender.fit: expected y of shape [${x.shape[0]}], got [${y.shape}]`, ShapeError);
    const [n, h, w, c] = x.shape;
    const p = this.params.patchSize === 'auto' ? defaultPatchSize(h, w) : this.params.patchSize;
    const grid = scoringGrid(h, w, c, p, this.params.stride);
    const images = (await x.data()) as Float32Array;
    const labels = Int32Array.from(await y.data());
    let maxLabel = -1;
    for (let s = 0; s < n; s++) {
      assert(Number.isInteger(labels[s]) && labels[s] >= 0, () => `InputDefender.fit: label ${labels[s]} at row ${s} is not a class index`, ArgumentError);
      if (labels[s] > maxLabel) maxLabel = labels[s];
    }
    const numClasses = this.victim?.numClasses ?? maxLabel + 1;
    assert(maxLabel < numClasses, () => `InputDefender.fit: label ${maxLabel} is outside [0, ${numClasses})`, ArgumentError);
    const byClass: number[][] = Array.from({ length: numClasses }, () => []);
    for (let s = 0; s < n; s++) byClass[labels[s]].push(s);
    for (let k = 0; k < numClasses; k++) {
      assert(byClass[k].length > 0, () => `InputDefender.fit: class ${k} has no training images (one dictionary per class is needed)`, ArgumentError);
    }

    // 1. patches and dictionaries, seeded per class
    const rng = new Rng(opts.seed ?? this.params.seed);
    const tasks: DictionaryTask[] = byClass.map((idx) => {
      const sampleSeed = rng.seed();
      const dlSeed = rng.seed();
      const patches = samplePatches(images, [n, h, w, c], p, this.params.patchesPerClass, new Rng(sampleSeed), idx);
      return { patches, nFeatures: grid.dim, params: dictParams(this.params, dlSeed) };
    });
    const t0 = performance.now();
    const { results, parallelism } = await this.runTasks(tasks, opts);
    const dictionaryWallSeconds = (performance.now() - t0) / 1000;
    opts.log?.(`InputDefender: ${numClasses} dictionaries in ${dictionaryWallSeconds.toFixed(1)} s (${parallelism})`);
    const dicts = results.map((r) => r.dictionary);
    const grams = dicts.map((d) => gramMatrix(d, this.params.nAtoms, grid.dim));
    const state: InputState = { h, w, c, grid, numClasses, dicts, grams, trainScores: [] };

    // 2. clean-score profile per class (images the victim gets right)
    const keep = this.victim ? correctMask(await this.victim.predictLabels(x), labels) : undefined;
    const scores = await this.scoreArrays(state, images, n, labels);
    state.trainScores = sortedPerClass(scores, labels, numClasses, keep);
    state.info = {
      dictionarySeconds: results.map((r) => r.seconds),
      dictionaryWallSeconds,
      parallelism,
      reseeded: results.map((r) => r.reseeded),
      trainCounts: state.trainScores.map((g) => g.length),
    };
    this.state_ = state;
    return this;
  }

  private async runTasks(tasks: DictionaryTask[], opts: FitOptions & { parallel?: ParallelMap }): Promise<{ results: DictionaryTaskResult[]; parallelism: string }> {
    // under tsx/vitest this module is a .ts file; the worker must load the same flavour
    const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
    const url = new URL(`./dictionary-task.${ext}`, import.meta.url).href;
    if (opts.parallel) return { results: await opts.parallel<DictionaryTask, DictionaryTaskResult>(url, 'learnDictionaryTask', tasks), parallelism: 'workers:custom' };
    const size = Math.min(this.params.workers, tasks.length);
    const bar = progressBar('dictionaries', tasks.length, { enabled: opts.progress });
    try {
      const pool = size > 1 ? createPool(size) : undefined;
      if (pool) {
        try {
          // each task owns its patch buffer, so moving it to the worker is safe
          const results = await pool.map<DictionaryTask, DictionaryTaskResult>(url, 'learnDictionaryTask', tasks, { transfer: true, onProgress: () => bar.tick() });
          return { results, parallelism: `workers:${size}` };
        } finally {
          await pool.close();
        }
      }
      const results: DictionaryTaskResult[] = [];
      for (const t of tasks) {
        results.push(learnDictionaryTask(t));
        bar.tick();
        // let timers and I/O run between classes
        await yieldToEventLoop();
      }
      return { results, parallelism: 'in-process' };
    } finally {
      bar.stop();
    }
  }

  /** −PSNR per image for images [n, h, w, c] (flat) coded with the dictionaries of `classes`. */
  private async scoreArrays(state: InputState, images: Float32Array, n: number, classes: ArrayLike<number>): Promise<Float32Array> {
    const rec = await this.reconstructArrays(state, images, n, classes);
    const ps = psnr(images, rec, n, this.params.maxValue);
    for (let i = 0; i < n; i++) ps[i] = -ps[i];
    return ps;
  }

  /**
   * Reconstructions [n, h, w, c] (flat) of `images` from the dictionaries of `classes`: here, or
   * with the images split into one contiguous shard per scoring worker (each worker codes its shard
   * class by class, exactly as here, so the results are identical).
   */
  private async reconstructArrays(state: InputState, images: Float32Array, n: number, classes: ArrayLike<number>): Promise<Float32Array> {
    const { grid, numClasses } = state;
    for (let s = 0; s < n; s++) {
      const k = classes[s];
      assert(Number.isInteger(k) && k >= 0 && k < numClasses, () => `InputDefender: predicted class ${k} at row ${s} is outside [0, ${numClasses})`, ArgumentError);
    }
    const bs = this.params.scoreBatchSize;
    const workers = Math.min(this.params.scoreWorkers, Math.floor((n * grid.patchesPerImage) / MIN_PARALLEL_PATCHES));
    if (workers > 1) this.scorePool_ ??= createPool(this.params.scoreWorkers);
    // one worker, or none on this platform (a browser): code here
    if (workers <= 1 || !this.scorePool_) return reconstructByClass(images, n, grid, state.dicts, state.grams, classes, this.params.nNonzero, bs);
    const size = grid.h * grid.w * grid.c;
    const per = Math.ceil(n / workers);
    const tasks: ShardCodingTask[] = [];
    for (let a = 0; a < n; a += per) {
      const b = Math.min(n, a + per);
      tasks.push({
        images: images.slice(a * size, b * size),
        n: b - a,
        grid,
        classes: Int32Array.from({ length: b - a }, (_, i) => classes[a + i]),
        dicts: state.dicts,
        nNonzero: this.params.nNonzero,
        batchSize: bs,
      });
    }
    const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
    const parts = await this.scorePool_.map<ShardCodingTask, Float32Array>(new URL(`./omp-task.${ext}`, import.meta.url).href, 'reconstructShardTask', tasks);
    const out = new Float32Array(n * size);
    parts.forEach((r, i) => out.set(r, i * per * size));
    return out;
  }

  private async classesFor(x: tf.Tensor4D, yPred: Labels | undefined, who: string): Promise<Int32Array> {
    const given = labelsFrom(yPred, x.shape[0], `InputDefender.${who}`);
    if (given) return given;
    if (!this.victim) throw new ArgumentError(`InputDefender.${who}: no yPred given and no victim to predict it (pass a Classifier to the constructor or to load)`);
    return this.victim.predictLabels(x);
  }

  /**
   * −PSNR [n] of each image's reconstruction from the dictionary of its predicted class (`yPred`,
   * else the victim's prediction). Higher = more adversarial. Inputs are not disposed.
   */
  async score(x: tf.Tensor4D, yPred?: Labels): Promise<Float32Array> {
    assertFitted(this.state_, 'InputDefender');
    const st = this.state_;
    this.checkX(x, 'score', [st.h, st.w, st.c]);
    const classes = await this.classesFor(x, yPred, 'score');
    return this.scoreArrays(st, (await x.data()) as Float32Array, x.shape[0], classes);
  }

  /** PSNR in dB (the raw score the CLI prints) of a `score` value. */
  rawFromScore(score: number): number {
    return -score;
  }

  /**
   * Sparse reconstruction of `x` [n,h,w,c] from the dictionaries of the predicted classes: the image
   * the PSNR compares against. Returns a new tensor owned by the caller; inputs are not disposed.
   */
  async reconstruct(x: tf.Tensor4D, yPred?: Labels): Promise<tf.Tensor4D> {
    assertFitted(this.state_, 'InputDefender');
    const st = this.state_;
    this.checkX(x, 'reconstruct', [st.h, st.w, st.c]);
    const classes = await this.classesFor(x, yPred, 'reconstruct');
    const rec = await this.reconstructArrays(st, (await x.data()) as Float32Array, x.shape[0], classes);
    return tf.tensor4d(rec, x.shape);
  }

  thresholds(sp: number): Float32Array {
    assertFitted(this.state_, 'InputDefender');
    return Float32Array.from(this.state_.trainScores, (s) => thresholdFromScores(s, sp));
  }

  /** The victim's labels of `x` [n]: `yPred` (tensor or array) if given, else the victim's prediction. */
  async predictedLabels(x: tf.Tensor4D, yPred: Labels | undefined, who = 'predictedLabels'): Promise<Int32Array> {
    assertFitted(this.state_, 'InputDefender');
    const st = this.state_;
    this.checkX(x, who.replace(/^InputDefender\./, ''), [st.h, st.w, st.c]);
    return this.classesFor(x, yPred, who.replace(/^InputDefender\./, ''));
  }

  /** −PSNR under given classes (no victim pass), for the shared `detect`. */
  async scoreGiven(x: tf.Tensor4D, classes: Int32Array): Promise<Float32Array> {
    assertFitted(this.state_, 'InputDefender');
    return this.scoreArrays(this.state_, (await x.data()) as Float32Array, x.shape[0], classes);
  }

  /** Flags, scores and labels at `opts.sp` (default `params.sp`), see {@link Detector.detect}. */
  detect(x: tf.Tensor4D, opts?: DetectOptions): Promise<DetectionReport>;
  /** @deprecated Positional form (flags only): use `detect(x, {yPred, sp})` or `flags`. */
  detect(x: tf.Tensor4D, yPred: Labels | undefined, sp?: number): Promise<Uint8Array>;
  async detect(x: tf.Tensor4D, a?: DetectOptions | Labels, b?: number): Promise<DetectionReport | Uint8Array> {
    assertFitted(this.state_, 'InputDefender');
    return runDetect(this, 'InputDefender.detect', x, a, b, this.params.sp);
  }

  /** The flags of {@link detect}, [n], 1 = adversarial. */
  async flags(x: tf.Tensor4D, opts: DetectOptions = {}): Promise<Uint8Array> {
    return (await this.detect(x, opts)).adversarial;
  }

  trainScores(k: number): Float32Array {
    assertFitted(this.state_, 'InputDefender');
    this.checkClass(k, 'trainScores');
    return this.state_.trainScores[k];
  }

  /** Writes the bundle (manifest.json + weights.bin: dictionaries and clean scores) atomically. */
  async save(dir: BundleLocation): Promise<void> {
    assertFitted(this.state_, 'InputDefender');
    await saveInputBundle(dir, InputDefender.detectorName, this.params, this.state_);
  }

  /**
   * Loads a bundle written by `save`; `ctx.victim` (a `Classifier`) restores victim predictions.
   * `runtime` overrides the settings that do not change results (scoring threads and batch size).
   */
  static async load(dir: BundleLocation, ctx: LoadContext = {}, runtime: Partial<Pick<InputDefenderParams, 'scoreWorkers' | 'scoreBatchSize'>> = {}): Promise<InputDefender> {
    const victim = ctx.victim as Classifier | undefined;
    let det: InputDefender | undefined;
    const state = await readInputBundle(dir, InputDefender.detectorName, (p) => (det = new InputDefender(victim, { stride: 'tile', ...p, ...runtime })).params);
    if (victim) {
      assert(victim.numClasses === state.numClasses, () => `InputDefender.load: the bundle has ${state.numClasses} classes, the victim ${victim.numClasses}`, ShapeError);
    }
    det!.state_ = state;
    return det!;
  }

  /** Forgets the fitted state (plain arrays; no tensors are held) and stops the scoring workers, if any. */
  dispose(): void {
    this.state_ = undefined;
    const pool = this.scorePool_;
    this.scorePool_ = undefined;
    if (pool) void pool.close();
  }
}

export { reconstructImages, reconstructPatches };

registerDetector(InputDefender.detectorName, (dir, ctx) => InputDefender.load(dir, ctx));
