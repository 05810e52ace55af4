import { ManifestError } from '../../errors.js';
import { sha256Hex } from './sha256.js';
import type { BundleStore } from './types.js';

/** Reads and parses JSON file `rel` of `store`; a missing or malformed file raises `ManifestError` naming it. */
export async function readStoreJson<T = unknown>(store: BundleStore, rel: string): Promise<T> {
  const bytes = await store.read(rel);
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as T;
  } catch (e) {
    throw new ManifestError(`${store.describe(rel)}: not valid JSON (${(e as Error).message})`);
  }
}

/**
 * Hex sha256 of every file, relative name → hex, for a manifest's `sha256` field (WebCrypto, so the
 * same in Node and browsers).
 */
export async function checksums(files: ReadonlyMap<string, Uint8Array>, names: Iterable<string> = files.keys()): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const n of names) {
    const b = files.get(n);
    if (!b) throw new ManifestError(`checksums: file '${n}' is not in the bundle`);
    out[n] = await sha256Hex(b);
  }
  return out;
}

/**
 * Reads every file listed in `sums` (relative name → hex sha256) from `store` and checks it.
 * A missing file, or one whose sha256 differs (modified, truncated, or from another bundle), raises
 * `ManifestError` naming that file. Resolves to the verified bytes by name.
 */
export async function readVerified(store: BundleStore, sums: Record<string, string>): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for (const [rel, want] of Object.entries(sums)) {
    let bytes: Uint8Array;
    try {
      bytes = await store.read(rel);
    } catch (e) {
      throw new ManifestError(`${store.describe(rel)}: listed in the manifest but missing or unreadable (${(e as Error).message})`);
    }
    const got = await sha256Hex(bytes);
    if (got !== want) {
      throw new ManifestError(`${store.describe(rel)}: sha256 mismatch (file modified, truncated or from another bundle; ${bytes.byteLength} bytes)`);
    }
    out.set(rel, bytes);
  }
  return out;
}
