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
  | { kind: 'layer'; layer: LayerLike; tap: boolean }
  | { kind: 'dense'; layer: LayerLike; act: 'relu' | 'linear'; tap: boolean }
  | {
      kind: 'bn';
      tap: boolean;
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
  if (model.inputs.length !== 1 || model.outputs.length !== 1) return undefined;
  const layers = model.layers as unknown as LayerLike[];
  for (const l of layers) if (l.inboundNodes.length !== 1) return undefined;
  // a plain chain: every layer's single input is the previous layer's output
  for (let i = 1; i < layers.length; i++) {
    const inbound = (layers[i] as unknown as { inboundNodes: { inboundLayers: unknown[] }[] }).inboundNodes[0]!.inboundLayers;
    if (inbound.length !== 1 || inbound[0] !== layers[i - 1]) return undefined;
  }
  const chain = layerChain(layers.filter((l, i) => !(i === 0 && l.getClassName() === 'InputLayer')) as unknown as tf.layers.Layer[]);
  if (!chain) return undefined;
  return { batchNorms: chain.batchNorms, logits: (x) => chain.forward(x).logits };
}

/** What {@link layerChain} found. */
export interface LayerChain {
  /**
   * Training-mode forward pass of images x: the output layer's logits and, with a `tap`, the
   * output of the layer of that name. Updates the batch norms' moving averages.
   */
  forward(x: tf.Tensor): { logits: tf.Tensor2D; tap?: tf.Tensor };
  /** The number of batch-norm layers on the fused kernel. */
  batchNorms: number;
}

/**
 * The fused training path of a chain of layers given in order (the first consumes the images,
 * each next one the previous one's output; no InputLayer), as {@link batchNormChain} runs it: the
 * caller vouches for the order (e.g. a latent replica, whose layers are shared with the victim's
 * clone and so have two inbound nodes each). Undefined where it does not apply: no batch norm, an
 * output that is not a softmax `Dense` with bias, a `Dense` before any `Flatten`, a batch norm not
 * on the last axis or without centre and scale, or a `tap` that names no layer of the chain.
 */
export function layerChain(chainLayers: tf.layers.Layer[], opts: { tap?: string } = {}): LayerChain | undefined {
  if (!batchNormAvailable() || !denseChainAvailable()) return undefined;
  const layers = chainLayers as unknown as LayerLike[];
  if (layers.length < 2) return undefined;
  if (opts.tap !== undefined && !layers.slice(0, -1).some((l) => l.name === opts.tap)) return undefined;
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
    if (cls === 'InputLayer') return undefined;
    if (cls === 'BatchNormalization') {
      const cfg = l.getConfig() as { axis?: number | number[]; center?: boolean; scale?: boolean; epsilon?: number; momentum?: number };
      const axis = Array.isArray(cfg.axis) ? (cfg.axis.length === 1 ? cfg.axis[0] : undefined) : cfg.axis;
      const shapes = (l as unknown as { inboundNodes: { inputShapes: unknown }[] }).inboundNodes[0]!.inputShapes as unknown[];
      const inShape = (Array.isArray(shapes[0]) ? shapes[0] : shapes) as (number | null)[];
      if (!(axis === -1 || axis === inShape.length - 1) || cfg.center !== true || cfg.scale !== true) return undefined;
      // tfjs-layers appends _1, _2, … to the names of a model's copies ('conv1_bn/gamma_1')
      const w = (suffix: string) => l.weights.find((v) => new RegExp(`(^|/)${suffix}(_\\d+)?$`).test(v.name));
      const [gamma, beta, movingMean, movingVariance] = [w('gamma'), w('beta'), w('moving_mean'), w('moving_variance')];
      if (!gamma || !beta || !movingMean || !movingVariance) return undefined;
      const next = layers[i + 1]!;
      // the ReLU after it joins the kernel unless the tap wants the batch norm's own output
      const relu = l.name !== opts.tap && next.getClassName() === 'Activation' && (next.getConfig() as { activation?: string }).activation === 'relu';
      steps.push({ kind: 'bn', layer: l, relu, epsilon: cfg.epsilon ?? 1e-3, momentum: cfg.momentum ?? 0.99, gamma, beta, movingMean, movingVariance, tap: (relu ? next : l).name === opts.tap });
      if (relu) i++;
      continue;
    }
    if (cls === 'Dense') {
      const act = l.activation?.getClassName().toLowerCase();
      if ((act === 'relu' || act === 'linear') && l.useBias && l.kernel && l.bias) {
        steps.push({ kind: 'dense', layer: l, act, tap: l.name === opts.tap });
        continue;
      }
    }
    steps.push({ kind: 'layer', layer: l, tap: l.name === opts.tap });
  }
  const batchNorms = steps.filter((s) => s.kind === 'bn').length;
  if (batchNorms === 0) return undefined;
  return {
    batchNorms,
    forward: (x: tf.Tensor) =>
      tf.tidy(() => {
        let tap: tf.Tensor | undefined;
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
          if (s.tap) tap = h;
        }
        const logits = dense(h as tf.Tensor2D, last.kernel!.read() as tf.Tensor2D, last.bias!.read() as tf.Tensor1D, 'linear');
        return tap ? { logits, tap } : { logits };
      }),
  };
}
