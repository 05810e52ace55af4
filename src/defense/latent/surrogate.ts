/**
 * What a latent defender publishes for white-box attackers: a differentiable surrogate of its score
 * ({@link LatentScoreSurrogate}), so an attack never reaches into the replica, the HDDA densities or
 * the scoring internals. The surrogate has the same components, per-class thresholds and tail scales
 * as the defender's decision at a given SP; its HDDA log-density is a tfjs twin of `hddaLogLikAll`
 * (`hdda-tf.ts`) and its other components are computed exactly as in `scoring.ts`.
 */
import * as tf from '@tensorflow/tfjs';
import { ShapeError, assert } from '../../errors.js';
import type { ScoreSurrogate } from '../types.js';
import type { HddaClass } from './hdda.js';
import { disposeHddaTensors, hddaLogLikTensor, hddaTensors, type HddaTensors } from './hdda-tf.js';
import type { Replica } from './replica.js';
import { negLogTailPValue, scoringNeedsComponents, type LatentScoring, type ScoreComponents } from './scoring.js';

/** What {@link componentThresholds} and {@link LatentScoreSurrogate} read of a fitted latent defender. */
export interface LatentSurrogateSource {
  readonly label: string;
  readonly numClasses: number;
  readonly params: { readonly scoring: LatentScoring };
  thresholds(sp: number): Float32Array;
  trainScores(k: number): Float32Array;
  readonly scoreComponents: Readonly<ScoreComponents> | undefined;
}

/** A score component of a latent defender (see `LatentScoring`). */
export type LatentComponent = 'likelihood' | 'ratio' | 'disagreement';

/**
 * What a latent defender scores, as per-component, per-class thresholds: the defender flags a
 * sample of (victim-predicted) class k at SP iff some component j has s_j > `thresholds[j][k]`.
 * `scales[j][k]` is the clean tail scale β of that component (the slope of the defender's
 * −log p-value past its largest clean score), the unit the attack's hinge is measured in.
 */
export interface ComponentThresholds {
  components: LatentComponent[];
  /** [component][class]; ±1e30 stands for ±∞. */
  thresholds: Float32Array[];
  /** [component][class], > 0. */
  scales: Float32Array[];
}

export const BIG = 1e30;

/** Tail scale β of ascending clean scores, as `negLogTailPValue` computes it (floored at 1e-6). */
function tailScale(sorted: Float32Array): number {
  const n = sorted.length;
  if (n < 2) return 1;
  const m = Math.max(1, Math.min(n - 1, Math.floor(0.01 * n)));
  const u = sorted[n - 1 - m];
  let excess = 0;
  for (let i = n - m; i < n; i++) excess += sorted[i] - u;
  return Math.max(excess / m, 1e-6);
}

/** sup{s : negLogTailPValue(sorted, s) ≤ tau} (the function is non-decreasing in s), by bisection. */
function invertNegLogTail(sorted: Float32Array, tau: number): number {
  const n = sorted.length;
  if (n === 0 || tau === Infinity) return BIG;
  if (!(tau >= 0)) return -BIG; // every −log p is ≥ 0: nothing passes a negative threshold
  // the defender compares float32 scores with float32 thresholds: round as it does
  const f = (s: number) => Math.fround(negLogTailPValue(sorted, s));
  let lo = sorted[0] - 1;
  let step = Math.max(sorted[n - 1] - sorted[0], 1);
  let hi = sorted[n - 1] + step;
  while (f(hi) <= tau) {
    step *= 2;
    hi = sorted[n - 1] + step;
    if (!Number.isFinite(hi)) return BIG;
  }
  for (let i = 0; i < 200 && hi - lo > 1e-9 * Math.max(1, Math.abs(hi)); i++) {
    const mid = (lo + hi) / 2;
    if (f(mid) <= tau) lo = mid;
    else hi = mid;
  }
  return lo;
}

/**
 * Per-component, per-class thresholds of the fitted `defender` at security parameter `sp`, exact for
 * every scoring: for a single-component scoring the defender's own thresholds; for `'combined'` and
 * `'combined-disagreement'` (score = max_j −log p_j(s_j), threshold τ_k) the component score at which
 * that component's −log p-value reaches τ_k, so "flagged" ⇔ ∃j: s_j > t_jk.
 */
