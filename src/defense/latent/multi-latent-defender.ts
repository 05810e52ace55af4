import * as tf from '@tensorflow/tfjs';
import { ArgumentError, ManifestError, assert, assertFitted } from '../../errors.js';
import { Classifier } from '../../models/classifier.js';
import { readBundle, registerDetector, saveBundle, writeBundle, type LoadContext } from '../persistence.js';
import { subStore } from '../../io/store/memory.js';
import type { BundleLocation } from '../../io/store/router.js';
import { labelsFrom, runDetect } from '../detection.js';
import { empiricalPValue, type DetectOptions, type DetectionReport, type Detector, type FitOptions, type Labels } from '../types.js';
import { loadModelCopy } from './replica.js';
import {
  checkImages,
  checkLabels,
  correctMask,
  disposeMap,
  labelsOf,
  scoresFromTensors,
  scoresToTensors,
  sortedPerClass,
  thresholdsAt,
} from './common.js';
import { LatentDefender, type LatentDefenderParams } from './latent-defender.js';

/** How per-checkpoint p-values are combined ('fisher': −2 Σ log p_j; 'minp': Šidák-adjusted minimum). */
export type CombineRule = 'fisher' | 'minp';

/** Hyperparameters of a {@link MultiLatentDefender}. */
export interface MultiLatentParams {
  /** Checkpoint layer names, one latent defender each (at least one, no duplicates). */
  checkpoints: string[];
  /** Combination rule (default 'fisher'). */
  combine: CombineRule;
  /** Security parameter (percent) `detect` uses when none is given (default 1). */
  sp: number;
  /** Hyperparameters shared by every child defender (its checkpointLayer is set per child). */
  latent: Partial<Omit<LatentDefenderParams, 'checkpointLayer'>>;
}

/**
 * Combined statistic (higher = more adversarial) of per-checkpoint empirical p-values `p`
 * (each in (0, 1]): Fisher's −2 Σ_j log p_j, or −log of the Šidák-adjusted minimum
 * 1 − (1 − min_j p_j)^m.
 */
export function combineCheckpointPValues(p: ArrayLike<number>, rule: CombineRule): number {
  const m = p.length;
  if (rule === 'fisher') {
    let s = 0;
    for (let j = 0; j < m; j++) s -= 2 * Math.log(p[j]);
    return s;
  }
  let min = 1;
  for (let j = 0; j < m; j++) min = Math.min(min, p[j]);
  // 1 − (1 − min)^m, computed without cancellation for small min
  const adjusted = -Math.expm1(m * Math.log1p(-Math.min(min, 1 - 1e-16)));
  return -Math.log(adjusted);
}

interface MultiState {
  scores: Float32Array[];
}

/**
 * Several PCL latent defenders at different checkpoints, combined without adversarial data.
 *
 * Each child {@link LatentDefender} is fitted on the clean training data. For a sample with
 * victim prediction ŷ, child j gives the empirical p-value p_j = P_clean(score_j ≥ s_j | ŷ) of its
 * score among its own clean training scores of class ŷ ({@link empiricalPValue}); the p-values are
 * combined by {@link combineCheckpointPValues} (Fisher by default, or the Šidák-adjusted minimum). The
 * combined statistic is then re-calibrated on clean data: the combined scores of the clean training
 * samples (correctly classified, per class) give the per-class SP-quantile thresholds, exactly as for
 * a single defender, so SP keeps its meaning (SP % of clean training samples flagged) whatever the
 * dependence between checkpoints.
 *
 * `rawFromScore(s) = −s`. Ties: a p-value cannot go below 1/(n_k + 1), so samples beyond every clean
 * training score of every child share the largest combined score.
 * @see Rouhani et al. (2018), Fig. 10 (several parallel checkpoints).
 */
export class MultiLatentDefender implements Detector {
  static readonly detectorName = 'MultiLatentDefender';
  readonly kind = MultiLatentDefender.detectorName;
  readonly params: Readonly<MultiLatentParams>;
  private children_: LatentDefender[] = [];
  /** True when `load` built the victim from the bundle's copy (then `dispose` frees it too). */
  private ownsVictim_ = false;
  private state_?: MultiState;

