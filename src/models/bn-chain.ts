/**
 * The training forward pass of a batch-normalised CNN from this library's zoo (`buildModel(…,
 * {batchNorm: true})`), with the batch norms on the fused `PclBatchNorm` kernel.
 *
 * {@link batchNormChain} accepts a model that is a plain chain (each layer feeds the next only) with
 * at least one `BatchNormalization` layer (channels last, centred and scaled) and a softmax `Dense`
 * output. Its `logits(x)` runs the layers in order in training mode: each batch norm (and the ReLU
 * `Activation` right after it) as one `batchNormRelu` call, which also updates the layer's moving
 * mean and variance the way tfjs-layers does (moving ← moving − (moving − batch)·(1 − momentum));
 * hidden `Dense` layers through `PclDense`; everything else (convolutions, pools, flatten) through
 * the layer itself. It returns the output layer's logits, for `softmaxCrossEntropy`.
 */
import * as tf from '@tensorflow/tfjs';
import { batchNormAvailable, batchNormRelu } from '../engine/batch-norm.js';
import { dense, denseChainAvailable } from '../engine/dense-chain.js';

interface LayerLike {
  name: string;
  getClassName(): string;
  getConfig(): tf.serialization.ConfigDict;
  apply(x: tf.Tensor, kwargs?: { training?: boolean }): tf.Tensor;
  inboundNodes: unknown[];
  weights: { name: string; read(): tf.Tensor; write(v: tf.Tensor): void }[];
  activation?: { getClassName(): string };
  useBias?: boolean;
  kernel?: { read(): tf.Tensor };
  bias?: { read(): tf.Tensor };
}

type Step =
  | { kind: 'layer'; layer: LayerLike }
  | { kind: 'dense'; layer: LayerLike; act: 'relu' | 'linear' }
  | {
      kind: 'bn';
      layer: LayerLike;
      relu: boolean;
      epsilon: number;
      momentum: number;
      gamma: LayerLike['weights'][number];
      beta: LayerLike['weights'][number];
      movingMean: LayerLike['weights'][number];
      movingVariance: LayerLike['weights'][number];
    };

/** What {@link batchNormChain} found. */
export interface BatchNormChain {
  /** Logits of images x in training mode (batch statistics), updating the moving averages. */
  logits(x: tf.Tensor): tf.Tensor2D;
  /** The number of batch-norm layers on the fused kernel. */
  batchNorms: number;
}

/** The fused training path of `model`, or undefined where it does not apply (use `model.apply`). */
export function batchNormChain(model: tf.LayersModel): BatchNormChain | undefined {
  if (!batchNormAvailable() || !denseChainAvailable()) return undefined;
  if (model.inputs.length !== 1 || model.outputs.length !== 1) return undefined;
  const layers = model.layers as unknown as LayerLike[];
  for (const l of layers) if (l.inboundNodes.length !== 1) return undefined;
  // a plain chain: every layer's single input is the previous layer's output
  for (let i = 1; i < layers.length; i++) {
    const inbound = (layers[i] as unknown as { inboundNodes: { inboundLayers: unknown[] }[] }).inboundNodes[0]!.inboundLayers;
    if (inbound.length !== 1 || inbound[0] !== layers[i - 1]) return undefined;
  }
  const last = layers[layers.length - 1]!;
  if (last.getClassName() !== 'Dense' || last.activation?.getClassName().toLowerCase() !== 'softmax' || !last.useBias) return undefined;
  // Dense layers act on the last axis of higher-rank inputs: require a Flatten before the first one
  const flat = layers.findIndex((l) => l.getClassName() === 'Flatten');
  const firstDense = layers.findIndex((l) => l.getClassName() === 'Dense');
  if (flat < 0 || flat > firstDense) return undefined;
  const steps: Step[] = [];
  for (let i = 0; i < layers.length - 1; i++) {
    const l = layers[i]!;
    const cls = l.getClassName();
    if (cls === 'InputLayer') {
      if (i !== 0) return undefined;
      continue;
    }
    if (cls === 'BatchNormalization') {
      const cfg = l.getConfig() as { axis?: number | number[]; center?: boolean; scale?: boolean; epsilon?: number; momentum?: number };
      const axis = Array.isArray(cfg.axis) ? (cfg.axis.length === 1 ? cfg.axis[0] : undefined) : cfg.axis;
      const inShape = (l as unknown as { inboundNodes: { inputShapes: unknown }[] }).inboundNodes[0]!.inputShapes as (number | null)[];
      if (!(axis === -1 || axis === inShape.length - 1) || cfg.center !== true || cfg.scale !== true) return undefined;
      const w = (suffix: string) => l.weights.find((v) => v.name.endsWith(`/${suffix}`) || v.name === suffix);
      const [gamma, beta, movingMean, movingVariance] = [w('gamma'), w('beta'), w('moving_mean'), w('moving_variance')];
      if (!gamma || !beta || !movingMean || !movingVariance) return undefined;
      const next = layers[i + 1]!;
      const relu = next.getClassName() === 'Activation' && (next.getConfig() as { activation?: string }).activation === 'relu';
      steps.push({ kind: 'bn', layer: l, relu, epsilon: cfg.epsilon ?? 1e-3, momentum: cfg.momentum ?? 0.99, gamma, beta, movingMean, movingVariance });
      if (relu) i++;
      continue;
    }
    if (cls === 'Dense') {
      const act = l.activation?.getClassName().toLowerCase();
      if ((act === 'relu' || act === 'linear') && l.useBias && l.kernel && l.bias) {
        steps.push({ kind: 'dense', layer: l, act });
        continue;
      }
    }
    steps.push({ kind: 'layer', layer: l });
  }
  const batchNorms = steps.filter((s) => s.kind === 'bn').length;
  if (batchNorms === 0) return undefined;
  return {
    batchNorms,
    logits: (x: tf.Tensor) =>
      tf.tidy(() => {
        let h = x;
        for (const s of steps) {
          if (s.kind === 'bn') {
            const r = batchNormRelu(h, s.gamma.read() as tf.Tensor1D, s.beta.read() as tf.Tensor1D, { epsilon: s.epsilon, relu: s.relu });
            for (const [v, batch] of [[s.movingMean, r.mean], [s.movingVariance, r.variance]] as const) {
              tf.tidy(() => {
                const old = v.read();
                v.write(tf.sub(old, tf.mul(tf.sub(old, batch), 1 - s.momentum)));
              });
            }
            h = r.y;
          } else if (s.kind === 'dense') {
            h = dense(h as tf.Tensor2D, s.layer.kernel!.read() as tf.Tensor2D, s.layer.bias!.read() as tf.Tensor1D, s.act);
          } else {
            h = s.layer.apply(h, { training: true });
          }
        }
        return dense(h as tf.Tensor2D, last.kernel!.read() as tf.Tensor2D, last.bias!.read() as tf.Tensor1D, 'linear');
      }),
  };
}
