import * as tf from '@tensorflow/tfjs';
import { checkInputs, checkInt, checkRange, measure } from './common.js';
import type { Attack, AttackModel, AttackResult, Labels, RunOptions } from './types.js';
import { adamStep } from '../engine/fused-adam.js';
import { ArgumentError } from '../errors.js';

/** Hyperparameters of Carlini–Wagner L2. */
export interface CarliniWagnerL2Params {
  /** Confidence κ: the true logit must trail the best other logit by at least κ. Default 0. */
  confidence: number;
  /** Binary-search steps over the constant c. Default 20 (the paper's Table 3). */
  binarySteps: number;
  /** Adam iterations per binary-search step. Default 500 (the paper's Table 3). */
  iterations: number;
  /** Adam learning rate. Default 0.1 (the paper's Table 3; Carlini's code uses 0.01). */
  lr: number;
  /** Initial c of every row. Default 1e-3 (Carlini's code). */
  initialConst: number;
  /** Stop a binary-search step when the loss has not fallen by 0.01 % over the last iterations/10 iterations. Default true. */
  abortEarly: boolean;
  /**
   * Whose loss the early abort watches: 'row' (default) stops each row when its own loss stalls and
   * drops it from the batch, so the iterations that follow cost only the rows still improving;
   * 'batch' stops the whole batch when the batch's summed loss stalls (Carlini's code).
   */
  abortScope: 'row' | 'batch';
}

/** Default C&W L2 hyperparameters (the paper's Table 3 schedule). */
export const CW_L2_DEFAULTS: Readonly<CarliniWagnerL2Params> = Object.freeze({
  confidence: 0,
  binarySteps: 20,
  iterations: 500,
  lr: 0.1,
  initialConst: 1e-3,
  abortEarly: true,
  abortScope: 'row',
});

/** Carlini's shrink factor keeping atanh finite at the bounds. */
const TANH_SHRINK = 0.999999;

/**
 * C&W's change of variables for a box [lo, hi]: x = mid + half·tanh(w + timg). Returns `timg`
 * (atanh of x, shrunk by 1e-6 so the bounds stay finite) and `xShr`, the image w = 0 maps to, which
 * the L2 term measures against. Both are new tensors owned by the caller.
 */
export function tanhBox(x: tf.Tensor4D, lo: number, hi: number): { mid: number; half: number; timg: tf.Tensor4D; xShr: tf.Tensor4D } {
  const mid = (hi + lo) / 2;
  const half = (hi - lo) / 2;
  return tf.tidy(() => {
    const timg = tf.atanh(tf.mul(tf.div(tf.sub(x, mid), half), TANH_SHRINK)) as tf.Tensor4D;
    return { mid, half, timg, xShr: tf.add(tf.mul(tf.tanh(timg), half), mid) as tf.Tensor4D };
  });
}

/**
 * One binary-search update of C&W's per-row trade-off constants: a row that succeeded at its
 * constant lowers the upper bound (and bisects), one that failed raises the lower bound (and bisects,
 * or multiplies the constant by 10 while no success has been seen). Updates the arrays in place.
 */
export function updateTradeOffConstants(success: ArrayLike<number>, consts: Float64Array, lower: Float64Array, upper: Float64Array): void {
  for (let i = 0; i < success.length; i++) {
    if (success[i] > 0) {
      upper[i] = Math.min(upper[i], consts[i]);
      if (upper[i] < 1e9) consts[i] = (lower[i] + upper[i]) / 2;
    } else {
      lower[i] = Math.max(lower[i], consts[i]);
      consts[i] = upper[i] < 1e9 ? (lower[i] + upper[i]) / 2 : consts[i] * 10;
    }
  }
}