  constructor(
    readonly victim: Classifier,
    params: Partial<MultiLatentParams> & Pick<MultiLatentParams, 'checkpoints'>,
  ) {
    const p: MultiLatentParams = { combine: 'fisher', sp: 1, latent: {}, ...params };
    assert(Array.isArray(p.checkpoints) && p.checkpoints.length >= 1, () => `MultiLatentDefender: 'checkpoints' must list at least one layer, got ${JSON.stringify(p.checkpoints)}`);
    assert(new Set(p.checkpoints).size === p.checkpoints.length, () => `MultiLatentDefender: 'checkpoints' has duplicates: ${p.checkpoints.join(', ')}`);
    assert(p.combine === 'fisher' || p.combine === 'minp', () => `MultiLatentDefender: 'combine' must be 'fisher' or 'minp', got '${p.combine}'`);
    assert(p.sp >= 0 && p.sp <= 100, () => `MultiLatentDefender: 'sp' must be a percentage in [0, 100], got ${p.sp}`);
    this.params = Object.freeze({ ...p, checkpoints: [...p.checkpoints], latent: { ...p.latent } });
  }

  get label(): string {
    return `latent:${this.params.checkpoints.join('+')}`;
  }
  get isFitted(): boolean {
    return this.state_ !== undefined;
  }
  get numClasses(): number {
    return this.victim.numClasses;
  }
  /** The fitted child defenders, in checkpoint order. */
  get children(): readonly LatentDefender[] {
    assertFitted(this.state_, 'MultiLatentDefender');
    return this.children_;
  }

  async fit(x: tf.Tensor4D, y: tf.Tensor1D, opts: FitOptions = {}): Promise<this> {
    checkImages(x, this.victim.inputShape, 'MultiLatentDefender.fit');
    checkLabels(y, x.shape[0], 'MultiLatentDefender.fit');
    const children: LatentDefender[] = [];
    try {
      for (const layer of this.params.checkpoints) {
        const d = new LatentDefender(this.victim, { ...this.params.latent, checkpointLayer: layer });
        children.push(d);
        await d.fit(x, y, opts);
      }
      const yTrue = labelsOf(y);
      const combined = this.combineScores(children, x, yTrue);
      const scores = sortedPerClass(combined, yTrue, this.numClasses, correctMask(await this.victim.predictLabels(x), yTrue));
      this.disposeChildren(); // not the victim: the new children use it
      this.children_ = children;
      this.state_ = { scores };
      return this;
    } catch (e) {
      for (const c of children) c.dispose();
      throw e;
    }
  }

  private combineScores(children: LatentDefender[], x: tf.Tensor4D, classOf: Int32Array): Float32Array {
    const per = children.map((c) => c.scoreUnder(x, classOf));
    const out = new Float32Array(classOf.length);
    const p = new Float64Array(children.length);
    for (let s = 0; s < classOf.length; s++) {
      for (let j = 0; j < children.length; j++) p[j] = empiricalPValue(children[j].trainScores(classOf[s]), per[j][s]);
      out[s] = combineCheckpointPValues(p, this.params.combine);
    }
    return out;
  }

  /** The victim's labels of `x` [n]: `yPred` (tensor or array) if given, else the victim's prediction. */
  async predictedLabels(x: tf.Tensor4D, yPred: Labels | undefined, who = 'MultiLatentDefender.predictedLabels'): Promise<Int32Array> {
    checkImages(x, this.victim.inputShape, who);
    const given = labelsFrom(yPred, x.shape[0], who);
    return given ?? this.victim.predictLabels(x);
  }

  /** Combined scores under given classes (no victim pass), for the shared `detect`. */
  async scoreGiven(x: tf.Tensor4D, classes: Int32Array): Promise<Float32Array> {
    return this.combineScores(this.children_, x, classes);
  }

  async score(x: tf.Tensor4D, yPred?: Labels): Promise<Float32Array> {
    assertFitted(this.state_, 'MultiLatentDefender');
    return this.combineScores(this.children_, x, await this.predictedLabels(x, yPred, 'MultiLatentDefender.score'));
  }

  rawFromScore(score: number): number {
    return -score;
  }

  thresholds(sp: number): Float32Array {
    assertFitted(this.state_, 'MultiLatentDefender');
    return thresholdsAt(this.state_.scores, sp);
  }

  trainScores(k: number): Float32Array {
    assertFitted(this.state_, 'MultiLatentDefender');
    assert(Number.isInteger(k) && k >= 0 && k < this.numClasses, () => `trainScores: class ${k} is outside [0, ${this.numClasses})`);
    return this.state_.scores[k];
  }

