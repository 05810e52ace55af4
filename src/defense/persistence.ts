import * as tf from '@tensorflow/tfjs';
import { ManifestError } from '../errors.js';
import { isBundleDraft, MemoryStore, type BundleDraft } from '../io/store/memory.js';
import { openBundle, resolveStore, type BundleLocation } from '../io/store/router.js';
import type { BundleStore } from '../io/store/types.js';
import { checksums, readStoreJson, readVerified } from '../io/store/verify.js';
import { PACKAGE_VERSION } from '../version.js';
import type { Detector } from './types.js';

export { PACKAGE_VERSION };
export type { BundleDraft, BundleLocation, BundleStore };

export const BUNDLE_FORMAT = 'pcl-detector';
/**
 * Version 2 (pcl-defense 0.1.0, issue 10): a `PCLDetector` bundle's calibrated fusion uses tail
 * p-values (`attributes.fusion.tail`) and is the default decision rule of new bundles. Version 1
 * bundles still load: their stored `params.fusion` (then 'or' by default) and plain empirical
 * p-values are kept, so they decide exactly as before.
 *
 * Version 3 (pcl-defense 0.2.0): the calibrated fusion has a second calibration stage against the
 * held-out evidence (`attributes.fusion.recalibrated`, `recalibrateEvidence`), rebuilt on load from
 * the stored held-out scores. The version is bumped so that an older pcl-defense refuses such a
 * bundle instead of silently fusing with one stage against a two-stage threshold. Version 1 and 2
 * bundles load and decide exactly as before.
 */
export const BUNDLE_FORMAT_VERSION = 3;
/** Format versions this pcl-defense reads. */
export const READABLE_FORMAT_VERSIONS: readonly number[] = Object.freeze([1, 2, 3]);

export interface BundleManifest {
  format: string;
  formatVersion: number;
  generatedBy: string;
  /** Registry name of the detector class. */
  name: string;
  params: Record<string, unknown>;
  attributes: Record<string, unknown>;
  weightSpecs: tf.io.WeightsManifestEntry[];
  weightsPath: string;
  /** sha256 of every binary file in the bundle, relative path → hex. */
  sha256: Record<string, string>;
  /** Sub-bundles (relative folder names) e.g. {"victim": "victim/"}. */
  children?: Record<string, string>;
}

/**
 * Saves a bundle: `fill(draft)` serialises it into an in-memory draft, which then goes to `where`
 * (a folder path or `file://` URL in Node, `indexeddb://NAME` or `downloads://NAME` in a browser, or
 * any `BundleStore`) in one atomic `writeAll`: a failure leaves a previous bundle there untouched.
 * When `where` is itself a draft (a sub-folder of a bundle being saved), `fill` writes into it.
 */
export async function saveBundle(where: BundleLocation, fill: (draft: BundleDraft) => Promise<void>): Promise<void> {
  if (isBundleDraft(where)) {
    where.clear();
    await fill(where);
    return;
  }
  const store = resolveStore(where, 'save');
  const draft = new MemoryStore(undefined, store.location);
  await fill(draft);
  await store.writeAll(draft.files);
}

/**
 * Writes `manifest.json` + `weights.bin` (tf.io weight encoding) into draft `dir` (use inside
 * `saveBundle`). The sha256 of every extra file listed in `extraFiles` (names relative to `dir`,
 * already in the draft) is recorded too.
 */
export async function writeBundle(
  dir: BundleDraft,
  meta: { name: string; params: Record<string, unknown>; attributes: Record<string, unknown>; children?: Record<string, string> },
  tensors: tf.NamedTensorMap,
  extraFiles: string[] = [],
): Promise<void> {
  const { data, specs } = await tf.io.encodeWeights(tensors);
  const files = new Map<string, Uint8Array>([['weights.bin', new Uint8Array(data as ArrayBuffer)]]);
  for (const f of extraFiles) files.set(f, await dir.read(f));
  dir.put('weights.bin', files.get('weights.bin')!);
  const manifest: BundleManifest = {
    format: BUNDLE_FORMAT,
    formatVersion: BUNDLE_FORMAT_VERSION,
    generatedBy: `pcl-defense ${PACKAGE_VERSION}`,
    name: meta.name,
    params: meta.params,
    attributes: meta.attributes,
    weightSpecs: specs,
    weightsPath: 'weights.bin',
    sha256: await checksums(files),
    ...(meta.children ? { children: meta.children } : {}),
  };
  dir.put('manifest.json', new TextEncoder().encode(JSON.stringify(manifest, null, 2)));
}

