/**
 * Adaptive white-box attacks on the whole PCL detector: the full-PCL adaptive attack (victim + every
 * latent defender + the input defender through BPDA) and the feature-space attack of Tramèr et al.
 *
 * Both are Carlini–Wagner L2 in tanh space with Adam and a per-row binary search over c, with extra
 * loss terms. A row's success — for the search and for keeping the best point — means: the victim is
 * fooled AND no defender in the loss flags it at `sp` (each defender's exact score at that point:
 * the latent surrogates equal the defenders' scores, and the BPDA forward pass is the real OMP).
 */
import * as tf from '@tensorflow/tfjs';
import { ArgumentError, NotFittedError } from '../errors.js';
import { InputBpda, type BpdaLinearisation } from '../defense/input/bpda.js';
import { InputDefender } from '../defense/input/input-defender.js';
import { LatentDefender } from '../defense/latent/latent-defender.js';
import { PCLDetector } from '../defense/pcl.js';
import { componentThresholds } from './adaptive-latent.js';
import { tanhBox, updateTradeOffConstants } from './carlini-wagner-l2.js';
import { checkInputs, checkInt, checkRange, measure } from './common.js';
import { disposeHddaTensors, hddaLogLikTensor, hddaTensors, type HddaTensors } from './hdda-tf.js';
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

const BIG = 1e30;

/** A latent defender's differentiable score components, standardised against its thresholds. */
interface LatentTerm {
  defender: LatentDefender;
  hdda?: HddaTensors;
  components: string[];
  /** [K, J] thresholds and tail scales. */
  thr: tf.Tensor2D;
  scale: tf.Tensor2D;
}

function latentTerm(d: LatentDefender, sp: number): LatentTerm {
  const ct = componentThresholds(d, sp);
  const k = d.numClasses;
  const j = ct.components.length;
  const toKJ = (rows: Float32Array[]) => {
    const m = new Float32Array(k * j);
    rows.forEach((r, jj) => r.forEach((v, c) => (m[c * j + jj] = v)));
    return tf.tensor2d(m, [k, j]);
  };
  return {
    defender: d,
    hdda: ct.components.some((c) => c !== 'disagreement') ? hddaTensors(d.densities) : undefined,
    components: ct.components,
    thr: toKJ(ct.thresholds),
    scale: toKJ(ct.scales),
  };
}

/** Normalised checkpoint features φ(x) [n, p] and the replica's output, from the defender's replica. */
function replicaOutputs(d: LatentDefender, im: tf.Tensor4D): { phi: tf.Tensor2D; out: tf.Tensor } {
  const [phiRaw, out] = d.replica.model.apply(im) as tf.Tensor[];
  return { phi: phiRaw.reshape([im.shape[0], -1]) as tf.Tensor2D, out };
}

/** [n, J] standardised excess (s_j − t_j(ĉ)) / β_j(ĉ); ≤ 0 everywhere ⇔ the defender does not flag. */
function latentExcess(t: LatentTerm, im: tf.Tensor4D, ohC: tf.Tensor2D): tf.Tensor2D {
  const n = im.shape[0];
  const { phi, out } = replicaOutputs(t.defender, im);
  const ll = t.hdda ? hddaLogLikTensor(t.hdda, phi) : undefined;
  const cols = t.components.map((c) => {
    if (c === 'likelihood') return tf.neg(tf.sum(tf.mul(ll!, ohC), 1));
    if (c === 'ratio') return tf.sub(tf.logSumExp(tf.sub(ll!, tf.mul(ohC, BIG)), 1), tf.sum(tf.mul(ll!, ohC), 1));
    const lp = t.defender.replica.outputIsProbs ? tf.log(tf.clipByValue(out, 1e-30, 1)) : tf.logSoftmax(out);
    return tf.neg(tf.sum(tf.mul(lp.reshape([n, -1]), ohC), 1));
  });
  return tf.div(tf.sub(tf.stack(cols, 1), tf.matMul(ohC, t.thr)), tf.matMul(ohC, t.scale)) as tf.Tensor2D;
}

/** The input defender through BPDA, standardised like the latent terms. */
interface InputTerm {
  bpda: InputBpda;
  thr: Float32Array;
  scale: Float32Array;
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
 * where e = (score − threshold(ĉ)) / β(ĉ) and ĉ is the victim's best class other than y. Before
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
    // from here on every tensor is freed in the finally below (the own guides included)
    const [lo, hi] = model.bounds;
    const lower = new Float64Array(n);
    const upper = new Float64Array(n).fill(1e10);
    const consts = new Float64Array(n).fill(initialConst);
    const checkEvery = Math.max(1, Math.floor(iterations / 10));

