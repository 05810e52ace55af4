import * as tf from '@tensorflow/tfjs';
import { ArgumentError } from '../../errors.js';
import { isBundleDraft, type BundleDraft } from '../../io/store/memory.js';
import { loadModelFromStore, modelFiles } from '../../io/store/model-handler.js';
import { openBundle, resolveStore, type BundleLocation } from '../../io/store/router.js';
import { mapRows } from './common.js';

/**
 * L2 normalisation over every non-batch axis: y = x / max(‖x‖₂, 1e-6).
 * Shape-preserving ([n, …] → [n, …]); serialisable as class 'PclL2Normalize'.
 */
export class L2Normalize extends tf.layers.Layer {
  static readonly className = 'PclL2Normalize';
  constructor(config: { name?: string } = {}) {
    super(config);
  }
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    return tf.tidy(() => {
      const axes = x.shape.map((_, i) => i).slice(1);
      // the floor keeps an all-zero ReLU vector (dead features) finite
      const sq = tf.maximum(tf.sum(tf.square(x), axes, true), 1e-12);
      return tf.mul(x, tf.rsqrt(sq));
    });
  }
  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return inputShape;
  }
  override getClassName(): string {
    return L2Normalize.className;
  }
}
tf.serialization.registerClass(L2Normalize);

/** A replica of a victim with an L2 normalisation inserted after a checkpoint layer. */
export interface Replica {
  /** Two outputs: [normalised checkpoint features (shape of the checkpoint's output), victim-like output]. */
  model: tf.LayersModel;
  /** The clone of the victim whose layers the replica re-applies (shares their weights). */
  base: tf.LayersModel;
  /** Name of the layer whose kernel absorbs the feature-norm rescaling (see {@link rescaleAfterCheckpoint}). */
  nextKernelLayer?: string;
  /** Whether the replica's output is softmax probabilities (else logits). */
  outputIsProbs: boolean;
  /** Flattened feature dimension p. */
  featureDim: number;
  /** The replica's layers in order (the clone's, with the normalisation after the checkpoint), no InputLayer. */
  chain: tf.layers.Layer[];
  /** Name of the inserted {@link L2Normalize} layer (its output is the first output). */
  normalizeLayer: string;
}

function layerActivation(l: tf.layers.Layer): string | undefined {
  return (l.getConfig() as { activation?: string }).activation;
}

/**
 * Checks that `model` is a chain (each layer consumes exactly the previous layer's output) and
 * returns its non-input layers in order. Only chains can be re-wired with a layer inserted.
 */
export function chainLayers(model: tf.LayersModel): tf.layers.Layer[] {
  const layers = model.layers.filter((l) => l.getClassName() !== 'InputLayer');
  for (let i = 1; i < layers.length; i++) {
    if (layers[i].input !== layers[i - 1].output) {
      throw new ArgumentError(
        `replica: layer '${layers[i].name}' does not consume the output of '${layers[i - 1].name}'; ` +
          'only chain (sequential-style) models can take an inserted checkpoint normalisation',
      );
    }
  }
  return layers;
}

/** The victim's default checkpoint: the second-to-last (non-input) layer. */
export function defaultCheckpoint(model: tf.LayersModel): string {
  const layers = model.layers.filter((l) => l.getClassName() !== 'InputLayer');
  if (layers.length < 2) throw new ArgumentError(`checkpointLayer: the model has ${layers.length} layer(s); need at least 2 for a default checkpoint`);
  return layers[layers.length - 2].name;
}

/**
 * Builds a replica of `victim` (fresh layers from its topology, weights copied) with an
 * {@link L2Normalize} after the layer named `checkpoint`; the remaining layers continue from the
 * normalised features. The victim is not modified. Caller owns the replica (dispose its model).
 */
export async function buildReplica(victim: tf.LayersModel, checkpoint: string): Promise<Replica> {
  const names = chainLayers(victim).map((l) => l.name);
  const at = names.indexOf(checkpoint);
  if (at < 0) throw new ArgumentError(`checkpointLayer: no layer named '${checkpoint}' (layers: ${names.join(', ')})`);
  if (at === names.length - 1) {
    throw new ArgumentError(`checkpointLayer: '${checkpoint}' is the output layer; pick a hidden layer (${names.slice(0, -1).join(', ')})`);
  }
  const topology = victim.toJSON(null, false) as unknown as tf.io.ModelJSON['modelTopology'];
  const clone = await tf.models.modelFromJSON({ modelTopology: topology } as tf.io.ModelJSON);
  const weights = victim.getWeights();
  clone.setWeights(weights);
  const layers = chainLayers(clone);
  const input = tf.input({ shape: clone.inputs[0].shape.slice(1) as number[] });
  let h: tf.SymbolicTensor = input;
  let feat: tf.SymbolicTensor | undefined;
  const chain: tf.layers.Layer[] = [];
  for (const l of layers) {
    h = l.apply(h) as tf.SymbolicTensor;
    chain.push(l);
    if (l.name === checkpoint) {
      const norm = new L2Normalize({ name: 'pcl_l2_normalize' });
      h = norm.apply(h) as tf.SymbolicTensor;
      chain.push(norm);
      feat = h;
    }
  }
  const model = tf.model({ inputs: input, outputs: [feat!, h] });
  const featureDim = feat!.shape.slice(1).reduce((a: number, b) => a * (b as number), 1);
  // the first layer after the checkpoint with a kernel, reached through positively homogeneous layers only
  let nextKernelLayer: string | undefined;
  for (const l of layers.slice(at + 1)) {
    if (l.getWeights().length > 0) {
      if (['Dense', 'Conv2D'].includes(l.getClassName())) nextKernelLayer = l.name;
      break;
    }
    const act = layerActivation(l);
    const homogeneous = ['Flatten', 'Reshape', 'MaxPooling2D', 'Dropout'].includes(l.getClassName()) ||
      (l.getClassName() === 'Activation' && (act === 'relu' || act === 'linear'));
    if (!homogeneous) break;
  }
  return {
    model,
    base: clone,
    outputIsProbs: layerActivation(layers[layers.length - 1]) === 'softmax',
    featureDim,
    nextKernelLayer,
    chain,
    normalizeLayer: chain[at + 1].name,
  };
}