/**
 * An extra loss term plugged into the C&W optimisation ({@link carliniWagnerL2Core}), e.g. an adaptive
 * attack's penalty for being flagged by a detector. Called inside the differentiated closure with the
 * current images `im` [n,h,w,c] and `ohC` [n,K], the one-hot class the attack aims the victim at (the
 * target, else the best class other than the label). Returns, per row, `penalty` [n] (added to the
 * misclassification term, both scaled by the trade-off constant c) and `violation` [n]: ≤ 0 when the
 * row meets the extra goal (e.g. no detector flags it). A row then counts as a success only when the
 * victim is fooled AND `violation ≤ 0`. `rows` [n] (int32) are the rows' indices in the caller's batch:
 * with the per-row early abort the core drops finished rows, so `im` holds only the rows still
 * optimised and per-row data of the caller (e.g. guide features) must be gathered by `rows`.
 * Tensors are created inside the caller's tidy.
 */
export type CwExtraLoss = (im: tf.Tensor4D, ohC: tf.Tensor2D, rows: tf.Tensor1D) => { penalty: tf.Tensor1D; violation: tf.Tensor1D };

/** The optimisation settings the C&W core needs (the fields of {@link CarliniWagnerL2Params}; `abortScope` defaults to 'row'). */
export type CwCoreParams = Pick<CarliniWagnerL2Params, 'confidence' | 'binarySteps' | 'iterations' | 'lr' | 'initialConst' | 'abortEarly'> &
  Partial<Pick<CarliniWagnerL2Params, 'abortScope'>>;

/** Options of {@link carliniWagnerL2Core}. */
export interface CwCoreOptions {
  /** Target class per row (targeted attack: success = classified as the target with margin κ). */
  targets?: Int32Array;
  /** Extra loss term (see {@link CwExtraLoss}); none = plain C&W L2. */
  extraLoss?: CwExtraLoss;
  /** Called after each binary-search step with (steps done, binarySteps). */
  onProgress?: (done: number, total: number) => void;
  /** Called before each binary-search step with the per-row constants it uses (for tests and logs). */
  onStep?: (step: number, consts: Float64Array) => void;
}

/**
 * The constants of binary-search step `step`: as Carlini's code, the last step of a long search
 * (≥ 10 steps) uses each row's upper bound (the smallest constant known to succeed), so the final
 * optimisation runs where success is known to be reachable. Updates `consts` in place.
 */
export function finalStepConstants(step: number, binarySteps: number, consts: Float64Array, upper: Float64Array): void {
  if (binarySteps >= 10 && step === binarySteps - 1) {
    for (let i = 0; i < consts.length; i++) if (upper[i] < 1e9) consts[i] = upper[i];
  }
}

/** The per-row tensors of the rows a binary-search step still optimises (all owned by the step). */
interface CwRows {
  x: tf.Tensor4D;
  timg: tf.Tensor4D;
  xShr: tf.Tensor4D;
  yt: tf.Tensor1D;
  oh: tf.Tensor2D;
  tt?: tf.Tensor1D;
  ohT?: tf.Tensor2D;
  /** Trade-off constants [m]. */
  c: tf.Tensor1D;
  /** Indices of these rows in the batch [m] (int32). */
  rows: tf.Tensor1D;
  /** Adam's variable and moments. */
  w: tf.Tensor4D;
  m: tf.Tensor4D;
  v: tf.Tensor4D;
  /** Best key (see the loop) and point so far, and whether this step has succeeded. */
  key: tf.Tensor1D;
  adv: tf.Tensor4D;
  succ: tf.Tensor1D;
}

/** `state` restricted to the positions `keep` (new tensors; the old ones are disposed). */
function keepRows(state: CwRows, keep: Int32Array): CwRows {
  const idx = tf.tensor1d(keep, 'int32');
  try {
    const out = {} as Record<string, tf.Tensor>;
    for (const [name, t] of Object.entries(state) as [string, tf.Tensor | undefined][]) {
      if (!t) continue;
      out[name] = tf.gather(t, idx);
      t.dispose();
    }
    return out as unknown as CwRows;
  } finally {
    idx.dispose();
  }
}

