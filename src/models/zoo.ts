import * as tf from '@tensorflow/tfjs';
import { ArgumentError, assert } from '../errors.js';
import { Rng } from '../util/rng.js';

/** The victim architectures of the paper's Table 2. */
export type Arch = 'mnist-mlp' | 'cifar-cnn' | 'imagenet-alexnet';

/** Every architecture `buildModel` knows, in the order of Table 2. */
export const ARCHS: readonly Arch[] = ['mnist-mlp', 'cifar-cnn', 'imagenet-alexnet'];

/** Options of `buildModel`. */
export interface BuildOptions {
  /** One image [h, w, c]; the model's input is [n, h, w, c]. */
  inputShape: [number, number, number];
  numClasses: number;
  /**
   * Multiplier of the convolutional channel counts (default 1 = the paper's sizes). E.g. 0.25 turns
   * cifar-cnn's 300 filters into 75. Dense layers keep the paper's sizes. Ignored by mnist-mlp.
   */
  width?: number;
  /** Seed of the weight initialisers (default 0): equal seeds give identical initial weights. */
  seed?: number;
  /**
   * Batch normalisation after every convolution (default false; not in the paper's Table 2). Each
   * `convK` then has no bias and no activation and is followed by `convK_bn` (BatchNormalization,
   * momentum 0.9) and `convK_relu`; the pools and dense layers are unchanged, so the checkpoint layers
   * `fc1`, `fc2` keep their names.
   */
  batchNorm?: boolean;
}

/** The input image size each architecture was designed for (the paper's Table 2). */
export const DEFAULT_INPUT_SHAPE: Record<Arch, [number, number, number]> = {
  'mnist-mlp': [28, 28, 1],
  'cifar-cnn': [32, 32, 3],
  'imagenet-alexnet': [224, 224, 3],
};

interface LayerSpecConv {
  kind: 'conv';
  name: string;
  filters: number;
  kernel: number;
  stride: number;
}
interface LayerSpecPool {
  kind: 'pool';
  name: string;
  size: number;
  stride: number;
  padding: 'valid' | 'same';
}
interface LayerSpecDense {
  kind: 'dense';
  name: string;
  units: number;
}
type LayerSpec = LayerSpecConv | LayerSpecPool | LayerSpecDense | { kind: 'flatten'; name: string };

const conv = (name: string, filters: number, kernel: number, stride = 1): LayerSpec => ({ kind: 'conv', name, filters, kernel, stride });
const pool = (name: string, size: number, stride: number, padding: 'valid' | 'same' = 'valid'): LayerSpec => ({ kind: 'pool', name, size, stride, padding });
const dense = (name: string, units: number): LayerSpec => ({ kind: 'dense', name, units });
const FLATTEN: LayerSpec = { kind: 'flatten', name: 'flatten' };

/**
 * Input side below which `imagenet-alexnet` switches to its small-input adaptation ('same'-padded
 * max-pools). 224×224 (the paper) keeps Table 2's 'valid' pools; 64×64 (ImageNet-10 here) adapts.
 */
export const ALEXNET_SMALL_INPUT = 128;

/** Layer list of each architecture for inputs of side `side`, without the final `fc3` softmax layer. */
function layersOf(arch: Arch, side: number): LayerSpec[] {
  switch (arch) {
    case 'mnist-mlp': // 784 – 300FC – 100FC – 10FC
      return [FLATTEN, dense('fc1', 300), dense('fc2', 100)];
    case 'cifar-cnn': // 300C3(1) – MP2(2) – 300C2(1) – MP2(2) – 300C3(1) – MP2(2) – 300FC – 100FC – 10FC
      return [
        conv('conv1', 300, 3),
        pool('pool1', 2, 2),
        conv('conv2', 300, 2),
        pool('pool2', 2, 2),
        conv('conv3', 300, 3),
        pool('pool3', 2, 2),
        FLATTEN,
        dense('fc1', 300),
        dense('fc2', 100),
      ];
    case 'imagenet-alexnet': {
      // 96C11(4) – 256C5 – MP3(2) – 128C3 – MP3(2) – 128C3 – 128C3 – MP3(2) – 1024FC – 1024FC – 10FC.
      // At 224 px the maps are 56 → 27 → 13 → 6 ('valid' pools). At 64 px 'valid' pools would shrink
      // 16 → 7 → 3 → 1 (a single pixel before fc1), so small inputs pool with 'same' padding: 16 → 8 → 4 → 2.
      const pad = side < ALEXNET_SMALL_INPUT ? 'same' : 'valid';
      return [
        conv('conv1', 96, 11, 4),
        conv('conv2', 256, 5),
        pool('pool1', 3, 2, pad),
        conv('conv3', 128, 3),
        pool('pool2', 3, 2, pad),
        conv('conv4', 128, 3),
        conv('conv5', 128, 3),
        pool('pool3', 3, 2, pad),
        FLATTEN,
        dense('fc1', 1024),
        dense('fc2', 1024),
      ];
    }
  }
}

