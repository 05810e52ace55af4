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
}
interface LayerSpecDense {
  kind: 'dense';
  name: string;
  units: number;
}
type LayerSpec = LayerSpecConv | LayerSpecPool | LayerSpecDense | { kind: 'flatten'; name: string };

const conv = (name: string, filters: number, kernel: number, stride = 1): LayerSpec => ({ kind: 'conv', name, filters, kernel, stride });
const pool = (name: string, size: number, stride: number): LayerSpec => ({ kind: 'pool', name, size, stride });
const dense = (name: string, units: number): LayerSpec => ({ kind: 'dense', name, units });
const FLATTEN: LayerSpec = { kind: 'flatten', name: 'flatten' };

/** Layer list of each architecture, without the final `fc3` softmax layer. */
function layersOf(arch: Arch): LayerSpec[] {
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
    case 'imagenet-alexnet': // 96C11(4) – 256C5 – MP3(2) – 128C3 – MP3(2) – 128C3 – 128C3 – MP3(2) – 1024FC – 1024FC – 10FC
      return [
        conv('conv1', 96, 11, 4),
        conv('conv2', 256, 5),
        pool('pool1', 3, 2),
        conv('conv3', 128, 3),
        pool('pool2', 3, 2),
        conv('conv4', 128, 3),
        conv('conv5', 128, 3),
        pool('pool3', 3, 2),
        FLATTEN,
        dense('fc1', 1024),
        dense('fc2', 1024),
      ];
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
 *   conv5 128C3 – pool3 – fc1 1024 – fc2 1024 – fc3.
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
  for (const l of layersOf(arch as Arch)) {
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
            activation: 'relu',
            kernelInitializer: init(),
            biasInitializer: 'zeros',
          })
          .apply(h) as tf.SymbolicTensor;
        break;
      }
      case 'pool':
        assert(
          (h.shape[1] ?? 0) >= l.size && (h.shape[2] ?? 0) >= l.size,
          () =>
            `buildModel: input ${JSON.stringify(inputShape)} is too small for ${arch}: ` +
            `layer ${l.name} (${l.size}×${l.size} max-pool) sees a ${h.shape[1]}×${h.shape[2]} map`,
        );
        h = tf.layers.maxPooling2d({ name: l.name, poolSize: l.size, strides: l.stride, padding: 'valid' }).apply(h) as tf.SymbolicTensor;
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