/**
 * The one C&W L2 optimisation loop that {@link CarliniWagnerL2} and the adaptive attack share:
 * minimises ‖x' − x‖₂² + c·[max(z_y − z_ĉ + κ, 0) + extra] over x' = tanh(w + atanh x)·(hi−lo)/2 +
 * (hi+lo)/2 with Adam, binary-searching c per row ({@link updateTradeOffConstants},
 * {@link finalStepConstants}) and keeping per row the smallest-L2 successful point (with an extra
 * loss: the fooled point closest to meeting it when none does). `y` are the true labels [n].
 *
 * Every row still optimised is in one forward/backward per iteration. With `abortEarly`, every
 * iterations/10 iterations the loss is read: per row (`abortScope` 'row', the default), a row whose
 * loss has not fallen by 0.01 % since the last check is finished for this binary step and leaves the
 * batch (its Adam state with it), so each row's result is the one it would get attacked alone; per
 * batch ('batch'), the whole step ends when the summed loss stalls. Host reads: those checks and the
 * success flags of finished rows.
 *
 * Returns the best points clipped to the bounds (owned by the caller) and the Adam iterations each
 * row ran, over all binary steps.
 */
export async function carliniWagnerL2Core(
  model: AttackModel,
  x: tf.Tensor4D,
  y: Int32Array,
  params: CwCoreParams,
  opts: CwCoreOptions = {},
): Promise<{ adversarial: tf.Tensor4D; iterations: Int32Array }> {
  const n = y.length;
  const k = model.numClasses;
  const { confidence, binarySteps, iterations, lr, initialConst, abortEarly } = params;
  const perRow = (params.abortScope ?? 'row') === 'row';
  const [lo, hi] = model.bounds;
  const lower = new Float64Array(n);
  const upper = new Float64Array(n).fill(1e10);
  const consts = new Float64Array(n).fill(initialConst);
  const checkEvery = Math.max(1, Math.floor(iterations / 10));
  const extra = opts.extraLoss;
  const rowIters = new Int32Array(n);

  const yt = tf.tensor1d(y, 'int32');
  const oh = tf.tidy(() => tf.oneHot(yt, k).toFloat() as tf.Tensor2D);
  const tt = opts.targets ? tf.tensor1d(opts.targets, 'int32') : undefined;
  const ohT = tt ? tf.tidy(() => tf.oneHot(tt, k).toFloat() as tf.Tensor2D) : undefined;
  const { mid, half, timg, xShr } = tanhBox(x, lo, hi);
  const allRows = tf.range(0, n, 1, 'int32') as tf.Tensor1D;
  let bestKey: tf.Tensor1D = tf.fill([n], Infinity);
  let bestAdv: tf.Tensor4D = x.clone();

  /** Writes the best keys and points of the positions `pos` of `state` into the batch's. */
  const flush = (state: CwRows, rows: Int32Array, pos: Int32Array) => {
    const src = new Int32Array(n);
    for (let i = 0; i < n; i++) src[i] = i;
    for (let j = 0; j < pos.length; j++) src[rows[pos[j]!]!] = n + j;
    const next = tf.tidy(() => {
      const sel = tf.tensor1d(pos, 'int32');
      const at = tf.tensor1d(src, 'int32');
      return {
        key: tf.gather(tf.concat([bestKey, tf.gather(state.key, sel)]), at) as tf.Tensor1D,
        adv: tf.gather(tf.concat([bestAdv, tf.gather(state.adv, sel)]), at) as tf.Tensor4D,
      };
    });
    tf.dispose([bestKey, bestAdv]);
    bestKey = next.key;
    bestAdv = next.adv;
  };

  try {
    for (let step = 0; step < binarySteps; step++) {
      finalStepConstants(step, binarySteps, consts, upper);
      opts.onStep?.(step, Float64Array.from(consts));
      const stepSucc = new Float32Array(n);
      let rows = Int32Array.from({ length: n }, (_, i) => i);
      let state: CwRows = {
        x: x.clone(),
        timg: timg.clone(),
        xShr: xShr.clone(),
        yt: yt.clone(),
        oh: oh.clone(),
        ...(tt ? { tt: tt.clone(), ohT: ohT!.clone() } : {}),
        c: tf.tensor1d(Float32Array.from(consts)),
        rows: allRows.clone(),
        w: tf.zerosLike(x),
        m: tf.zerosLike(x),
        v: tf.zerosLike(x),
        key: bestKey.clone(),
        adv: bestAdv.clone(),
        succ: tf.zeros([n]),
      };
      let prevRow = new Float64Array(n).fill(Infinity);
      let prev = Infinity;
      try {
        for (let it = 0; it < iterations && rows.length > 0; it++) {
          for (const r of rows) rowIters[r]++;
          const m = rows.length;
          const s = state;
          let img: tf.Tensor4D | undefined;
          let z: tf.Tensor2D | undefined;
          let violation: tf.Tensor1D | undefined;
          let rowLoss: tf.Tensor1D | undefined;
          const { value, grad } = tf.tidy(() =>
            tf.valueAndGrad((wv: tf.Tensor4D) => {
              const im = tf.add(tf.mul(tf.tanh(tf.add(wv, s.timg)), half), mid) as tf.Tensor4D;
              const zz = model.logits(im);
              img = tf.keep(im);
              z = tf.keep(zz);
              // ĉ: the target, else the best class other than y (the victim's class once fooled)
              const ohC = s.ohT ?? (tf.oneHot(tf.argMax(tf.sub(zz, tf.mul(s.oh, 1e4)), 1), k).toFloat() as tf.Tensor2D);
              const zC = tf.sum(tf.mul(zz, ohC), 1);
              const f = s.ohT
                ? tf.relu(tf.add(tf.sub(tf.max(tf.sub(zz, tf.mul(s.ohT, 1e4)), 1), zC), confidence))
                : tf.relu(tf.add(tf.sub(tf.sum(tf.mul(zz, s.oh), 1), zC), confidence));
              let term = f as tf.Tensor1D;
              if (extra) {
                const e = extra(im, ohC, s.rows);
                violation = tf.keep(e.violation);
                term = tf.add(term, e.penalty);
              }
              const rl = tf.add(tf.sum(tf.square(tf.sub(im, s.xShr)), [1, 2, 3]), tf.mul(s.c, term)) as tf.Tensor1D;
              rowLoss = tf.keep(rl);
              return tf.sum(rl) as tf.Scalar;
            })(s.w),
          );
          const upd = adamStep(s.w, grad, s.m, s.v, { lr, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, step: it + 1 });
          // track the best point seen (at the iterate before this update); all on device
          const next = tf.tidy(() => {
            const l2sq = tf.sum(tf.square(tf.sub(img!, s.x)), [1, 2, 3]);
            const fooled = s.ohT
              ? tf.equal(tf.argMax(tf.sub(z!, tf.mul(s.ohT, confidence)), 1), s.tt!)
              : tf.notEqual(tf.argMax(tf.add(z!, tf.mul(s.oh, confidence)), 1), s.yt);
            let key: tf.Tensor1D;
            let good: tf.Tensor;
            if (violation) {
              const meets = tf.lessEqual(violation, 0);
              good = tf.logicalAnd(fooled, meets);
              // fooled and meeting the extra goal: rank by L2; fooled only: after all of those, by the violation
              key = tf.where(fooled, tf.where(meets, l2sq, tf.add(violation, 1e6)), tf.fill([m], Infinity)) as tf.Tensor1D;
            } else {
              good = fooled;
              key = tf.where(fooled, l2sq, tf.fill([m], Infinity)) as tf.Tensor1D;
            }
            const better = tf.less(key, s.key);
            // mask ∈ {0,1} exactly, so best·(1−mask) + img·mask copies rows bit-exactly (cheaper than a broadcast where)
            const mask = tf.cast(better, 'float32').reshape([m, 1, 1, 1]);
            return {
              key: tf.where(better, key, s.key) as tf.Tensor1D,
              adv: tf.add(tf.mul(s.adv, tf.sub(1, mask)), tf.mul(img!, mask)) as tf.Tensor4D,
              succ: tf.maximum(s.succ, tf.cast(good, 'float32')) as tf.Tensor1D,
            };
          });
          tf.dispose([img!, z!, grad, s.w, s.m, s.v, s.key, s.adv, s.succ, ...(violation ? [violation] : [])]);
          Object.assign(state, { w: upd.x, m: upd.m, v: upd.v, key: next.key, adv: next.adv, succ: next.succ });
          try {
            if (!(abortEarly && it % checkEvery === 0)) continue;
            if (!perRow) {
              const l = (await value.data())[0]!;
              if (l > prev * 0.9999) break;
              prev = l;
              continue;
            }
            const rl = await rowLoss!.data();
            const done: number[] = [];
            const keep: number[] = [];
            for (let p = 0; p < m; p++) {
              if (rl[p]! > prevRow[p]! * 0.9999) done.push(p);
              else {
                prevRow[p] = rl[p]!;
                keep.push(p);
              }
            }
            if (done.length === 0) continue;
            const pos = Int32Array.from(done);
            const succ = await state.succ.data();
            for (const p of pos) stepSucc[rows[p]!] = succ[p]!;
            flush(state, rows, pos);
            const kp = Int32Array.from(keep);
            state = keepRows(state, kp);
            rows = Int32Array.from(kp, (p) => rows[p]!);
            prevRow = Float64Array.from(kp, (p) => prevRow[p]!);
          } finally {
            tf.dispose([value, rowLoss!]);
          }
        }
        if (rows.length > 0) {
          const pos = Int32Array.from({ length: rows.length }, (_, i) => i);
          const succ = await state.succ.data();
          for (const p of pos) stepSucc[rows[p]!] = succ[p]!;
          flush(state, rows, pos);
        }
        updateTradeOffConstants(stepSucc, consts, lower, upper);
      } finally {
        tf.dispose(Object.values(state) as tf.Tensor[]);
      }
      opts.onProgress?.(step + 1, binarySteps);
    }
    return { adversarial: tf.tidy(() => tf.clipByValue(bestAdv, lo, hi) as tf.Tensor4D), iterations: rowIters };
  } finally {
    tf.dispose([yt, oh, timg, xShr, allRows, bestKey, bestAdv, ...(tt ? [tt, ohT!] : [])]);
  }
}

