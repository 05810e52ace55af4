import * as tf from '@tensorflow/tfjs';
import { ArgumentError } from '../errors.js';
import { Rng } from '../util/rng.js';
import { checkInputs, checkInt, checkRange, logitsAndJacobian, measure } from './common.js';
import type { Attack, AttackModel, AttackResult, Labels, RunOptions } from './types.js';

/**
 * How JSMA picks the target class of each input when none is given:
 * - `random`: uniform over the K−1 classes other than the true label (seeded; the paper's setting),
 * - `next`: (label + 1) mod K,
 * - `least-likely`: the class with the lowest clean logit.
 */
export type JsmaTargetPolicy = 'random' | 'next' | 'least-likely';
/** Every JSMA target policy. */
export const JSMA_TARGET_POLICIES: readonly JsmaTargetPolicy[] = ['random', 'next', 'least-likely'];

/** Hyperparameters of JSMA. */
export interface JsmaParams {
  /** Change applied to each selected feature (then clipped to the bounds); > 0 increases. Default 1. */
  theta: number;
  /** Maximum fraction of the input features that may be changed. Default 0.05 (the paper's 5 %). */
  gamma: number;
  /** Target class rule when `RunOptions.targets` is not given. Default 'random'. */
  target: JsmaTargetPolicy;
  /**
   * Differentiate the softmax output F (Papernot et al.'s forward derivative; the default, 'probs') or
   * the logits (cleverhans' choice, 'logits'). On the MNIST victim 'probs' succeeds more often
   * (bench/results/attacks.md).
   */
  saliencyOn: 'logits' | 'probs';
  /** Rows per chunk of the pairwise saliency search; its memory is chunk × D² floats. Default 8. */
  pairChunk: number;
}

/** Default JSMA hyperparameters (the paper's γ = 5 %, θ = 1). */
export const JSMA_DEFAULTS: Readonly<JsmaParams> = Object.freeze({
  theta: 1,
  gamma: 0.05,
  target: 'random',
  saliencyOn: 'probs',
  pairChunk: 8,
});

/**
 * Target classes [n] for labels `y` under `policy`. `cleanLogits` (row-major [n, k]) is needed for
 * 'least-likely'.
 */
export function chooseTargets(policy: JsmaTargetPolicy, y: Int32Array, k: number, seed = 0, cleanLogits?: Float32Array | Int32Array | Uint8Array): Int32Array {
  const t = new Int32Array(y.length);
  const rng = new Rng(seed);
  for (let i = 0; i < y.length; i++) {
    if (policy === 'random') {
      const r = rng.int(k - 1);
      t[i] = r >= y[i] ? r + 1 : r;
    } else if (policy === 'next') {
      t[i] = (y[i] + 1) % k;
    } else {
      if (!cleanLogits) throw new ArgumentError(`chooseTargets: 'least-likely' needs the clean logits`);
      let best = -1;
      for (let j = 0; j < k; j++) if (j !== y[i] && (best < 0 || cleanLogits[i * k + j] < cleanLogits[i * k + best])) best = j;
      t[i] = best;
    }
  }
  return t;
}

/**
 * Pairwise saliency search (Papernot et al., Algorithm 3) for rows of `alpha` = ∂z_t/∂x and
 * `beta` = Σ_{k≠t} ∂z_k/∂x (both [m, D]) over the features where `domain` [m, D] is 1.
 * For increasing perturbations (θ > 0) the pair (p, q) must have α_p+α_q > 0 and β_p+β_q < 0 and
 * maximises (α_p+α_q)·|β_p+β_q|; for θ < 0 the signs flip.
 *
 * @returns p, q [m] int32 feature indices and valid [m] float (1 where some admissible pair exists).
 *   New tensors owned by the caller.
 */
