import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ArgumentError, ManifestError } from '../errors.js';
import { writeDirAtomic } from '../io/atomic.js';

/** File names of a saved classifier folder. */
export const MODEL_JSON = 'model.json';
export const MODEL_WEIGHTS = 'weights.bin';
export const MODEL_METRICS = 'metrics.json';

/**
 * What `pcl train` records next to a model in `metrics.json`. The first three fields are the
 * public contract; the training hyperparameters let the latent defender fine-tune with the same
 * optimizer (at lr / 10).
 */
export interface ClassifierMetrics {
  /** Accuracy on the dataset's test split, in [0, 1]. */
  testAccuracy: number;
  /** Epochs trained. */
  epochs: number;
  /** Wall-clock training time in seconds. */
  seconds: number;
  arch?: string;
  width?: number;
  optimizer?: string;
  lr?: number;
  batchSize?: number;
  seed?: number;
  /** Dataset spec, e.g. `mnist`. */
  dataset?: string;
  /** tfjs backend that trained it ('wasm' or 'cpu'). */
  backend?: string;
  [key: string]: unknown;
}

/** Converts `file://some/dir/model.json` (or a plain path) to a filesystem path. */
function toPath(urlOrPath: string): string {
  return urlOrPath.startsWith('file://') ? urlOrPath.slice('file://'.length) : urlOrPath;
}

/**
 * A tfjs `IOHandler` that saves/loads a LayersModel as `model.json` + `weights.bin` (the
 * TensorFlow.js layers format, as written by `tfjs-node`'s `file://` handler) at `modelJsonPath`.
 * Saving writes in place (wrap it in `writeDirAtomic` for atomicity; `saveClassifier` does).
 */
export function fileSystemHandler(modelJsonPath: string): tf.io.IOHandler {
  const jsonPath = toPath(modelJsonPath);
  const dir = path.dirname(jsonPath);
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      if (artifacts.modelTopology instanceof ArrayBuffer) {
        throw new ArgumentError(`${jsonPath}: can only save layers models (JSON topology), not a binary graph`);
      }
      await fs.mkdir(dir, { recursive: true });
      const weightData = artifacts.weightData ? tf.io.CompositeArrayBuffer.join(artifacts.weightData) : new ArrayBuffer(0);
      const modelJSON: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology as object,
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
        convertedBy: artifacts.convertedBy ?? null,
        weightsManifest: [{ paths: [`./${MODEL_WEIGHTS}`], weights: artifacts.weightSpecs ?? [] }],
        ...(artifacts.trainingConfig ? { trainingConfig: artifacts.trainingConfig } : {}),
        ...(artifacts.userDefinedMetadata ? { userDefinedMetadata: artifacts.userDefinedMetadata } : {}),
      };
      await fs.writeFile(path.join(dir, MODEL_WEIGHTS), new Uint8Array(weightData));
      await fs.writeFile(jsonPath, JSON.stringify(modelJSON));
      return {
        modelArtifactsInfo: {
          dateSaved: new Date(),
          modelTopologyType: 'JSON',
          modelTopologyBytes: JSON.stringify(modelJSON.modelTopology).length,
          weightSpecsBytes: JSON.stringify(artifacts.weightSpecs ?? []).length,
          weightDataBytes: weightData.byteLength,
        },
      };
    },
    async load(): Promise<tf.io.ModelArtifacts> {
      let text: string;
      try {
        text = await fs.readFile(jsonPath, 'utf8');
      } catch {
        throw new ManifestError(`${jsonPath}: no such file (expected a TensorFlow.js layers model folder)`);
      }
      let json: tf.io.ModelJSON;
      try {
        json = JSON.parse(text);
      } catch (e) {
        throw new ManifestError(`${jsonPath}: not valid JSON (${(e as Error).message})`);
      }
      if (json === null || typeof json !== 'object' || json.modelTopology == null) {
        throw new ManifestError(`${jsonPath}: field 'modelTopology' is missing; not a TensorFlow.js layers model`);
      }
      if (!Array.isArray(json.weightsManifest)) {
        throw new ManifestError(`${jsonPath}: field 'weightsManifest' is missing or not an array`);
      }
      return tf.io.getModelArtifactsForJSON(json, async (manifest) => {
        const specs: tf.io.WeightsManifestEntry[] = [];
        const buffers: ArrayBuffer[] = [];
        for (const group of manifest) {
          specs.push(...group.weights);
          for (const p of group.paths) {
            const f = path.join(dir, p);
            let b: Buffer;
            try {
              b = await fs.readFile(f);
            } catch {
              throw new ManifestError(`${f}: weight file listed in ${jsonPath} is missing`);
            }
            buffers.push(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
          }
        }
        const data = tf.io.CompositeArrayBuffer.join(buffers);
        const need = specs.reduce((s, w) => s + w.shape.reduce((a, b) => a * b, 1) * bytesPer(w.dtype), 0);
        if (data.byteLength !== need) {
          throw new ManifestError(
            `${path.join(dir, MODEL_WEIGHTS)}: holds ${data.byteLength} bytes, ${jsonPath} describes ${need} (truncated or mismatched weights)`,
          );
        }
        return [specs, data];
      });
    },
  };
}

