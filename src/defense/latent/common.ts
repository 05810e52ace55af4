import * as tf from '@tensorflow/tfjs';
import { ManifestError, ShapeError, assert } from '../../errors.js';
import { thresholdFromScores, type ScoreSurrogate } from '../types.js';

/** Throws `ShapeError` unless `x` is [n, h, w, c] with the victim's image shape. */
export function checkImages(x: tf.Tensor, inputShape: readonly number[], who: string): asserts x is tf.Tensor4D {
  assert(x.rank === 4, () => `${who}: expected x of rank 4 [n,h,w,c], got shape [${x.shape}]`, ShapeError);
  assert(
    x.shape.slice(1).every((v, i) => v === inputShape[i]),
    () => `${who}: expected x of shape [n,${inputShape.join(',')}], got [${x.shape}]`,
    ShapeError,
  );
}

/** Throws `ShapeError` unless `y` is a rank-1 tensor of length `n`. */
export function checkLabels(y: tf.Tensor | undefined, n: number, who: string, name = 'y'): void {
  if (y === undefined) return;
  assert(y.rank === 1 && y.shape[0] === n, () => `${who}: expected ${name} of shape [${n}], got [${y.shape}]`, ShapeError);
}

/**
 * Runs `fn` on slices of `x` of at most `batchSize` rows and concatenates the flattened rows of
 * its outputs into one Float32Array [n·p]. `fn` results are disposed. Returns `{data, dim: p}`.
 */
export function mapRows(x: tf.Tensor4D, batchSize: number, fn: (xb: tf.Tensor4D) => tf.Tensor): { data: Float32Array; dim: number } {
  const n = x.shape[0];
  let data = new Float32Array(0);
  let dim = 0;
  for (let i = 0; i < n; i += batchSize) {
    const m = Math.min(batchSize, n - i);
    const vals = tf.tidy(() => {
      const out = fn(x.slice([i, 0, 0, 0], [m, -1, -1, -1]));
      return out.reshape([m, -1]);
    });
    try {
      if (i === 0) {
        dim = vals.shape[1]!;
        data = new Float32Array(n * dim);
      }
      data.set(vals.dataSync() as Float32Array, i * dim);
    } finally {
      vals.dispose();
    }
  }
  return { data, dim };
}

/** Integer labels of a 1-D tensor as Int32Array. */
export function labelsOf(y: tf.Tensor1D): Int32Array {
  return Int32Array.from(y.dataSync());
}

/** 1 where the prediction equals the label (the clean images a defender learns its thresholds from), else 0. */
export function correctMask(predicted: ArrayLike<number>, labels: ArrayLike<number>): Uint8Array {
  return Uint8Array.from({ length: labels.length }, (_, s) => (predicted[s] === labels[s] ? 1 : 0));
}

/**
 * Groups `scores` by `classes` (only rows where `keep[s]`, if given; all rows of a class with fewer than 2 kept)
 * and sorts each group ascending.
 */
export function sortedPerClass(
  scores: ArrayLike<number>,
  classes: ArrayLike<number>,
  numClasses: number,
  keep?: ArrayLike<boolean | number>,
): Float32Array[] {
  const groups: number[][] = Array.from({ length: numClasses }, () => []);
  const all: number[][] = Array.from({ length: numClasses }, () => []);
  for (let s = 0; s < scores.length; s++) {
    all[classes[s]].push(scores[s]);
    if (keep && !keep[s]) continue;
    groups[classes[s]].push(scores[s]);
  }
  // a class with fewer than 2 kept samples (a weak victim that hardly ever gets it right) falls back to all its
  // samples, so its thresholds and tail p-values stay defined
  return groups.map((g, c) => Float32Array.from(g.length >= 2 ? g : all[c]!).sort());
}

/** Per-class thresholds at security parameter `sp` (percent). */
export function thresholdsAt(perClass: readonly Float32Array[], sp: number): Float32Array {
  return Float32Array.from(perClass.map((s) => thresholdFromScores(s, sp)));
}

/** 1 where `scores[s] > thresholds[yPred[s]]`. */
export function flagsFrom(scores: ArrayLike<number>, yPred: ArrayLike<number>, thresholds: Float32Array): Uint8Array {
  const out = new Uint8Array(scores.length);
  for (let s = 0; s < scores.length; s++) out[s] = scores[s] > thresholds[yPred[s]] ? 1 : 0;
  return out;
}

/** Named tensors `${prefix}/${k}` holding each class's sorted training scores. */
export function scoresToTensors(perClass: readonly Float32Array[], prefix = 'scores'): tf.NamedTensorMap {
  const out: tf.NamedTensorMap = {};
  perClass.forEach((s, k) => {
    out[`${prefix}/${k}`] = tf.tensor1d(s, 'float32');
  });
  return out;
}

/** Inverse of {@link scoresToTensors}; reads (does not dispose) the tensors. */
/** Reads per-class sorted scores saved by {@link scoresToTensors}; a missing one is a `ManifestError` naming `where` (the manifest). */
export function scoresFromTensors(tensors: tf.NamedTensorMap, numClasses: number, prefix = 'scores', where = 'bundle'): Float32Array[] {
  return Array.from({ length: numClasses }, (_, k) => {
    const t = tensors[`${prefix}/${k}`];
    if (!t) throw new ManifestError(`${where}: missing weight '${prefix}/${k}'`);
    return Float32Array.from(t.dataSync() as Float32Array);
  });
}

/** Disposes every tensor of a map. */
export function disposeMap(m: tf.NamedTensorMap): void {
  for (const t of Object.values(m)) t.dispose();
}

/**
 * The surrogate of a one-component, per-class-threshold defender (the output margin and twin defenders): `scores`
 * is the defender's differentiable score [n, 1] under one-hot `classes`; `excess` = (score − the class's threshold at
 * `sp`) / (the class's clean inter-quartile range of scores), ≤ 0 ⇔ not flagged.
 */
export function perClassSurrogate(
  label: string,
  component: string,
  sp: number,
  thresholds: Float32Array,
  trainScores: readonly Float32Array[],
  scores: (x: tf.Tensor4D, classes: tf.Tensor2D) => tf.Tensor2D,
): ScoreSurrogate {
  const th = tf.tensor1d(thresholds);
  const scale = tf.tensor1d(
    trainScores.map((s) => {
      const q = (f: number) => s[Math.min(s.length - 1, Math.floor(f * (s.length - 1)))]!;
      return Math.max(q(0.75) - q(0.25), 1e-3);
    }),
  );
  return {
    label,
    components: [component],
    sp,
    scores,
    excess: (x, classes) =>
      tf.tidy(() => {
        const s = scores(x, classes);
        const t = tf.sum(tf.mul(classes, th), 1, true);
        const sc = tf.sum(tf.mul(classes, scale), 1, true);
        return tf.div(tf.sub(s, t), sc) as tf.Tensor2D;
      }),
    dispose: () => tf.dispose([th, scale]),
  };
}