export function bestPairs(alpha: tf.Tensor2D, beta: tf.Tensor2D, domain: tf.Tensor2D, increase: boolean): { p: tf.Tensor1D; q: tf.Tensor1D; valid: tf.Tensor1D } {
  return tf.tidy(() => {
    const [m, d] = alpha.shape;
    const aP = tf.add(alpha.reshape([m, d, 1]), alpha.reshape([m, 1, d]));
    const bP = tf.add(beta.reshape([m, d, 1]), beta.reshape([m, 1, d]));
    // relu(±aP)·relu(∓bP) is the saliency where both sign conditions hold and 0 elsewhere
    const score0 = increase ? tf.mul(tf.relu(aP), tf.relu(tf.neg(bP))) : tf.mul(tf.relu(tf.neg(aP)), tf.relu(bP));
    const offDiag = tf.sub(1, tf.eye(d));
    const dom = tf.mul(tf.mul(domain.reshape([m, d, 1]), domain.reshape([m, 1, d])), offDiag);
    const score = tf.mul(score0, dom).reshape([m, d * d]);
    const idx = tf.argMax(score, 1);
    const valid = tf.cast(tf.greater(tf.max(score, 1), 0), 'float32') as tf.Tensor1D;
    const p = tf.cast(tf.floorDiv(idx, d), 'int32') as tf.Tensor1D;
    const q = tf.cast(tf.mod(idx, d), 'int32') as tf.Tensor1D;
    return { p, q, valid };
  });
}

/**
 * Jacobian-based Saliency Map Attack (targeted, L0): repeatedly picks the pair of input features
 * whose joint increase (θ > 0) most raises the target logit while lowering the others, and changes
 * both by θ (clipped to the bounds). Each feature is changed at most once (it leaves the search
 * domain), and at most ⌊γ·D/2⌋ pairs are changed, so at most ⌊γ·D⌋ features move. A row stops when
 * it is classified as its target or no admissible pair remains. Success means "classified as the
 * target"; `AttackResult.targets` reports the targets and the summary's misclassification rate the
 * untargeted view.
 *
 * Each iteration costs one forward and one backward pass of K·n rows plus an [n, D, D] pair search
 * (in chunks of `pairChunk` rows).
 *
 * @see Papernot, McDaniel, Jha, Fredrikson, Celik, Swami, "The Limitations of Deep Learning in Adversarial Settings", EuroS&P 2016.
 */
export class JSMA implements Attack<JsmaParams> {
  readonly name = 'jsma';
  readonly norm = 'l0' as const;
  readonly targeted = true;
  readonly params: Readonly<JsmaParams>;

  constructor(params: Partial<JsmaParams> = {}) {
    const p = { ...JSMA_DEFAULTS, ...params };
    checkRange('JSMA', 'theta', p.theta, -Infinity, Infinity);
    if (p.theta === 0) throw new ArgumentError(`JSMA: 'theta' must be non-zero, got 0`);
    checkRange('JSMA', 'gamma', p.gamma, 0, 1);
    if (!JSMA_TARGET_POLICIES.includes(p.target)) {
      throw new ArgumentError(`JSMA: 'target' must be one of ${JSMA_TARGET_POLICIES.join(', ')}, got '${p.target}'`);
    }
    if (p.saliencyOn !== 'logits' && p.saliencyOn !== 'probs') {
      throw new ArgumentError(`JSMA: 'saliencyOn' must be 'logits' or 'probs', got '${p.saliencyOn}'`);
    }
    checkInt('JSMA', 'pairChunk', p.pairChunk, 1);
    this.params = Object.freeze(p);
  }