  /** Flags, scores and labels at `opts.sp` (default `params.sp`), see {@link Detector.detect}. */
  detect(x: tf.Tensor4D, opts?: DetectOptions): Promise<DetectionReport>;
  /** @deprecated Positional form (flags only): use `detect(x, {yPred, sp})` or `flags`. */
  detect(x: tf.Tensor4D, yPred: Labels | undefined, sp?: number): Promise<Uint8Array>;
  async detect(x: tf.Tensor4D, a?: DetectOptions | Labels, b?: number): Promise<DetectionReport | Uint8Array> {
    assertFitted(this.state_, 'MultiLatentDefender');
    return runDetect(this, `MultiLatentDefender.detect`, x, a, b, this.params.sp);
  }

  /** The flags of {@link detect}, [n], 1 = adversarial. */
  async flags(x: tf.Tensor4D, opts: DetectOptions = {}): Promise<Uint8Array> {
    return (await this.detect(x, opts)).adversarial;
  }

  /** Writes manifest.json + weights.bin (combined training scores) and one child bundle per checkpoint (`latent-<j>/`). */
  async save(dir: BundleLocation): Promise<void> {
    const st = this.state_;
    assertFitted(st, 'MultiLatentDefender');
    await saveBundle(dir, async (tmp) => {
      const children: Record<string, string> = {};
      for (let j = 0; j < this.children_.length; j++) {
        await this.children_[j].save(subStore(tmp, `latent-${j}`));
        children[this.params.checkpoints[j]] = `latent-${j}/`;
      }
      const tensors = scoresToTensors(st.scores);
      try {
        await writeBundle(
          tmp,
          {
            name: MultiLatentDefender.detectorName,
            params: { ...this.params },
            attributes: { numClasses: this.numClasses, thresholds: { sp: this.params.sp, values: Array.from(this.thresholds(this.params.sp)) } },
            children,
          },
          tensors,
        );
      } finally {
        disposeMap(tensors);
      }
    });
  }

  /** Loads a bundle written by {@link save}; child bundles are verified one by one. */
  static async load(dir: BundleLocation, ctx: LoadContext = {}): Promise<MultiLatentDefender> {
    const { manifest, tensors, store } = await readBundle(dir, MultiLatentDefender.detectorName);
    const children: LatentDefender[] = [];
    let owned: Classifier | undefined;
    try {
      if (ctx.victim !== undefined && !(ctx.victim instanceof Classifier)) throw new ArgumentError('MultiLatentDefender.load: ctx.victim must be a Classifier');
      const params = manifest.params as unknown as MultiLatentParams;
      const kids = manifest.children ?? {};
      const rels = params.checkpoints.map((layer) => {
        const rel = kids[layer];
        if (rel === undefined) throw new ManifestError(`${store.describe('manifest.json')}: field 'children' has no entry for checkpoint '${layer}'`);
        return rel;
      });
      // one victim for every child: the caller's, else the first child's copy (owned by this detector)
      if (!(ctx.victim instanceof Classifier)) owned = new Classifier(await loadModelCopy(subStore(store, `${rels[0]}/victim`)));
      const victim = (ctx.victim as Classifier | undefined) ?? owned!;
      for (const rel of rels) children.push(await LatentDefender.load(subStore(store, rel), { victim }));
      const det = new MultiLatentDefender(victim, params);
      det.children_ = children;
      det.state_ = { scores: scoresFromTensors(tensors, victim.numClasses, 'scores', store.describe('manifest.json')) };
      det.ownsVictim_ = owned !== undefined;
      return det;
    } catch (e) {
      owned?.model.dispose();
      for (const c of children) c.dispose();
      throw e;
    } finally {
      disposeMap(tensors);
    }
  }

  private disposeChildren(): void {
    for (const c of this.children_) c.dispose();
    this.children_ = [];
    this.state_ = undefined;
  }

  /** Frees every child defender (and the victim, when `load` built it from the bundle's copy). */
  dispose(): void {
    this.disposeChildren();
    if (this.ownsVictim_) {
      this.victim.model.dispose();
      this.ownsVictim_ = false;
    }
  }
}

registerDetector(MultiLatentDefender.detectorName, (dir, ctx) => MultiLatentDefender.load(dir, ctx));
