/**
 * Adaptive white-box attacks on the whole PCL detector: the full-PCL adaptive attack (victim + every
 * latent defender + the input defender through BPDA) and the feature-space attack of Tramèr et al.
 *
 * Both run on the one C&W L2 optimisation loop (`carliniWagnerL2Core`: tanh space, Adam, per-row
 * binary search over c) with an extra loss built only from what the defenders publish: each latent
 * defender's `surrogate()` and the input defender's BPDA surrogate (`InputBpdaSurrogate`). A row's success — for the search and for keeping the best point — means: the victim is
 * fooled AND no defender in the loss flags it at `sp` (each defender's exact score at that point:
 * the latent surrogates equal the defenders' scores, and the BPDA forward pass is the real OMP).
 */
import * as tf from '@tensorflow/tfjs';
import { ArgumentError, NotFittedError } from '../errors.js';
import { InputBpdaSurrogate } from '../defense/input/bpda.js';
import { InputDefender } from '../defense/input/input-defender.js';
import { LatentDefender } from '../defense/latent/latent-defender.js';
import { PCLDetector } from '../defense/pcl.js';
import { carliniWagnerL2Core, type CwExtraLoss } from './carlini-wagner-l2.js';
import { checkInputs, checkInt, checkRange, measure } from './common.js';
import type { Attack, AttackModel, AttackResult, Labels, RunOptions } from './types.js';

/** Hyperparameters of {@link FullAdaptiveAttack}. */
export interface FullAdaptiveParams {
  /** What the extra loss pulls on: 'scores' (every defender's score under its threshold) or 'features' (Tramèr's feature matching). Default 'scores'. */
  objective: 'scores' | 'features';
  /** λ: weight of the latent defenders' hinge (objective 'scores'). Default 1. */
  latentWeight: number;
  /** μ: weight of the input defender's BPDA hinge (objective 'scores'; 0 leaves it out). Default 1. */
  inputWeight: number;
  /** ν: weight of the feature-matching term Σ_checkpoints ‖φ(x′) − φ(guide)‖² (objective 'features'). Default 10. */
  featureWeight: number;
  /** Security parameter (percent) whose thresholds the attack aims under and judges success at. Default 1. */
  sp: number;
  /** Aim this far below each threshold, in units of the score's clean tail scale β. Default 1. */
  margin: number;
  /** Confidence κ of the misclassification term. Default 0. */
  confidence: number;
  binarySteps: number;
  iterations: number;
  lr: number;
  initialConst: number;
  abortEarly: boolean;
}

/** Defaults: the schedule of `AdaptiveLatentAttack` (6 × 200, lr 0.1, c₀ 0.01). */
export const FULL_ADAPTIVE_DEFAULTS: Readonly<FullAdaptiveParams> = Object.freeze({
  objective: 'scores',
  latentWeight: 1,
  inputWeight: 1,
  featureWeight: 10,
  sp: 1,
  margin: 1,
  confidence: 0,
  binarySteps: 6,
  iterations: 200,
  lr: 0.1,
  initialConst: 1e-2,
  abortEarly: true,
});

/** Normalised checkpoint features φ(x) [n, p] of a latent defender (its replica's first output). */
function replicaFeatures(d: LatentDefender, im: tf.Tensor4D): tf.Tensor2D {
  const [phi] = d.replica.model.apply(im) as tf.Tensor[];
  return phi.reshape([im.shape[0], -1]) as tf.Tensor2D;
}

/** What an adaptive attack is aimed at: a fitted PCLDetector (or a list of its defenders). */
export type FullAdaptiveTarget = PCLDetector | readonly (LatentDefender | InputDefender)[];

/** Clean guide images for the feature attack: per row, an image of the target class and that class. */
export interface FeatureGuides {
  /** [n, h, w, c] guide images (clean, of class `targets[i]`), owned by the caller. */
  images: tf.Tensor4D;
  targets: Int32Array;
}

