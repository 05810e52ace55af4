import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ManifestError } from '../errors.js';
import { PACKAGE_VERSION } from '../version.js';
import type { Detector } from './types.js';

// moved to io/atomic.ts and version.ts; re-exported here so existing imports keep working
export { writeDirAtomic, writeFileAtomic } from '../io/atomic.js';
export { PACKAGE_VERSION };

export const BUNDLE_FORMAT = 'pcl-detector';
/**
 * Version 2 (pcl-defense 0.1.0, issue 10): a `PCLDetector` bundle's calibrated fusion uses tail
 * p-values (`attributes.fusion.tail`) and is the default decision rule of new bundles. Version 1
 * bundles still load: their stored `params.fusion` (then 'or' by default) and plain empirical
 * p-values are kept, so they decide exactly as before.
 */
export const BUNDLE_FORMAT_VERSION = 2;
/** Format versions this pcl-defense reads. */
export const READABLE_FORMAT_VERSIONS: readonly number[] = Object.freeze([1, 2]);

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

export function sha256(buf: Uint8Array): string {
  return createHash('sha256').update(buf).digest('hex');
}

/**
 * Writes `manifest.json` + `weights.bin` (tf.io weight encoding) into `dir` (which must exist;
 * use inside `writeDirAtomic`). The checksum of every extra binary file listed in `extraFiles`
 * (paths relative to dir, already written) is recorded too.
 */
export async function writeBundle(
  dir: string,
  meta: { name: string; params: Record<string, unknown>; attributes: Record<string, unknown>; children?: Record<string, string> },
  tensors: tf.NamedTensorMap,
  extraFiles: string[] = [],
): Promise<void> {
  const { data, specs } = await tf.io.encodeWeights(tensors);
  const bytes = new Uint8Array(data as ArrayBuffer);
  await fs.writeFile(path.join(dir, 'weights.bin'), bytes);
  const sums: Record<string, string> = { 'weights.bin': sha256(bytes) };
  for (const f of extraFiles) sums[f] = sha256(await fs.readFile(path.join(dir, f)));
  const manifest: BundleManifest = {
    format: BUNDLE_FORMAT,
    formatVersion: BUNDLE_FORMAT_VERSION,
    generatedBy: `pcl-defense ${PACKAGE_VERSION}`,
    name: meta.name,
    params: meta.params,
    attributes: meta.attributes,
    weightSpecs: specs,
    weightsPath: 'weights.bin',
    sha256: sums,
    ...(meta.children ? { children: meta.children } : {}),
  };
  await fs.writeFile(path.join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2));
}

/** Lists every file under `dir` (relative paths), for checksumming a saved model copy. */
export async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(path.join(dir, prefix), { withFileTypes: true })) {
    const rel = path.join(prefix, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(dir, rel)));
    else out.push(rel);
  }
  return out.sort();
}

/**
 * Reads and verifies a bundle: format name and version, expected detector `name` (if given),
 * and the sha256 of every file listed. Throws `ManifestError` naming the offending file or field.
 * Returns the manifest and the decoded tensors (owned by the caller).
 */
export async function readBundle(
  dir: string,
  expectedName?: string,
): Promise<{ manifest: BundleManifest; tensors: tf.NamedTensorMap }> {
  const mpath = path.join(dir, 'manifest.json');
  let text: string;
  try {
    text = await fs.readFile(mpath, 'utf8');
  } catch {
    throw new ManifestError(`${mpath}: no such file (is '${dir}' a detector bundle?)`);
  }
  let manifest: BundleManifest;
  try {
    manifest = JSON.parse(text);
  } catch (e) {
    throw new ManifestError(`${mpath}: not valid JSON (${(e as Error).message})`);
  }
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
  for (const [rel, want] of Object.entries(manifest.sha256 ?? {})) {
    const f = path.join(dir, rel);
    let buf: Buffer;
    try {
      buf = await fs.readFile(f);
    } catch {
      throw new ManifestError(`${f}: listed in the manifest but missing`);
    }
    if (sha256(buf) !== want) throw new ManifestError(`${f}: sha256 mismatch (file modified or corrupt)`);
  }
  const wbuf = await fs.readFile(path.join(dir, manifest.weightsPath));
  const ab = wbuf.buffer.slice(wbuf.byteOffset, wbuf.byteOffset + wbuf.byteLength) as ArrayBuffer;
  const tensors = tf.io.decodeWeights(ab, manifest.weightSpecs);
  return { manifest, tensors };
}

/** What a loader may need besides the bundle folder (e.g. the victim, to predict labels). */
export interface LoadContext {
  /** The victim classifier the detector guards (a `Classifier`). */
  victim?: unknown;
}
/** Loader signature each detector class registers. */
export type DetectorLoader = (dir: string, ctx?: LoadContext) => Promise<Detector>;
const registry = new Map<string, DetectorLoader>();

/** Registers a detector class under its manifest name (as tfjs `serialization.registerClass`). */
export function registerDetector(name: string, loader: DetectorLoader): void {
  registry.set(name, loader);
}

/** Loads any registered detector bundle, dispatching on `manifest.name`. */
export async function loadDetector(dir: string, ctx?: LoadContext): Promise<Detector> {
  const mpath = path.join(dir, 'manifest.json');
  let name: string;
  try {
    name = JSON.parse(await fs.readFile(mpath, 'utf8')).name;
  } catch {
    throw new ManifestError(`${mpath}: missing or not valid JSON (is '${dir}' a detector bundle?)`);
  }
  const loader = registry.get(name);
  if (!loader) {
    throw new ManifestError(`${mpath}: field 'name' is '${name}', which no registered detector handles (known: ${[...registry.keys()].join(', ')})`);
  }
  return loader(dir, ctx);
}
