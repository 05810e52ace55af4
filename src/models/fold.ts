/**
 * Folding a batch-normalised zoo CNN into the same CNN without batch norm, for inference.
 *
 * In inference mode each `convK – convK_bn – convK_relu` of `buildModel(…, {batchNorm: true})` is
 * relu(γ·(W∗x − μ)/√(σ² + ε) + β) with the moving statistics μ, σ²: one convolution with kernel
 * W·s and bias β − μ·s (s = γ/√(σ² + ε), per output channel) followed by ReLU — the zoo's
 * `batchNorm: false` layer `convK`. The folded model computes the same function (to float rounding)
 * with a third of the layers, and attacks and defenders differentiate through three fewer
 * broadcasting kernels per convolution (tfjs's batch-norm gradient). Layer names are kept (`conv1`,
 * `pool1`, …, `fc1`, `fc2`, `fc3`), so checkpoints and bundles address the same layers.
 */
import * as tf from '@tensorflow/tfjs';
import { ArgumentError } from '../errors.js';
import { buildModel, type Arch } from './zoo.js';

/** True when `model` has a `BatchNormalization` layer. */
export function hasBatchNorm(model: tf.LayersModel): boolean {
  return model.layers.some((l) => l.getClassName() === 'BatchNormalization');
}

/**
 * The zoo architecture `arch` (at `width`) without batch norm, computing what `model` (the same
 * architecture with batch norm) computes in inference mode. `model` is not changed or disposed.
 * Throws `ArgumentError` when `model` is not that architecture.
 */
export function foldBatchNorm(model: tf.LayersModel, arch: Arch, width = 1): tf.LayersModel {
  const inputShape = model.inputs[0]!.shape.slice(1) as [number, number, number];
  const numClasses = model.outputs[0]!.shape[1] as number;
  const dst = buildModel(arch, { inputShape, numClasses, width, batchNorm: false });
  try {
    const byName = new Map(model.layers.map((l) => [l.name, l] as const));
    for (const l of dst.layers) {
      const cls = l.getClassName();
      if (cls !== 'Conv2D' && cls !== 'Dense') continue;
      const src = byName.get(l.name);
      if (!src || src.getClassName() !== cls) throw new ArgumentError(`foldBatchNorm: the model has no ${cls} layer '${l.name}' (is it ${arch} at width ${width}?)`);
      const sw = src.getWeights();
      const shape = l.getWeights()[0]!.shape;
      if (sw[0]!.shape.join() !== shape.join()) {
        throw new ArgumentError(`foldBatchNorm: layer ${l.name} has kernel shape [${sw[0]!.shape}], ${arch} at width ${width} has [${shape}]`);
      }
      if (cls === 'Dense') {
        l.setWeights(sw);
        continue;
      }
      const bn = byName.get(`${l.name}_bn`);
      if (!bn || bn.getClassName() !== 'BatchNormalization') {
        // a convolution without batch norm keeps its own weights
        if (sw.length !== 2) throw new ArgumentError(`foldBatchNorm: convolution ${l.name} has neither a bias nor a batch norm '${l.name}_bn'`);
        l.setWeights(sw);
        continue;
      }
      const [gamma, beta, mean, variance] = bn.getWeights() as tf.Tensor1D[];
      const eps = (bn.getConfig() as { epsilon: number }).epsilon;
      const [kernel, bias] = tf.tidy(() => {
        const s = tf.div(gamma!, tf.sqrt(tf.add(variance!, eps)));
        const b0 = sw[1] ?? tf.zerosLike(mean!); // a conv bias before the batch norm shifts its input
        return [tf.mul(sw[0]!, s), tf.add(beta!, tf.mul(tf.sub(b0, mean!), s))];
      });
      l.setWeights([kernel!, bias!]);
      tf.dispose([kernel!, bias!]);
    }
    return dst;
  } catch (e) {
    dst.dispose();
    throw e;
  }
}