/**
 * Builds an untrained victim classifier of the paper's Table 2 (Rouhani et al., Appendix A).
 * Input [n, h, w, c] in [0, 1]; output softmax probabilities [n, numClasses] from the last layer `fc3`.
 * Every conv/dense layer but `fc3` uses ReLU; convolutions use 'same' padding, max-pools 'valid'.
 * Layers carry readable names: `conv1…`, `pool1…`, `flatten`, `fc1`, `fc2`, `fc3` (the latent
 * defender's default checkpoint is `fc2`, the second-to-last layer).
 *
 * - `mnist-mlp`: flatten – fc1 300 – fc2 100 – fc3.
 * - `cifar-cnn`: conv1 300C3 – pool1 MP2 – conv2 300C2 – pool2 – conv3 300C3 – pool3 – fc1 300 – fc2 100 – fc3.
 * - `imagenet-alexnet`: conv1 96C11(4) – conv2 256C5 – pool1 MP3(2) – conv3 128C3 – pool2 – conv4 128C3 –
 *   conv5 128C3 – pool3 – fc1 1024 – fc2 1024 – fc3. The paper's 224×224 input gives 56×56 maps after
 *   conv1 and 27, 13, 6 after the 'valid' pools. **Adaptation to 64×64** (inputs smaller than
 *   {@link ALEXNET_SMALL_INPUT}): the layer sequence, kernel sizes, strides and channel counts stay; only
 *   the three 3×3/2 max-pools use 'same' padding, so the maps go 16 → 8 → 4 → 2 (fc1 sees 2×2×128 = 512
 *   features) instead of collapsing to 16 → 7 → 3 → 1. Keeping conv1's stride 4 keeps the cost of conv2
 *   (256 5×5 filters over 96 channels, ≈ 80 % of the multiply–adds) at 16×16 positions; stride 2 would
 *   quadruple it.
 * - `batchNorm: true` (any CNN): convK (no bias, linear) – convK_bn – convK_relu in place of each convK.
 *
 * Weights use seeded Glorot-uniform kernels and zero biases, so equal `seed`s give equal models.
 * @see Rouhani et al., "Towards safe deep learning: unsupervised defense against generic adversarial attacks", Table 2.
 */
export function buildModel(arch: Arch | string, opts: BuildOptions): tf.LayersModel {
  if (!(ARCHS as readonly string[]).includes(arch)) {
    throw new ArgumentError(`arch: unknown architecture '${arch}'; expected one of ${ARCHS.join(', ')}`);
  }
  const { inputShape, numClasses } = opts;
  const width = opts.width ?? 1;
  const batchNorm = opts.batchNorm ?? false;
  assert(
    Array.isArray(inputShape) && inputShape.length === 3 && inputShape.every((d) => Number.isInteger(d) && d > 0),
    () => `buildModel: inputShape must be [h, w, c] of positive integers, got ${JSON.stringify(inputShape)}`,
  );
  assert(Number.isInteger(numClasses) && numClasses >= 2, () => `buildModel: numClasses must be an integer ≥ 2, got ${numClasses}`);
  assert(Number.isFinite(width) && width > 0, () => `width: expected a positive number, got ${width}`);
  const rng = new Rng(opts.seed ?? 0);
  const init = () => tf.initializers.glorotUniform({ seed: rng.seed() });

  const input = tf.input({ shape: inputShape, name: 'input' });
  let h: tf.SymbolicTensor = input;
  for (const l of layersOf(arch as Arch, Math.min(inputShape[0], inputShape[1]))) {
    switch (l.kind) {
      case 'conv': {
        const filters = Math.max(1, Math.round(l.filters * width));
        h = tf.layers
          .conv2d({
            name: l.name,
            filters,
            kernelSize: l.kernel,
            strides: l.stride,
            padding: 'same',
            // with batch norm, its beta is the bias and ReLU comes after it
            activation: batchNorm ? 'linear' : 'relu',
            useBias: !batchNorm,
            kernelInitializer: init(),
            biasInitializer: 'zeros',
          })
          .apply(h) as tf.SymbolicTensor;
        if (batchNorm) {
          // momentum 0.9 (PyTorch's 0.1): the moving statistics settle within a short run
          h = tf.layers.batchNormalization({ name: `${l.name}_bn`, momentum: 0.9, epsilon: 1e-5 }).apply(h) as tf.SymbolicTensor;
          h = tf.layers.activation({ name: `${l.name}_relu`, activation: 'relu' }).apply(h) as tf.SymbolicTensor;
        }
        break;
      }
      case 'pool':
        assert(
          l.padding === 'same' || ((h.shape[1] ?? 0) >= l.size && (h.shape[2] ?? 0) >= l.size),
          () =>
            `buildModel: input ${JSON.stringify(inputShape)} is too small for ${arch}: ` +
            `layer ${l.name} (${l.size}×${l.size} max-pool) sees a ${h.shape[1]}×${h.shape[2]} map`,
        );
        h = tf.layers.maxPooling2d({ name: l.name, poolSize: l.size, strides: l.stride, padding: l.padding }).apply(h) as tf.SymbolicTensor;
        break;
      case 'flatten':
        h = tf.layers.flatten({ name: l.name }).apply(h) as tf.SymbolicTensor;
        break;
      case 'dense':
        h = tf.layers
          .dense({ name: l.name, units: l.units, activation: 'relu', kernelInitializer: init(), biasInitializer: 'zeros' })
          .apply(h) as tf.SymbolicTensor;
        break;
    }
  }
  const out = tf.layers
    .dense({ name: 'fc3', units: numClasses, activation: 'softmax', kernelInitializer: init(), biasInitializer: 'zeros' })
    .apply(h) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out, name: arch });
}
