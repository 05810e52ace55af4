import * as tf from '@tensorflow/tfjs';
import { ArgumentError, ManifestError } from '../../errors.js';
import { joinRel, type BundleStore } from './types.js';

/** File names of a model inside a bundle folder (the TensorFlow.js layers format). */
export const STORE_MODEL_JSON = 'model.json';
export const STORE_MODEL_WEIGHTS = 'weights.bin';

function bytesPer(dtype: string): number {
  return dtype === 'bool' || dtype === 'uint8' ? 1 : dtype === 'float16' ? 2 : 4;
}

function asArrayBuffer(b: Uint8Array): ArrayBuffer {
  return (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer
    ? b.buffer
    : b.slice().buffer) as ArrayBuffer;
}

/**
 * Serialises a layers model to `{model.json, weights.bin}` (the TensorFlow.js layers format, the
 * same files `tf.io.http`/`file://` read), keyed by `prefix/model.json` and `prefix/weights.bin`.
 */
export async function modelFiles(model: tf.LayersModel, prefix = ''): Promise<Map<string, Uint8Array>> {
  let out: Map<string, Uint8Array> | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      if (a.modelTopology instanceof ArrayBuffer) throw new ArgumentError('modelFiles: can only save layers models (JSON topology)');
      const weightData = a.weightData ? tf.io.CompositeArrayBuffer.join(a.weightData) : new ArrayBuffer(0);
      const json: tf.io.ModelJSON = {
        modelTopology: a.modelTopology as object,
        format: a.format ?? 'layers-model',
        generatedBy: a.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
        convertedBy: a.convertedBy ?? null,
        weightsManifest: [{ paths: [`./${STORE_MODEL_WEIGHTS}`], weights: a.weightSpecs ?? [] }],
        ...(a.trainingConfig ? { trainingConfig: a.trainingConfig } : {}),
        ...(a.userDefinedMetadata ? { userDefinedMetadata: a.userDefinedMetadata } : {}),
      };
      out = new Map([
        [prefix ? joinRel(prefix, STORE_MODEL_JSON) : STORE_MODEL_JSON, new TextEncoder().encode(JSON.stringify(json))],
        [prefix ? joinRel(prefix, STORE_MODEL_WEIGHTS) : STORE_MODEL_WEIGHTS, new Uint8Array(weightData)],
      ]);
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: weightData.byteLength } };
    }),
  );
  return out!;
}

/**
 * A `tf.io.IOHandler` loading a layers model from `model.json` + its weight files in `store`
 * (relative to the folder `dir` of the store). Missing, malformed or truncated files raise a
 * `ManifestError` naming the file.
 */
export function storeModelHandler(store: BundleStore, dir = ''): tf.io.IOHandler {
  const rel = (f: string) => (dir ? joinRel(dir, f) : joinRel(f));
  const jsonName = store.describe(rel(STORE_MODEL_JSON));
  return {
    async load(): Promise<tf.io.ModelArtifacts> {
      const bytes = await store.read(rel(STORE_MODEL_JSON));
      let json: tf.io.ModelJSON;
      try {
        json = JSON.parse(new TextDecoder().decode(bytes));
      } catch (e) {
        throw new ManifestError(`${jsonName}: not valid JSON (${(e as Error).message})`);
      }
      if (json === null || typeof json !== 'object' || json.modelTopology == null) {
        throw new ManifestError(`${jsonName}: field 'modelTopology' is missing; not a TensorFlow.js layers model`);
      }
      if (!Array.isArray(json.weightsManifest)) throw new ManifestError(`${jsonName}: field 'weightsManifest' is missing or not an array`);
      return tf.io.getModelArtifactsForJSON(json, async (manifest) => {
        const specs: tf.io.WeightsManifestEntry[] = [];
        const buffers: ArrayBuffer[] = [];
        for (const group of manifest) {
          specs.push(...group.weights);
          for (const p of group.paths) buffers.push(asArrayBuffer(await store.read(rel(p))));
        }
        const data = tf.io.CompositeArrayBuffer.join(buffers);
        const need = specs.reduce((s, w) => s + w.shape.reduce((a, b) => a * b, 1) * bytesPer(w.dtype), 0);
        if (data.byteLength !== need) {
          const wname = manifest.flatMap((g) => g.paths).map((p) => store.describe(rel(p))).join(', ');
          throw new ManifestError(`${wname}: holds ${data.byteLength} bytes, ${jsonName} describes ${need} (truncated or mismatched weights)`);
        }
        return [specs, data];
      });
    },
  };
}

/** Loads a layers model from folder `dir` of `store` (see {@link storeModelHandler}). Caller owns the model. */
export async function loadModelFromStore(store: BundleStore, dir = ''): Promise<tf.LayersModel> {
  try {
    return await tf.loadLayersModel(storeModelHandler(store, dir));
  } catch (e) {
    if (e instanceof ManifestError) throw e;
    throw new ManifestError(`${store.describe(dir ? joinRel(dir, STORE_MODEL_JSON) : STORE_MODEL_JSON)}: cannot build the model (${(e as Error).message})`);
  }
}
