/** Fine-tuning of the latent defender's replica (PCL-METHOD.md §2): cross-entropy + γ·L+. */
import * as tf from '@tensorflow/tfjs';
import { yieldToEventLoop } from '../../util/parallel.js';
import { progressBar } from '../../util/progress.js';
import { Rng } from '../../util/rng.js';
import type { FitOptions } from '../types.js';
import { centerLoss } from './center-loss.js';
import { mapRows } from './common.js';
import type { LatentDefenderParams, OptimizerName } from './params.js';
import type { Replica } from './replica.js';
import { fusedAdam } from '../../engine/fused-adam.js';
import { softmaxCrossEntropy } from '../../engine/dense-chain.js';
import { layerChain } from '../../models/bn-chain.js';

export function makeOptimizer(name: OptimizerName, lr: number): tf.Optimizer {
  switch (name) {
    case 'adam':
      return fusedAdam(lr);
    case 'sgd':
      return tf.train.sgd(lr);
    case 'rmsprop':
      return tf.train.rmsprop(lr);
    case 'adagrad':
      return tf.train.adagrad(lr);
    case 'adamax':
      return tf.train.adamax(lr);
  }
}

/** Mean loss terms of one fine-tuning epoch (CE, and the three L+ terms before γ). */
export interface EpochLog {
  epoch: number;
  ce: number;
  condense: number;
  spread: number;
  sphere: number;
  /** Training accuracy of the replica over the epoch's batches. */
  accuracy: number;
}

/** Floor of the true class's probability in the cross-entropy (both paths; as `pcl train`'s CE_MIN_PROB). */
const MIN_PROB = 1e-7;

/** Options of {@link fineTuneReplica}. */
export interface FineTuneOptions extends FitOptions {
  /**
   * A batch-normalised replica with a softmax output trains on the fused batch-norm kernels
   * (`layerChain`, as `pcl train` does) where the backend has them; false keeps tfjs-layers'
   * `model.apply` (same objective, same numbers within float rounding; ≈ 4× slower on a CNN).
   */
  fastBatchNorm?: boolean;
}

/**
 * Fine-tunes `replica` in place with cross-entropy + γ·L+ (custom loop, optimizer.minimize); the
 * trainable centres start at the class means of the normalised (not yet fine-tuned) features.
 * `x`: [n,h,w,c] clean training images, `y`: [n] true labels (`yTrue` the same, on the host).
 * Returns per-epoch mean loss terms. Inputs are not disposed.
 */
export async function fineTuneReplica(
  replica: Replica,
  x: tf.Tensor4D,
  y: tf.Tensor1D,
  yTrue: Int32Array,
  numClasses: number,
  params: Readonly<LatentDefenderParams>,
  opts: FineTuneOptions = {},
): Promise<EpochLog[]> {
  const { gamma, batchSize, epochs } = params;
  const useCentre = params.fineTune === 'centre';
  const n = x.shape[0];
  const k = numClasses;
  // centres start at the class means of the normalised (not yet fine-tuned) features
  const { data: phi0, dim } = mapRows(x, params.scoreBatchSize, (xb) => (replica.model.apply(xb) as tf.Tensor[])[0]);
  const means = new Float32Array(k * dim);
  const counts = new Float64Array(k);
  for (let s = 0; s < n; s++) {
    counts[yTrue[s]]++;
    for (let j = 0; j < dim; j++) means[yTrue[s] * dim + j] += phi0[s * dim + j];
  }
  for (let c = 0; c < k; c++) for (let j = 0; j < dim; j++) means[c * dim + j] /= Math.max(counts[c], 1);
  const init = tf.tensor2d(means, [k, dim]);
  const centres = tf.variable(init, true, 'pcl_centres');
  init.dispose();
  const fast = opts.fastBatchNorm === false ? undefined : layerChain(replica.chain, { tap: replica.normalizeLayer });
  const optimizer = makeOptimizer(params.optimizer, params.lr);
  const vars = [...replica.model.trainableWeights.map((w) => w.read() as tf.Variable), ...(useCentre ? [centres] : [])];
  const rng = new Rng(opts.seed ?? params.seed);
  const yInt = tf.tidy(() => y.toInt());
  const bar = progressBar(`fine-tune ${params.checkpointLayer}`, epochs * Math.ceil(n / batchSize), { enabled: opts.progress });
  const log: EpochLog[] = [];
  try {
    for (let e = 0; e < epochs; e++) {
      const order = rng.shuffle(Int32Array.from({ length: n }, (_, i) => i));
      const sums = new Float64Array(5);
      for (let i = 0; i < n; i += batchSize) {
        const m = Math.min(batchSize, n - i);
        const idx = order.subarray(i, i + m);
        let terms: tf.Tensor1D | undefined;
        tf.tidy(() => {
          const it = tf.tensor1d(idx, 'int32');
          const xb = tf.gather(x, it) as tf.Tensor4D;
          const yb = tf.gather(yInt, it) as tf.Tensor1D;
          optimizer.minimize(() => {
            let phi: tf.Tensor;
            let out: tf.Tensor;
            let ce: tf.Tensor;
            if (fast) {
              // logits and the normalised features from the fused chain; the same clipped cross-entropy
              const f = fast.forward(xb);
              [phi, out] = [f.tap!, f.logits];
              ce = softmaxCrossEntropy(f.logits, yb, { minProb: MIN_PROB });
            } else {
              [phi, out] = replica.model.apply(xb, { training: true }) as tf.Tensor[];
              const oneHot = tf.oneHot(yb, k).toFloat();
              ce = replica.outputIsProbs
                ? tf.mean(tf.neg(tf.sum(tf.mul(oneHot, tf.log(tf.clipByValue(out, MIN_PROB, 1))), 1)))
                : tf.losses.softmaxCrossEntropy(oneHot, out);
            }
            const c = centerLoss(phi.reshape([m, dim]) as tf.Tensor2D, yb, centres, gamma, params.spread);
            const correct = tf.sum(tf.equal(tf.argMax(out, 1), yb).toFloat());
            terms = tf.keep(tf.stack([ce as tf.Scalar, c.condense, c.spread, c.sphere, correct]) as tf.Tensor1D);
            return useCentre ? (tf.add(ce, c.total) as tf.Scalar) : (ce as tf.Scalar);
          }, false, vars);
        });
        const v = terms!.dataSync();
        terms!.dispose();
        for (let j = 0; j < 4; j++) sums[j] += v[j] * m;
        sums[4] += v[4];
        bar.tick(1, { ce: v[0], cond: v[1] });
      }
      const entry: EpochLog = {
        epoch: e + 1,
        ce: sums[0] / n,
        condense: sums[1] / n,
        spread: sums[2] / n,
        sphere: sums[3] / n,
        accuracy: sums[4] / n,
      };
      log.push(entry);
      opts.log?.(
        `fine-tune ${params.checkpointLayer} epoch ${entry.epoch}/${epochs}: ce=${entry.ce.toFixed(4)} ` +
          `condense=${entry.condense.toFixed(4)} spread=${entry.spread.toFixed(4)} sphere=${entry.sphere.toExponential(3)} ` +
          `acc=${entry.accuracy.toFixed(4)}`,
      );
      await yieldToEventLoop();
    }
  } finally {
    bar.stop();
    centres.dispose();
    optimizer.dispose();
    yInt.dispose();
  }
  return log;
}