/** Frees a replica (its model and the clone whose layers it shares). */
export function disposeReplica(r: Replica): void {
  r.model.dispose();
  r.base.dispose();
}

/**
 * Multiplies the kernel of the first weighted layer after the checkpoint by `scale` (the mean
 * norm of the un-normalised checkpoint features on the training data). Inserting the
 * normalisation divides the features by their norm ‖h‖; with the kernel scaled by the mean norm,
 * the next layer sees h·(mean‖h‖/‖h‖) ≈ h, so the replica starts close to the victim and
 * fine-tuning only has to repair the per-sample norm variation. Returns false (and changes
 * nothing) when no such layer is reachable through positively homogeneous layers.
 */
export function rescaleAfterCheckpoint(r: Replica, scale: number): boolean {
  if (r.nextKernelLayer === undefined) return false;
  const layer = r.base.getLayer(r.nextKernelLayer);
  const ws = layer.getWeights();
  const scaled = tf.tidy(() => tf.mul(ws[0], scale));
  try {
    layer.setWeights([scaled, ...ws.slice(1)]);
  } finally {
    scaled.dispose();
  }
  return true;
}

/**
 * Saves a LayersModel (topology + weights) into the bundle draft `dir` (e.g. `subStore(draft, 'victim')`;
 * or a folder / store, replaced atomically)
 * in the TensorFlow.js layers format: `model.json` + `weights.bin` (loadable with
 * `tf.loadLayersModel('file://dir/model.json')` or an http(s) URL once saved, or {@link loadModelCopy}).
 * Returns the files written, relative to `dir`.
 */
export async function saveModelCopy(model: tf.LayersModel, dir: BundleDraft | BundleLocation): Promise<string[]> {
  const files = await modelFiles(model);
  if (isBundleDraft(dir)) for (const [rel, bytes] of files) dir.put(rel, bytes);
  else await resolveStore(dir, 'saveModelCopy').writeAll(files);
  return [...files.keys()];
}

/** Loads a model written by {@link saveModelCopy} from a bundle (sub-)folder: path, URL or store. Caller owns the model. */
export async function loadModelCopy(dir: BundleLocation): Promise<tf.LayersModel> {
  return loadModelFromStore(openBundle(dir));
}


/**
 * One forward pass of the replica over `x` in batches: the normalised checkpoint features φ ([n·p]
 * row-major) and, with `withLogProbs`, the log-probabilities of its output ([n·K]: log of the
 * softmax output, floored at 1e-30, or log-softmax of logits).
 */
export function forwardReplica(
  replica: Replica,
  x: tf.Tensor4D,
  batchSize: number,
  withLogProbs: boolean,
): { phi: Float32Array; dim: number; logProbs?: Float32Array } {
  if (!withLogProbs) {
    const { data, dim } = mapRows(x, batchSize, (xb) => (replica.model.apply(xb) as tf.Tensor[])[0]);
    return { phi: data, dim };
  }
  const k = replica.model.outputs[1].shape[replica.model.outputs[1].shape.length - 1]!;
  const { data, dim: total } = mapRows(x, batchSize, (xb) => {
    const [phi, out] = replica.model.apply(xb) as tf.Tensor[];
    const lp = replica.outputIsProbs ? tf.log(tf.clipByValue(out, 1e-30, 1)) : tf.logSoftmax(out);
    return tf.concat([phi.reshape([xb.shape[0], -1]), lp.reshape([xb.shape[0], k])], 1);
  });
  const n = x.shape[0];
  const dim = total - k;
  const phi = new Float32Array(n * dim);
  const logProbs = new Float32Array(n * k);
  for (let s = 0; s < n; s++) {
    phi.set(data.subarray(s * total, s * total + dim), s * dim);
    logProbs.set(data.subarray(s * total + dim, (s + 1) * total), s * k);
  }
  return { phi, dim, logProbs };
}
