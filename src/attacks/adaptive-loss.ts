/** The adaptive attack's differentiable view of a latent defender: standardised excess of each score component over its threshold. */
import * as tf from '@tensorflow/tfjs';
import type { LatentDefender } from '../defense/latent/latent-defender.js';
import type { Replica } from '../defense/latent/replica.js';
import { BIG, componentThresholds, type LatentComponent } from './adaptive-thresholds.js';
import { disposeHddaTensors, hddaLogLikTensor, hddaTensors, type HddaTensors } from './hdda-tf.js';

/** One latent defender prepared for the attack's loss (tensors freed by `disposeTarget`). */
export interface DefenderTarget {
  replica: Readonly<Replica>;
  hdda?: HddaTensors;
  components: LatentComponent[];
  /** [K, J] thresholds and scales (J = number of components). */
  thr: tf.Tensor2D;
  scale: tf.Tensor2D;
}

export function prepareTarget(d: LatentDefender, sp: number): DefenderTarget {
  const ct = componentThresholds(d, sp);
  const k = d.numClasses;
  const j = ct.components.length;
  const toKJ = (rows: Float32Array[]) => {
    const m = new Float32Array(k * j);
    rows.forEach((r, jj) => r.forEach((v, c) => (m[c * j + jj] = v)));
    return tf.tensor2d(m, [k, j]);
  };
  const needsHdda = ct.components.some((c) => c !== 'disagreement');
  return {
    replica: d.replica,
    hdda: needsHdda ? hddaTensors(d.densities) : undefined,
    components: ct.components,
    thr: toKJ(ct.thresholds),
    scale: toKJ(ct.scales),
  };
}

export function disposeTarget(t: DefenderTarget): void {
  if (t.hdda) disposeHddaTensors(t.hdda);
  tf.dispose([t.thr, t.scale]);
}

/**
 * Standardised excess (s_j − t_j(ĉ)) / β_j(ĉ) of every score component of defender `t` for images
 * `im` [n,h,w,c] scored under classes `ohC` (one-hot [n, K]): [n, J]; ≤ 0 everywhere ⇔ not flagged.
 * Differentiable w.r.t. `im` (the surrogates: −log p(φ|ĉ) by the tfjs HDDA, the log likelihood
 * ratio against the other classes, and the replica's cross-entropy −log p_replica(ĉ|x)).
 */
export function defenderExcess(t: DefenderTarget, im: tf.Tensor4D, ohC: tf.Tensor2D): tf.Tensor2D {
  const n = im.shape[0];
  const [phiRaw, out] = t.replica.model.apply(im) as tf.Tensor[];
  const cols: tf.Tensor1D[] = [];
  let ll: tf.Tensor2D | undefined;
  if (t.hdda) ll = hddaLogLikTensor(t.hdda, phiRaw.reshape([n, -1]) as tf.Tensor2D);
  for (const c of t.components) {
    if (c === 'likelihood') {
      cols.push(tf.neg(tf.sum(tf.mul(ll!, ohC), 1)) as tf.Tensor1D);
    } else if (c === 'ratio') {
      const own = tf.sum(tf.mul(ll!, ohC), 1);
      const others = tf.logSumExp(tf.sub(ll!, tf.mul(ohC, BIG)), 1);
      cols.push(tf.sub(others, own) as tf.Tensor1D);
    } else {
      const lp = t.replica.outputIsProbs ? tf.log(tf.clipByValue(out, 1e-30, 1)) : tf.logSoftmax(out);
      cols.push(tf.neg(tf.sum(tf.mul(lp.reshape([n, -1]), ohC), 1)) as tf.Tensor1D);
    }
  }
  const s = tf.stack(cols, 1);
  return tf.div(tf.sub(s, tf.matMul(ohC, t.thr)), tf.matMul(ohC, t.scale)) as tf.Tensor2D;
}