/**
 * The full-PCL adaptive attack (objective 'scores'): C&W L2 whose loss also pushes every latent
 * defender's score components under their exact per-class thresholds at `sp` (as
 * `AdaptiveLatentAttack`) and the input defender's −PSNR under its threshold, through BPDA:
 *
 *   ‖x′ − x‖² + c · [ max(z_y − z_ĉ + κ, 0) + λ Σ_latent Σ_j max(e_j + m, 0) + μ max(e_in + m, 0) ]
 *
 * where e = (score − threshold(ĉ)) / β(ĉ) and ĉ is the victim's best class other than y. Inside
 * every Adam step the real OMP runs on the current images (the BPDA linearisation: supports fixed),
 * and the step differentiates through the least-squares projection on those supports
 * (`defense/input/bpda.ts`).
 *
 * The feature attack (objective 'features', Tramèr et al. 2020 §5): targeted at the class of a clean
 * guide image g per row, the loss pulls the normalised features φ(x′) of every latent checkpoint to
 * φ(g): ‖x′ − x‖² + c · [ max(max_{j≠t} z_j − z_t + κ, 0) + ν Σ_checkpoints ‖φ(x′) − φ(g)‖² ].
 * Its success is judged the same way (fooled into t and no defender in the target flags it).
 *
 * Nothing in PCL's inference is random (OMP, HDDA and the replicas are deterministic), so no
 * expectation over transformations is needed here; a randomised defense would average this loss
 * over its random choices.
 *
 * @see Carlini & Wagner, "Adversarial examples are not easily detected", AISec 2017 (adaptive loss).
 * @see Athalye, Carlini & Wagner, ICML 2018 (BPDA).
 * @see Tramèr, Carlini, Brendel & Madry, "On Adaptive Attacks to Adversarial Example Defenses", NeurIPS 2020 (feature attack).
 */
export class FullAdaptiveAttack implements Attack<FullAdaptiveParams> {
  readonly name: string;
  readonly norm = 'l2' as const;
  readonly targeted: boolean;
  readonly params: Readonly<FullAdaptiveParams>;
  readonly latent: readonly LatentDefender[];
  readonly input?: InputDefender;

  /**
   * @param guidePool clean images of every class (e.g. training images) from which objective
   *   'features' picks its guides ({@link chooseGuides}) when `run` is not given any; not disposed.
   */
  constructor(
    target: FullAdaptiveTarget,
    params: Partial<FullAdaptiveParams> = {},
    readonly guidePool?: { x: tf.Tensor4D; y: ArrayLike<number> },
  ) {
    for (const key of Object.keys(params)) {
      if (!(key in FULL_ADAPTIVE_DEFAULTS)) throw new ArgumentError(`FullAdaptiveAttack: unknown parameter '${key}'; expected one of ${Object.keys(FULL_ADAPTIVE_DEFAULTS).join(', ')}`);
    }
    const p = { ...FULL_ADAPTIVE_DEFAULTS, ...params };
    if (p.objective !== 'scores' && p.objective !== 'features') throw new ArgumentError(`FullAdaptiveAttack: objective must be 'scores' or 'features', got '${p.objective}'`);
    for (const k of ['latentWeight', 'inputWeight', 'featureWeight', 'margin', 'confidence'] as const) checkRange('FullAdaptiveAttack', k, p[k], 0, Infinity);
    checkRange('FullAdaptiveAttack', 'sp', p.sp, 0, 99.999);
    checkInt('FullAdaptiveAttack', 'binarySteps', p.binarySteps, 1);
    checkInt('FullAdaptiveAttack', 'iterations', p.iterations, 1);
    checkRange('FullAdaptiveAttack', 'lr', p.lr, Number.MIN_VALUE, Infinity);
    checkRange('FullAdaptiveAttack', 'initialConst', p.initialConst, Number.MIN_VALUE, Infinity);
    this.params = Object.freeze(p);
    const all = target instanceof PCLDetector ? target.defenders : target;
    if (target instanceof PCLDetector ? !target.isFitted : all.some((d) => !d.isFitted)) {
      throw new NotFittedError('FullAdaptiveAttack: the target detector is not fitted; fit or load it first');
    }
    this.latent = all.filter((d): d is LatentDefender => d instanceof LatentDefender);
    this.input = all.find((d): d is InputDefender => d instanceof InputDefender);
    if (this.latent.length === 0) throw new ArgumentError('FullAdaptiveAttack: the target has no latent defender');
    this.targeted = p.objective === 'features';
    this.name = p.objective === 'features' ? 'feature' : this.input && p.inputWeight > 0 ? 'adaptive' : 'adaptive-latent';
  }