  /** See `Attack.run`. `adversarial` [n,h,w,c] is owned by the caller; `targets` are reported. */
  async run(model: AttackModel, x: tf.Tensor4D, labels: Labels, opts: RunOptions = {}): Promise<AttackResult> {
    const y = await checkInputs('JSMA', model, x, labels);
    const n = y.length;
    const k = model.numClasses;
    const { theta, gamma, pairChunk } = this.params;
    const [lo, hi] = model.bounds;
    const d = x.size / Math.max(n, 1);
    const maxPairs = Math.floor((gamma * d) / 2);
    const targets = await this.targetsFor(model, x, y, opts);
    const net: AttackModel =
      this.params.saliencyOn === 'probs'
        ? { bounds: model.bounds, numClasses: k, logits: (xi) => tf.tidy(() => tf.softmax(model.logits(xi))) }
        : model;
    const increase = theta > 0;
    const tt = tf.tensor1d(targets, 'int32');
    let cur: tf.Tensor2D = x.reshape([n, d]);
    let domain: tf.Tensor2D = tf.tidy(() => tf.cast(increase ? tf.less(cur, hi) : tf.greater(cur, lo), 'float32') as tf.Tensor2D);
    let active = Int32Array.from({ length: n }, (_, i) => i); // rows not yet at their target and not stuck
    const iterations = new Int32Array(n);
    try {
      for (let it = 0; it < maxPairs && active.length > 0; it++) {
        // 1. drop rows already classified as their target (a forward pass on the active rows only)
        const idx0 = tf.tensor1d(active, 'int32');
        const notYet = tf.tidy(() =>
          tf.notEqual(tf.argMax(model.logits(tf.gather(cur, idx0).reshape([active.length, ...x.shape.slice(1)]) as tf.Tensor4D), 1), tf.gather(tt, idx0)),
        );
        const notYetArr = await notYet.data();
        tf.dispose([idx0, notYet]);
        active = active.filter((_, j) => notYetArr[j]);
        if (active.length === 0) break;
        // 2. Jacobian and pair search on those rows, in chunks (the search holds chunk × D² floats)
        const m = active.length;
        const idx = tf.tensor1d(active, 'int32');
        const ps: tf.Tensor1D[] = [];
        const qs: tf.Tensor1D[] = [];
        const vs: tf.Tensor1D[] = [];
        try {
          for (let s = 0; s < m; s += pairChunk) {
            const c = Math.min(pairChunk, m - s);
            const r = tf.tidy(() => {
              const rows = idx.slice(s, c);
              const xa = tf.gather(cur, rows).reshape([c, ...x.shape.slice(1)]) as tf.Tensor4D;
              const { jacobian } = logitsAndJacobian(net, xa);
              const alpha = tf.sum(tf.mul(jacobian, tf.oneHot(tf.gather(tt, rows), k).expandDims(2)), 1) as tf.Tensor2D;
              const beta = tf.sub(tf.sum(jacobian, 1), alpha) as tf.Tensor2D;
              return bestPairs(alpha, beta, tf.gather(domain, rows) as tf.Tensor2D, increase);
            });
            ps.push(r.p);
            qs.push(r.q);
            vs.push(r.valid);
          }
          // 3. change both features of the rows that have an admissible pair; others are stuck
          const valid = tf.concat(vs);
          const validArr = await valid.data();
          valid.dispose();
          const next = tf.tidy(() => {
            const mask = tf.mul(tf.add(tf.oneHot(tf.concat(qs), d), tf.oneHot(tf.concat(ps), d)), tf.tensor1d(validArr).expandDims(1));
            const slot = new Int32Array(n).fill(m); // row i takes mask slot[i], or the zero row m
            active.forEach((i, j) => (slot[i] = j));
            const full = tf.gather(tf.concat([mask, tf.zeros([1, d])]), tf.tensor1d(slot, 'int32'));
            return {
              c: tf.clipByValue(tf.add(cur, tf.mul(full, theta)), lo, hi) as tf.Tensor2D,
              dm: tf.mul(domain, tf.sub(1, full)) as tf.Tensor2D,
            };
          });
          cur.dispose();
          domain.dispose();
          cur = next.c;
          domain = next.dm;
          active = active.filter((_, j) => validArr[j] > 0);
          for (const i of active) iterations[i]++;
        } finally {
          tf.dispose([idx, ...ps, ...qs, ...vs]);
        }
        opts.onProgress?.(it + 1, maxPairs);
      }
      const adversarial = cur.reshape(x.shape) as tf.Tensor4D;
      try {
        const m = await measure(model, x, adversarial, y, targets);
        opts.onProgress?.(maxPairs, maxPairs);
        return { adversarial, labels: y, targets, iterations, ...m };
      } catch (e) {
        adversarial.dispose();
        throw e;
      }
    } finally {
      tf.dispose([tt, cur, domain]);
    }
  }

  private async targetsFor(model: AttackModel, x: tf.Tensor4D, y: Int32Array, opts: RunOptions): Promise<Int32Array> {
    const k = model.numClasses;
    if (opts.targets) {
      const t = Int32Array.from(opts.targets);
      if (t.length !== y.length) throw new ArgumentError(`JSMA: expected ${y.length} targets, got ${t.length}`);
      t.forEach((v, i) => {
        if (!(v >= 0 && v < k && v !== y[i])) {
          throw new ArgumentError(`JSMA: targets[${i}] must be a class in [0, ${k}) other than the label ${y[i]}, got ${v}`);
        }
      });
      return t;
    }
    if (this.params.target !== 'least-likely') return chooseTargets(this.params.target, y, k, opts.seed ?? 0);
    const z = model.logits(x);
    try {
      return chooseTargets('least-likely', y, k, opts.seed ?? 0, (await z.data()) as Float32Array);
    } finally {
      z.dispose();
    }
  }
}