/** Lists every file of draft `dir` (relative names, sorted), for checksumming a saved model copy. */
export function listFiles(dir: BundleDraft): string[] {
  return dir.list();
}

async function readManifest(store: BundleStore): Promise<BundleManifest> {
  try {
    return await readStoreJson<BundleManifest>(store, 'manifest.json');
  } catch (e) {
    if (/not valid JSON/.test((e as Error).message)) throw e;
    // the store's own reason (no such file, HTTP 404, no such IndexedDB bundle) names the file
    throw new ManifestError(`${(e as Error).message} (is '${store.location}' a detector bundle?)`);
  }
}

/**
 * Reads and verifies a bundle from `where` (path, URL or store): format name and version, expected
 * detector `name` (if given), and the sha256 of every file listed (WebCrypto, in Node and browsers).
 * Throws `ManifestError` naming the offending file or field. Returns the manifest, the decoded
 * tensors (owned by the caller) and the store (open sub-bundles with `subStore(store, rel)`).
 */
export async function readBundle(
  where: BundleLocation,
  expectedName?: string,
): Promise<{ manifest: BundleManifest; tensors: tf.NamedTensorMap; store: BundleStore }> {
  const store = openBundle(where);
  const mpath = store.describe('manifest.json');
  const manifest = await readManifest(store);
  if (manifest.format !== BUNDLE_FORMAT) {
    throw new ManifestError(`${mpath}: field 'format' is '${manifest.format}', expected '${BUNDLE_FORMAT}'`);
  }
  if (!READABLE_FORMAT_VERSIONS.includes(manifest.formatVersion)) {
    throw new ManifestError(
      `${mpath}: field 'formatVersion' is ${manifest.formatVersion}, this pcl-defense reads versions ${READABLE_FORMAT_VERSIONS.join(' and ')}` +
        (manifest.formatVersion > BUNDLE_FORMAT_VERSION ? ' (the bundle was written by a newer pcl-defense; upgrade)' : ''),
    );
  }
  if (expectedName !== undefined && manifest.name !== expectedName) {
    throw new ManifestError(`${mpath}: field 'name' is '${manifest.name}', expected '${expectedName}'`);
  }
  const files = await readVerified(store, manifest.sha256 ?? {});
  const w = files.get(manifest.weightsPath) ?? (await store.read(manifest.weightsPath));
  const ab = w.buffer.slice(w.byteOffset, w.byteOffset + w.byteLength) as ArrayBuffer;
  const need = manifest.weightSpecs.reduce((s, spec) => s + spec.shape.reduce((a, b) => a * b, 1) * (spec.dtype === 'bool' ? 1 : 4), 0);
  if (ab.byteLength < need) {
    throw new ManifestError(`${store.describe(manifest.weightsPath)}: holds ${ab.byteLength} bytes, the manifest describes ${need} (truncated)`);
  }
  const tensors = tf.io.decodeWeights(ab, manifest.weightSpecs);
  return { manifest, tensors, store };
}

/** What a loader may need besides the bundle folder (e.g. the victim, to predict labels). */
export interface LoadContext {
  /** The victim classifier the detector guards (a `Classifier`). */
  victim?: unknown;
}
/** Loader signature each detector class registers: `dir` is the bundle's (sub-)folder as a store. */
export type DetectorLoader = (dir: BundleStore, ctx?: LoadContext) => Promise<Detector>;
const registry = new Map<string, DetectorLoader>();

/** Registers a detector class under its manifest name (as tfjs `serialization.registerClass`). */
export function registerDetector(name: string, loader: DetectorLoader): void {
  registry.set(name, loader);
}

/** Loads any registered detector bundle (path, URL or store), dispatching on `manifest.name`. */
export async function loadDetector(where: BundleLocation, ctx?: LoadContext): Promise<Detector> {
  const store = openBundle(where);
  const mpath = store.describe('manifest.json');
  let name: string;
  try {
    name = (await readManifest(store)).name;
  } catch (e) {
    throw new ManifestError(`${mpath}: missing or not valid JSON (${(e as Error).message})`);
  }
  const loader = registry.get(name);
  if (!loader) {
    throw new ManifestError(`${mpath}: field 'name' is '${name}', which no registered detector handles (known: ${[...registry.keys()].join(', ')})`);
  }
  return loader(store, ctx);
}