    const latent = this.latent.map((d) => latentTerm(d, sp));
    let input: InputTerm | undefined;
    // the input defender is in the loss (BPDA) for 'scores' with μ > 0, and in the success check of 'features'
    if (this.input && (features || inputWeight > 0)) {
      const bpda = new InputBpda(this.input);
      const ts = bpda.thresholdsAndScales(sp);
      input = { bpda, thr: ts.thresholds, scale: ts.scales };
    }
    const useInputLoss = !features && input !== undefined;
    const yt = tf.tensor1d(y, 'int32');
    const oh = tf.tidy(() => tf.oneHot(yt, k).toFloat() as tf.Tensor2D);
    const ohBig = tf.mul(oh, 1e4);
    const tt = guides ? tf.tensor1d(guides.targets, 'int32') : undefined;
    const ohT = tt ? tf.tidy(() => tf.oneHot(tt, k).toFloat() as tf.Tensor2D) : undefined;
    const guidePhi = guides ? tf.tidy(() => this.latent.map((d) => replicaOutputs(d, guides.images).phi)) : [];
    const { mid, half, timg, xShr } = tanhBox(x, lo, hi);
    const toImage = (w: tf.Tensor) => tf.add(tf.mul(tf.tanh(tf.add(w, timg)), half), mid) as tf.Tensor4D;
    const w = tf.tidy(() => tf.variable(tf.zerosLike(x), true));
    let bestKey: tf.Tensor1D = tf.fill([n], Infinity);
    let bestAdv: tf.Tensor4D = x.clone();
    let totalIters = 0;
    try {
      for (let step = 0; step < binarySteps; step++) {
        // as Carlini's code: the last of ≥ 10 steps runs at the smallest constant known to succeed
        if (binarySteps >= 10 && step === binarySteps - 1) for (let i = 0; i < n; i++) if (upper[i] < 1e9) consts[i] = upper[i];
        const c = tf.tensor1d(Float32Array.from(consts));
        const opt = tf.train.adam(lr, 0.9, 0.999, 1e-8);
        let stepSucc: tf.Tensor1D = tf.zeros([n]);
        let prev = Infinity;
        try {
          tf.tidy(() => w.assign(tf.zerosLike(x)));
          for (let it = 0; it < iterations; it++) {
            totalIters++;
            // host step: ĉ (target, else the victim's best class other than y) and, for the input
            // defender, the real OMP supports at the current images (the BPDA linearisation)
            const cur = tf.tidy(() => toImage(w));
            const cHatT = ohT ? undefined : tf.tidy(() => tf.argMax(tf.sub(model.logits(cur), ohBig), 1));
            const cHat = guides ? guides.targets : Int32Array.from(await cHatT!.data());
            cHatT?.dispose();
            let lin: BpdaLinearisation | undefined;
            let inThr: tf.Tensor1D | undefined;
            let inScale: tf.Tensor1D | undefined;
            try {
              if (input) {
                lin = await input.bpda.linearise(cur, cHat);
                inThr = tf.tensor1d(Float32Array.from(cHat, (q) => input!.thr[q]));
                inScale = tf.tensor1d(Float32Array.from(cHat, (q) => input!.scale[q]));
              }
              cur.dispose();
              let img: tf.Tensor4D | undefined;
              let z: tf.Tensor2D | undefined;
              let worst: tf.Tensor1D | undefined;
              const cost = tf.tidy(() =>
                opt.minimize(
                  () => {
                    const im = toImage(w);
                    const zz = model.logits(im);
                    img = tf.keep(im);
                    z = tf.keep(zz);
                    const ohC = ohT ?? (tf.oneHot(tf.tensor1d(cHat, 'int32'), k).toFloat() as tf.Tensor2D);
                    const zC = tf.sum(tf.mul(zz, ohC), 1);
                    const f = ohT
                      ? tf.relu(tf.add(tf.sub(tf.max(tf.sub(zz, tf.mul(ohT, 1e4)), 1), zC), confidence))
                      : tf.relu(tf.add(tf.sub(tf.sum(tf.mul(zz, oh), 1), zC), confidence));
                    let term = f as tf.Tensor1D;
                    // exact excess of every defender at this point (for success), hinge in the loss
                    const excess: tf.Tensor2D[] = latent.map((t) => latentExcess(t, im, ohC as tf.Tensor2D));
                    const inEx = lin ? (tf.div(tf.sub(lin.score(im), inThr!), inScale!) as tf.Tensor1D) : undefined;
                    if (inEx) excess.push(inEx.reshape([n, 1]) as tf.Tensor2D);
                    const all = tf.concat(excess, 1);
                    worst = tf.keep(tf.max(all, 1) as tf.Tensor1D);
                    if (features) {
                      const dist = this.latent.map((d, j) => tf.sum(tf.square(tf.sub(replicaOutputs(d, im).phi, guidePhi[j])), 1));
                      term = tf.add(term, tf.mul(tf.addN(dist), featureWeight));
                    } else {
                      const lat = tf.concat(excess.slice(0, latent.length), 1);
                      term = tf.add(term, tf.mul(tf.sum(tf.relu(tf.add(lat, margin)), 1), latentWeight));
                      if (useInputLoss) term = tf.add(term, tf.mul(tf.relu(tf.add(inEx!, margin)), inputWeight));
                    }
                    const l2 = tf.sum(tf.square(tf.sub(im, xShr)));
                    return tf.add(l2, tf.sum(tf.mul(c, term))) as tf.Scalar;
                  },
                  true,
                  [w],
                ) as tf.Scalar,
              );
              const next = tf.tidy(() => {
                const l2sq = tf.sum(tf.square(tf.sub(img!, x)), [1, 2, 3]);
                const fooled = ohT ? tf.equal(tf.argMax(tf.sub(z!, tf.mul(ohT, confidence)), 1), tt!) : tf.notEqual(tf.argMax(tf.add(z!, tf.mul(oh, confidence)), 1), yt);
                const evades = tf.lessEqual(worst!, 0);
                // fooled and evading: rank by L2; fooled only: after all of those, by how far past a threshold
                const key = tf.where(fooled, tf.where(evades, l2sq, tf.add(worst!, 1e6)), tf.fill([n], Infinity)) as tf.Tensor1D;
                const better = tf.less(key, bestKey);
                const m = tf.cast(better, 'float32').reshape([n, 1, 1, 1]);
                return {
                  key: tf.where(better, key, bestKey) as tf.Tensor1D,
                  adv: tf.add(tf.mul(bestAdv, tf.sub(1, m)), tf.mul(img!, m)) as tf.Tensor4D,
                  succ: tf.maximum(stepSucc, tf.cast(tf.logicalAnd(fooled, evades), 'float32')) as tf.Tensor1D,
                };
              });
              tf.dispose([img!, z!, worst!, bestKey, bestAdv, stepSucc]);
              bestKey = next.key;
              bestAdv = next.adv;
              stepSucc = next.succ;
              if (abortEarly && it % checkEvery === 0 && cost) {
                const l = (await cost.data())[0];
                cost.dispose();
                if (l > prev * 0.9999) break;
                prev = l;
              } else {
                cost?.dispose();
              }
            } finally {
              lin?.dispose();
              tf.dispose([cur, ...(inThr ? [inThr, inScale!] : [])]);
            }
          }
          updateTradeOffConstants(await stepSucc.data(), consts, lower, upper);
        } finally {
          tf.dispose([c, stepSucc]);
          opt.dispose();
        }
        opts.onProgress?.((step + 1) / binarySteps);
      }
      const adversarial = tf.tidy(() => tf.clipByValue(bestAdv, lo, hi) as tf.Tensor4D);
      try {
        const m = await measure(model, x, adversarial, y, guides?.targets);
        return { adversarial, labels: y, iterations: new Int32Array(n).fill(totalIters), ...(guides ? { targets: Int32Array.from(guides.targets) } : {}), ...m };
      } catch (e) {
        adversarial.dispose();
        throw e;
      }
    } finally {
      for (const t of latent) {
        if (t.hdda) disposeHddaTensors(t.hdda);
        tf.dispose([t.thr, t.scale]);
      }
      tf.dispose([yt, oh, ohBig, timg, xShr, w, bestKey, bestAdv, ...guidePhi, ...(tt ? [tt, ohT!] : []), ...(ownGuides ? [ownGuides.images] : [])]);
    }
  }
}

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
  const poolPred = tf.tidy(() => tf.argMax(model.logits(pool.x), 1));
  const pp = await poolPred.data();
  poolPred.dispose();
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