function bytesPer(dtype: string): number {
  return dtype === 'float32' || dtype === 'int32' ? 4 : dtype === 'bool' || dtype === 'uint8' ? 1 : dtype === 'float16' ? 2 : 4;
}

let routersRegistered = false;
/**
 * Registers `file://` load and save routers with tfjs, so that in plain `@tensorflow/tfjs` on Node
 * (which has no `file://` handler; only `tfjs-node` ships one) `tf.loadLayersModel('file://DIR/model.json')`
 * and `model.save('file://DIR')` work. Idempotent; runs when this module is imported.
 */
export function registerFileRouters(): void {
  if (routersRegistered) return;
  routersRegistered = true;
  tf.io.registerLoadRouter((url) => {
    const u = Array.isArray(url) ? url[0] : url;
    // tfjs types routers as always returning a handler, but the registry skips null answers
    return (typeof u === 'string' && u.startsWith('file://') ? fileSystemHandler(u) : null) as tf.io.IOHandler;
  });
  tf.io.registerSaveRouter((url) => {
    const u = Array.isArray(url) ? url[0] : url;
    if (typeof u !== 'string' || !u.startsWith('file://')) return null as unknown as tf.io.IOHandler;
    const p = toPath(u);
    return fileSystemHandler(p.endsWith('.json') ? p : path.join(p, MODEL_JSON));
  });
}
registerFileRouters();

/**
 * Saves a trained classifier to folder `dir`: `model.json` + `weights.bin` (TensorFlow.js layers
 * format; loadable with `loadClassifier(dir)` or, once this package is imported,
 * `tf.loadLayersModel('file://DIR/model.json')`) and `metrics.json`.
 * Atomic: everything is written to a temporary sibling folder that then replaces `dir` in one
 * rename, so re-running into an existing folder never leaves a half-written model.
 */
export async function saveClassifier(dir: string, model: tf.LayersModel, metrics: ClassifierMetrics): Promise<void> {
  for (const k of ['testAccuracy', 'epochs', 'seconds'] as const) {
    if (typeof metrics[k] !== 'number' || !Number.isFinite(metrics[k])) {
      throw new ArgumentError(`saveClassifier: metrics.${k} must be a finite number, got ${String(metrics[k])}`);
    }
  }
  await writeDirAtomic(dir, async (tmp) => {
    await model.save(fileSystemHandler(path.join(tmp, MODEL_JSON)));
    await fs.writeFile(path.join(tmp, MODEL_METRICS), `${JSON.stringify(metrics, null, 2)}\n`);
  });
}

/**
 * Loads a classifier folder written by `saveClassifier` / `pcl train`. Returns the model (owned
 * by the caller: `model.dispose()`) and the parsed `metrics.json` (required). Throws `ManifestError` naming the
 * file when the folder, `model.json`, the weights or `metrics.json` is missing or malformed.
 */
/**
 * Loads only the model of a folder holding `model.json` + weights (a `pcl train` folder or a
 * detector bundle's `victim/` copy); `metrics.json` is not needed. Throws `ManifestError` naming the file.
 */
export async function loadModelOnly(dir: string): Promise<tf.LayersModel> {
  try {
    return await tf.loadLayersModel(fileSystemHandler(path.join(dir, MODEL_JSON)));
  } catch (e) {
    if (e instanceof ManifestError) throw e;
    throw new ManifestError(`${path.join(dir, MODEL_JSON)}: cannot build the model (${(e as Error).message})`);
  }
}

export async function loadClassifier(dir: string): Promise<{ model: tf.LayersModel; metrics: ClassifierMetrics }> {
  let st;
  try {
    st = await fs.stat(dir);
  } catch {
    throw new ManifestError(`${dir}: no such folder (expected a model folder written by 'pcl train')`);
  }
  if (!st.isDirectory()) throw new ManifestError(`${dir}: not a folder (expected a model folder written by 'pcl train')`);
  const mfile = path.join(dir, MODEL_METRICS);
  let metrics: ClassifierMetrics;
  try {
    metrics = JSON.parse(await fs.readFile(mfile, 'utf8'));
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    throw new ManifestError(missing ? `${mfile}: no such file` : `${mfile}: not valid JSON (${(e as Error).message})`);
  }
  return { model: await loadModelOnly(dir), metrics };
}
