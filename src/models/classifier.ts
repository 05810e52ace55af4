import * as tf from '@tensorflow/tfjs';
import { ArgumentError, ShapeError, assert } from '../errors.js';

/** Bytes one batch's largest layer output may take in {@link Classifier.batchFor} (128 MiB). */
export const ACTIVATION_BUDGET_BYTES = 128 * 2 ** 20;

const activationBytes = new WeakMap<tf.LayersModel, number>();

/**
 * The largest batch ≤ `requested` (at least 1) whose biggest layer output in `model` stays within
 * {@link ACTIVATION_BUDGET_BYTES}. A forward pass of the paper's 300-filter CIFAR CNN holds ≈ 1.2 MB
 * per image in its first convolution alone, so the 1,000-image batches that suit the MNIST MLP would
 * need gigabytes of the wasm heap (at most 4 GiB, and never returned once grown).
 */
export function memoryBoundBatch(model: tf.LayersModel, requested: number): number {
  let worst = activationBytes.get(model);
  if (worst === undefined) {
    worst = 0;
    for (const layer of model.layers) {
      const shapes = (Array.isArray(layer.outputShape[0]) ? layer.outputShape : [layer.outputShape]) as (number | null)[][];
      for (const sh of shapes) worst = Math.max(worst, 4 * sh.slice(1).reduce<number>((a, d) => a * (d ?? 1), 1));
    }
    activationBytes.set(model, worst);
  }
  return Math.max(1, Math.min(requested, Math.floor(ACTIVATION_BUDGET_BYTES / Math.max(worst, 1))));
}

/**
 * Wraps a tfjs `LayersModel` image classifier (NHWC input in `bounds`, softmax or logits output)
 * with what attacks and defenders need: differentiable logits, labels, and taps on named layers.
 */
export class Classifier {
  readonly bounds: readonly [number, number];
  readonly numClasses: number;
  /** [h, w, c] of one input image. */
  readonly inputShape: [number, number, number];
  private readonly logitsFn: (x: tf.Tensor) => tf.Tensor2D;
  private readonly taps = new Map<string, tf.LayersModel>();

  constructor(
    readonly model: tf.LayersModel,
    bounds: readonly [number, number] = [0, 1],
  ) {
    this.bounds = bounds;
    const inShape = model.inputs[0].shape;
    assert(inShape.length === 4, () => `Classifier: expected a model with NHWC image input, got input shape [${inShape}]`, ShapeError);
    this.inputShape = [inShape[1]!, inShape[2]!, inShape[3]!];
    const outShape = model.outputs[0].shape;
    this.numClasses = outShape[outShape.length - 1]!;
    const last = model.layers[model.layers.length - 1];
    const cfg = last.getConfig() as { activation?: string };
    if (last.getClassName() === 'Activation' && cfg.activation === 'softmax') {
      // logits = input of the final softmax layer
      const sub = tf.model({ inputs: model.inputs, outputs: last.input as tf.SymbolicTensor });
      this.logitsFn = (x) => sub.apply(x, { training: false }) as tf.Tensor2D;
    } else if (last.getClassName() === 'Dense' && cfg.activation === 'softmax') {
      // recompute the final dense layer without its softmax
      const sub = tf.model({ inputs: model.inputs, outputs: last.input as tf.SymbolicTensor });
      const [kernel, bias] = last.getWeights();
      this.logitsFn = (x) => {
        const h = sub.apply(x, { training: false }) as tf.Tensor2D;
        return (bias ? tf.add(tf.matMul(h, kernel), bias) : tf.matMul(h, kernel)) as tf.Tensor2D;
      };
    } else if (cfg.activation === 'linear' || cfg.activation === undefined) {
      this.logitsFn = (x) => model.apply(x, { training: false }) as tf.Tensor2D;
    } else {
      throw new ArgumentError(
        `Classifier: the last layer '${last.name}' has activation '${cfg.activation}'; expected softmax or linear logits`,
      );
    }
  }

  /** Pre-softmax logits [n, numClasses]; differentiable w.r.t. `x`. Caller owns the result. */
  logits(x: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => this.logitsFn(x));
  }

  /** Softmax probabilities [n, numClasses]. Caller owns the result. */
  probs(x: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => tf.softmax(this.logitsFn(x)));
  }

  /**
   * Predicted labels [n] int32, computed in batches of at most `batchSize` (default 500), fewer where
   * one batch's activations would not fit {@link ACTIVATION_BUDGET_BYTES} (see {@link batchFor}); each
   * batch's intermediate tensors are freed before the next. Caller owns the result.
   */
  predict(x: tf.Tensor4D, batchSize = 500): tf.Tensor1D {
    const b = this.batchFor(batchSize);
    const parts: tf.Tensor1D[] = [];
    try {
      for (let i = 0; i < x.shape[0]; i += b) {
        const n = Math.min(b, x.shape[0] - i);
        parts.push(tf.tidy(() => tf.argMax(this.logitsFn(x.slice([i, 0, 0, 0], [n, -1, -1, -1])), 1).toInt() as tf.Tensor1D));
      }
    } catch (e) {
      tf.dispose(parts);
      throw e;
    }
    if (parts.length === 1) return parts[0]!;
    const out = parts.length === 0 ? (tf.tensor1d([], 'int32') as tf.Tensor1D) : (tf.concat(parts) as tf.Tensor1D);
    tf.dispose(parts);
    return out;
  }

  /** {@link predict} read back as an Int32Array (the tensor is freed). */
  async predictLabels(x: tf.Tensor4D, batchSize = 500): Promise<Int32Array> {
    const t = this.predict(x, batchSize);
    try {
      return Int32Array.from(await t.data());
    } finally {
      t.dispose();
    }
  }

  /**
   * The largest batch ≤ `requested` whose biggest layer output stays within
   * {@link ACTIVATION_BUDGET_BYTES} (at least 1; see {@link memoryBoundBatch}).
   */
  batchFor(requested: number): number {
    return memoryBoundBatch(this.model, requested);
  }

  /** Output of the layer named `layer` for `x` (differentiable). Caller owns the result. */
  activations(x: tf.Tensor4D, layer: string): tf.Tensor {
    let tap = this.taps.get(layer);
    if (!tap) {
      const l = this.model.layers.find((q) => q.name === layer);
      if (!l) {
        throw new ArgumentError(
          `activations: no layer named '${layer}' (layers: ${this.model.layers.map((q) => q.name).join(', ')})`,
        );
      }
      tap = tf.model({ inputs: this.model.inputs, outputs: l.output as tf.SymbolicTensor });
      this.taps.set(layer, tap);
    }
    const t = tap;
    return tf.tidy(() => t.apply(x, { training: false }) as tf.Tensor);
  }

  /** Names of the model's layers, in order. */
  layerNames(): string[] {
    return this.model.layers.map((l) => l.name);
  }
}
