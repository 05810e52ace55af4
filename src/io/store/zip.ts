import { unzipSync, zipSync } from 'fflate';
import { ManifestError } from '../../errors.js';
import { MemoryStore } from './memory.js';
import { normalizeRel } from './types.js';

/**
 * Packs a bundle (relative name → bytes) into one .zip file (stored, not deflated: the weights are
 * float32 and barely compress). What `downloads://NAME` saves, and what {@link bundleFromZip} reads back.
 */
export function zipBundle(files: ReadonlyMap<string, Uint8Array>): Uint8Array {
  const tree: Record<string, Uint8Array> = {};
  for (const [k, v] of files) tree[normalizeRel(k)] = v;
  return zipSync(tree, { level: 0 });
}

/**
 * Reads a bundle packed by {@link zipBundle} (e.g. a file the user dropped on a page) into a
 * {@link MemoryStore}. `name` is used in messages. Throws `ManifestError` if it is not a zip.
 */
export function bundleFromZip(bytes: Uint8Array, name = 'bundle.zip'): MemoryStore {
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes);
  } catch (e) {
    throw new ManifestError(`${name}: not a zip archive of a bundle (${(e as Error).message})`);
  }
  const out = new Map<string, Uint8Array>();
  for (const [k, v] of Object.entries(files)) if (!k.endsWith('/')) out.set(k, v);
  return new MemoryStore(out, `zip://${name}`);
}