export function componentThresholds(defender: LatentSurrogateSource, sp: number): ComponentThresholds {
  const k = defender.numClasses;
  const tau = defender.thresholds(sp);
  const clamp = (v: number) => Math.max(-BIG, Math.min(BIG, v));
  const scoring = defender.params.scoring;
  if (!scoringNeedsComponents(scoring)) {
    const sorted = Array.from({ length: k }, (_, c) => defender.trainScores(c));
    return {
      components: [scoring as LatentComponent],
      thresholds: [Float32Array.from(tau, clamp)],
      scales: [Float32Array.from(sorted, tailScale)],
    };
  }
  const comps = defender.scoreComponents!;
  const components: LatentComponent[] = scoring === 'combined-disagreement' ? ['likelihood', 'ratio', 'disagreement'] : ['likelihood', 'ratio'];
  return {
    components,
    thresholds: components.map((j) => Float32Array.from({ length: k }, (_, c) => clamp(invertNegLogTail(comps[j]![c], tau[c])))),
    scales: components.map((j) => Float32Array.from({ length: k }, (_, c) => tailScale(comps[j]![c]))),
  };
}

/**
 * The differentiable surrogate of a latent defender's score at one SP (see {@link ScoreSurrogate}).
 * Holds tensors (the HDDA densities, thresholds and scales): free it with `dispose()`. The replica it
 * runs stays owned by the defender, so the surrogate is valid only while the defender is.
 */
export class LatentScoreSurrogate implements ScoreSurrogate {
  readonly label: string;
  readonly components: readonly LatentComponent[];
  readonly numClasses: number;
  private readonly hdda?: HddaTensors;
  /** [K, J] thresholds and tail scales. */
  private readonly thr: tf.Tensor2D;
  private readonly scale: tf.Tensor2D;

  constructor(
    source: LatentSurrogateSource,
    private readonly replica: Readonly<Replica>,
    densities: readonly HddaClass[],
    readonly sp: number,
  ) {
    const ct = componentThresholds(source, sp);
    const k = source.numClasses;
    const j = ct.components.length;
    const toKJ = (rows: Float32Array[]) => {
      const m = new Float32Array(k * j);
      rows.forEach((r, jj) => r.forEach((v, c) => (m[c * j + jj] = v)));
      return tf.tensor2d(m, [k, j]);
    };
    this.label = source.label;
    this.numClasses = k;
    this.components = ct.components;
    this.hdda = ct.components.some((c) => c !== 'disagreement') ? hddaTensors(densities) : undefined;
    this.thr = toKJ(ct.thresholds);
    this.scale = toKJ(ct.scales);
  }

  /**
   * Raw score components of images `x` [n,h,w,c] read under classes `classes` (one-hot [n, K], e.g. the
   * class the attacker aims the victim at): [n, J], differentiable w.r.t. `x` — −log p(φ|ĉ) (tfjs HDDA),
   * the negative log likelihood ratio against the other classes, the replica's −log p_replica(ĉ|x).
   * Returns a new tensor; call inside `tf.tidy` (intermediates are not freed here).
   */
  scores(x: tf.Tensor4D, classes: tf.Tensor2D): tf.Tensor2D {
    const n = x.shape[0];
    assert(classes.rank === 2 && classes.shape[0] === n && classes.shape[1] === this.numClasses, () => `${this.label} surrogate: expected classes one-hot of shape [${n}, ${this.numClasses}], got [${classes.shape}]`, ShapeError);
    const [phiRaw, out] = this.replica.model.apply(x) as tf.Tensor[];
    const cols: tf.Tensor1D[] = [];
    let ll: tf.Tensor2D | undefined;
    if (this.hdda) ll = hddaLogLikTensor(this.hdda, phiRaw.reshape([n, -1]) as tf.Tensor2D);
    for (const c of this.components) {
      if (c === 'likelihood') {
        cols.push(tf.neg(tf.sum(tf.mul(ll!, classes), 1)) as tf.Tensor1D);
      } else if (c === 'ratio') {
        const own = tf.sum(tf.mul(ll!, classes), 1);
        const others = tf.logSumExp(tf.sub(ll!, tf.mul(classes, BIG)), 1);
        cols.push(tf.sub(others, own) as tf.Tensor1D);
      } else {
        const lp = this.replica.outputIsProbs ? tf.log(tf.clipByValue(out, 1e-30, 1)) : tf.logSoftmax(out);
        cols.push(tf.neg(tf.sum(tf.mul(lp.reshape([n, -1]), classes), 1)) as tf.Tensor1D);
      }
    }
    return tf.stack(cols, 1) as tf.Tensor2D;
  }

  /**
   * Standardised excess (s_j − t_j(ĉ)) / β_j(ĉ) of every component over its threshold at `sp`: [n, J];
   * ≤ 0 everywhere ⇔ the defender does not flag the row (up to the surrogate's float error).
   */
  excess(x: tf.Tensor4D, classes: tf.Tensor2D): tf.Tensor2D {
    const s = this.scores(x, classes);
    return tf.div(tf.sub(s, tf.matMul(classes, this.thr)), tf.matMul(classes, this.scale)) as tf.Tensor2D;
  }

  dispose(): void {
    if (this.hdda) disposeHddaTensors(this.hdda);
    tf.dispose([this.thr, this.scale]);
  }
}