  /**
   * See `Attack.run`. Objective 'features' needs `guides` (use {@link chooseGuides}); `opts.targets`
   * is then taken from them. `adversarial` [n,h,w,c] is owned by the caller.
   */
  async run(model: AttackModel, x: tf.Tensor4D, labels: Labels, opts: RunOptions & { guides?: FeatureGuides } = {}): Promise<AttackResult> {
    const who = 'FullAdaptiveAttack';
    const y = await checkInputs(who, model, x, labels);
    const n = y.length;
    const k = model.numClasses;
    for (const d of [...this.latent, ...(this.input ? [this.input] : [])]) {
      if (d.numClasses !== k) throw new ArgumentError(`${who}: defender '${d.label}' has ${d.numClasses} classes, the model has ${k}`);
    }
    const features = this.params.objective === 'features';
    let ownGuides: FeatureGuides | undefined;
    if (features && !opts.guides && this.guidePool) ownGuides = await chooseGuides(model, x, y, this.guidePool);
    const guides = opts.guides ?? ownGuides;
    if (features) {
      if (!guides || guides.images.shape[0] !== n || guides.targets.length !== n) throw new ArgumentError(`${who}: objective 'features' needs guides for the ${n} rows (see chooseGuides), got ${guides ? guides.targets.length : 'none'}`);
      for (let i = 0; i < n; i++) if (guides.targets[i] === y[i]) throw new ArgumentError(`${who}: guide ${i} is of the true class ${y[i]}; a guide must be of another class`);
    }
    const { latentWeight, inputWeight, featureWeight, margin, confidence, binarySteps, iterations, lr, initialConst, abortEarly, sp } = this.params;
    // the published surrogates: latent defenders' differentiable scores, the input defender through
    // BPDA (in the loss for 'scores' with μ > 0, in the success check of 'features')
    const latent = this.latent.map((d) => d.surrogate({ sp }));
    const input = this.input && (features || inputWeight > 0) ? new InputBpdaSurrogate(this.input, sp) : undefined;
    const guidePhi = guides ? tf.tidy(() => this.latent.map((d) => replicaFeatures(d, guides.images))) : [];
    const extraLoss: CwExtraLoss = (im, ohC, rows) => {
      const lat = tf.concat(latent.map((t) => t.excess(im, ohC)), 1);
      const inEx = input?.excess(im, ohC);
      // exact excess of every defender at this point: ≤ 0 everywhere ⇔ nothing flags it
      const violation = tf.max(inEx ? tf.concat([lat, inEx], 1) : lat, 1) as tf.Tensor1D;
      let penalty: tf.Tensor1D;
      if (features) {
        const dist = this.latent.map((d, j) => tf.sum(tf.square(tf.sub(replicaFeatures(d, im), tf.gather(guidePhi[j]!, rows))), 1));
        penalty = tf.mul(tf.addN(dist), featureWeight) as tf.Tensor1D;
      } else {
        penalty = tf.mul(tf.sum(tf.relu(tf.add(lat, margin)), 1), latentWeight) as tf.Tensor1D;
        if (inEx) penalty = tf.add(penalty, tf.mul(tf.relu(tf.add(inEx.reshape([-1]), margin)), inputWeight)) as tf.Tensor1D;
      }
      return { penalty, violation };
    };
    try {
      const core = await carliniWagnerL2Core(model, x, y, { confidence, binarySteps, iterations, lr, initialConst, abortEarly }, {
        targets: guides?.targets,
        extraLoss,
        onProgress: opts.onProgress,
      });
      try {
        const m = await measure(model, x, core.adversarial, y, guides?.targets);
        return {
          adversarial: core.adversarial,
          labels: y,
          iterations: core.iterations,
          ...(guides ? { targets: Int32Array.from(guides.targets) } : {}),
          ...m,
        };
      } catch (e) {
        core.adversarial.dispose();
        throw e;
      }
    } finally {
      for (const t of latent) t.dispose();
      input?.dispose();
      tf.dispose([...guidePhi, ...(ownGuides ? [ownGuides.images] : [])]);
    }
  }
}