export class CarliniWagnerL2 implements Attack<CarliniWagnerL2Params> {
  readonly name = 'cw-l2';
  readonly norm = 'l2' as const;
  readonly targeted = false;
  readonly params: Readonly<CarliniWagnerL2Params>;

  constructor(params: Partial<CarliniWagnerL2Params> = {}) {
    const p = { ...CW_L2_DEFAULTS, ...params };
    checkRange('CarliniWagnerL2', 'confidence', p.confidence, 0, Infinity);
    checkInt('CarliniWagnerL2', 'binarySteps', p.binarySteps, 1);
    checkInt('CarliniWagnerL2', 'iterations', p.iterations, 1);
    checkRange('CarliniWagnerL2', 'lr', p.lr, Number.MIN_VALUE, Infinity);
    checkRange('CarliniWagnerL2', 'initialConst', p.initialConst, Number.MIN_VALUE, Infinity);
    if (p.abortScope !== 'row' && p.abortScope !== 'batch') {
      throw new ArgumentError(`CarliniWagnerL2: 'abortScope' must be 'row' or 'batch', got ${JSON.stringify(p.abortScope)}`);
    }
    this.params = Object.freeze(p);
  }

  /** See `Attack.run`. `adversarial` [n,h,w,c] is owned by the caller. */
  async run(model: AttackModel, x: tf.Tensor4D, labels: Labels, opts: RunOptions = {}): Promise<AttackResult> {
    const y = await checkInputs('CarliniWagnerL2', model, x, labels);
    const { adversarial, iterations } = await carliniWagnerL2Core(model, x, y, this.params, {
      onProgress: opts.onProgress,
    });
    try {
      const m = await measure(model, x, adversarial, y);
      return { adversarial, labels: y, iterations, ...m };
    } catch (e) {
      adversarial.dispose();
      throw e;
    }
  }
}
