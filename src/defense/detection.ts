/**
 * The one `detect` every single detector shares: argument handling (the options object and the
 * deprecated positional form), labels of either type, progress in rows, and the report.
 */
import * as tf from '@tensorflow/tfjs';
import { ShapeError, assert } from '../errors.js';
import type { DetectOptions, DetectionReport, Labels } from './types.js';

/** What a detector provides for {@link runDetect}. */
export interface DetectCore {
  readonly label: string;
  /** The victim's predicted labels of `x` ([n]): `yPred` if given, else the victim's own prediction. */
  predictedLabels(x: tf.Tensor4D, yPred: Labels | undefined, who: string): Promise<Int32Array>;
  /** Scores of `x` under the given classes ([n]); no victim pass. */
  scoreGiven(x: tf.Tensor4D, classes: Int32Array): Promise<Float32Array>;
  thresholds(sp: number): Float32Array;
}

/** True for the positional form `detect(x, yPred?, sp?)`: a third argument, or labels (tensor or array) second. */
export function isPositionalDetect(second: unknown, third: unknown): boolean {
  if (third !== undefined) return true;
  if (second === undefined || second === null) return false;
  return second instanceof tf.Tensor || typeof (second as ArrayLike<number>).length === 'number';
}

/** The options of a `detect` call in either form. */
export function detectOptions(second: unknown, third: unknown): { opts: DetectOptions; positional: boolean } {
  if (isPositionalDetect(second, third)) return { opts: { yPred: second as Labels | undefined, sp: third as number | undefined }, positional: true };
  return { opts: (second as DetectOptions | undefined) ?? {}, positional: false };
}

/** Checks a security parameter at the public boundary. */
export function checkSp(who: string, sp: number): number {
  assert(typeof sp === 'number' && sp >= 0 && sp <= 100, () => `${who}: 'sp' must be a percentage in [0, 100], got ${sp}`, RangeError);
  return sp;
}

/**
 * Labels of either type as Int32Array [n] (a tensor is read, an array copied), checked against `n`.
 * Returns undefined when `yPred` is undefined.
 */
export function labelsFrom(yPred: Labels | undefined, n: number, who: string): Int32Array | undefined {
  if (yPred === undefined) return undefined;
  if (yPred instanceof tf.Tensor) {
    assert(yPred.rank === 1 && yPred.shape[0] === n, () => `${who}: expected yPred of shape [${n}], got [${yPred.shape}]`, ShapeError);
    return Int32Array.from(yPred.dataSync());
  }
  assert(typeof yPred.length === 'number' && yPred.length === n, () => `${who}: expected yPred of length ${n}, got ${yPred.length}`, ShapeError);
  return Int32Array.from(yPred);
}

/** Rows per chunk of `runDetect` (one progress report each). */
const DETECT_CHUNK = 1000;

/**
 * `detect` of a single detector: flags rows whose score exceeds the per-class threshold at SP of
 * the victim's predicted class. Returns the report, or only the flags for the positional form.
 */
export async function runDetect(
  core: DetectCore,
  who: string,
  x: tf.Tensor4D,
  second: unknown,
  third: unknown,
  defaultSp: number,
): Promise<DetectionReport | Uint8Array> {
  const { opts, positional } = detectOptions(second, third);
  const sp = checkSp(who, opts.sp ?? defaultSp);
  assert(x instanceof tf.Tensor && x.rank === 4, () => `${who}: expected x of rank 4 [n,h,w,c], got shape [${(x as tf.Tensor)?.shape}]`, ShapeError);
  const n = x.shape[0];
  const yPred = await core.predictedLabels(x, opts.yPred, who);
  const thr = core.thresholds(sp);
  let scores: Float32Array;
  if (n <= DETECT_CHUNK) {
    scores = await core.scoreGiven(x, yPred);
    opts.onProgress?.(n, n);
  } else {
    scores = new Float32Array(n);
    for (let i = 0; i < n; i += DETECT_CHUNK) {
      const m = Math.min(DETECT_CHUNK, n - i);
      const xb = x.slice([i, 0, 0, 0], [m, -1, -1, -1]);
      try {
        scores.set(await core.scoreGiven(xb, yPred.subarray(i, i + m)), i);
      } finally {
        xb.dispose();
      }
      opts.onProgress?.(i + m, n);
    }
  }
  const adversarial = Uint8Array.from(scores, (s, i) => (s > thr[yPred[i]] ? 1 : 0));
  if (positional) return adversarial;
  const flagged = adversarial.reduce((a, b) => a + b, 0);
  return { adversarial, scores, yPred, report: { detector: core.label, rule: 'threshold', sp, flagged, total: n } };
}