/** Pool images classified per batch by {@link chooseGuides}. */
const GUIDE_POOL_BATCH = 256;

/**
 * Picks a guide for every row of `x` (true labels `y`) for the feature attack: the target is the
 * victim's best class other than y on the clean image (the nearest decision region), and the guide
 * the clean image of that class in `pool` (correctly classified by the victim) nearest to x in L2.
 * Returns new tensors owned by the caller.
 */
export async function chooseGuides(model: AttackModel, x: tf.Tensor4D, y: Labels, pool: { x: tf.Tensor4D; y: ArrayLike<number> }): Promise<FeatureGuides> {
  const yy = await checkInputs('chooseGuides', model, x, y);
  const n = yy.length;
  const k = model.numClasses;
  // the pool's predictions in batches: one pass over thousands of images through a CNN would hold
  // every activation at once (5,000 CIFAR-10 images through a 300-filter conv: 1.5·10⁹ floats)
  const np = pool.x.shape[0];
  const pp = new Int32Array(np);
  for (let s = 0; s < np; s += GUIDE_POOL_BATCH) {
    const m = Math.min(GUIDE_POOL_BATCH, np - s);
    const pred = tf.tidy(() => tf.argMax(model.logits(pool.x.slice([s, 0, 0, 0], [m, -1, -1, -1])), 1));
    pp.set(await pred.data(), s);
    pred.dispose();
  }
  const byClass: number[][] = Array.from({ length: k }, () => []);
  for (let i = 0; i < pp.length; i++) if (pp[i] === pool.y[i]) byClass[pool.y[i]].push(i);
  const second = tf.tidy(() => tf.argMax(tf.sub(model.logits(x), tf.mul(tf.oneHot(tf.tensor1d(yy, 'int32'), k), 1e4)), 1));
  const targets = Int32Array.from(await second.data());
  second.dispose();
  const pick = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const cand = byClass[targets[i]];
    if (cand.length === 0) throw new ArgumentError(`chooseGuides: the pool has no correctly classified image of class ${targets[i]}`);
    const d = tf.tidy(() => {
      const xi = x.slice([i, 0, 0, 0], [1, -1, -1, -1]);
      const g = tf.gather(pool.x, tf.tensor1d(cand, 'int32'));
      return tf.argMin(tf.sum(tf.square(tf.sub(g, xi)).reshape([cand.length, -1]), 1));
    });
    pick[i] = cand[(await d.data())[0]];
    d.dispose();
  }
  return { images: tf.tidy(() => tf.gather(pool.x, tf.tensor1d(pick, 'int32')) as tf.Tensor4D), targets };
}

/** Names of the attacks that need a fitted detector (not in the plain registry). */
export const ADAPTIVE_ATTACK_NAMES = Object.freeze(['adaptive', 'adaptive-latent', 'feature'] as const);
export type AdaptiveAttackName = (typeof ADAPTIVE_ATTACK_NAMES)[number];

/**
 * Builds an attack that knows the detector: `adaptive` (latent + input defenders through BPDA),
 * `adaptive-latent` (latent defenders only, μ = 0) or `feature` (Tramèr's feature matching, guides
 * from `guidePool`). Unknown names or parameters throw an ArgumentError.
 */
export function makeAdaptiveAttack(
  name: string,
  detector: FullAdaptiveTarget,
  params: Partial<FullAdaptiveParams> = {},
  guidePool?: { x: tf.Tensor4D; y: ArrayLike<number> },
): FullAdaptiveAttack {
  switch (name) {
    case 'adaptive':
      return new FullAdaptiveAttack(detector, { ...params, objective: 'scores' });
    case 'adaptive-latent':
      return new FullAdaptiveAttack(detector, { ...params, objective: 'scores', inputWeight: 0 });
    case 'feature':
      if (!guidePool) throw new ArgumentError(`attack 'feature' needs a pool of clean images to pick its guides from`);
      return new FullAdaptiveAttack(detector, { ...params, objective: 'features' }, guidePool);
    default:
      throw new ArgumentError(`unknown adaptive attack '${name}'; expected one of ${ADAPTIVE_ATTACK_NAMES.join(', ')}`);
  }
}
