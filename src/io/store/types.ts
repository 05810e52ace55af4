/**
 * A place a detector bundle lives: a folder on disk, a web server, a browser's IndexedDB, the
 * browser's downloads. Follows TensorFlow.js's IO conventions (`tf.io.IOHandler` and the URL-scheme
 * routers `file://`, `https://`, `indexeddb://`, `downloads://`), widened from one model to a
 * bundle of many files addressed by relative, '/'-separated names (`manifest.json`, `victim/model.json`).
 *
 * Every method that fails on a file throws an error whose message names the file ({@link BundleStore.describe}).
 */
export interface BundleStore {
  /** Where the bundle lives, for messages (a path, a URL, `indexeddb://NAME`). */
  readonly location: string;
  /** Full name of file `rel` for messages (path, URL, or `indexeddb://NAME/rel`). */
  describe(rel: string): string;
  /**
   * Bytes of file `rel`. Throws `ManifestError` naming the file when it is missing or unreadable.
   * The caller may keep the returned array; the store does not reuse it.
   */
  read(rel: string): Promise<Uint8Array>;
  /**
   * Replaces the whole bundle with `files` (relative name → bytes) in one step: either every file is
   * written or the previous bundle (if any) is left as it was. Read-only stores throw `ArgumentError`.
   */
  writeAll(files: ReadonlyMap<string, Uint8Array>): Promise<void>;
}

/** Normalises a relative bundle file name: '/'-separated, no leading './' or '/', no '..' segment. */
export function normalizeRel(rel: string): string {
  const parts: string[] = [];
  for (const p of rel.replace(/\\/g, '/').split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') throw new RangeError(`bundle file name '${rel}': '..' is not allowed (names are relative to the bundle)`);
    parts.push(p);
  }
  if (parts.length === 0) throw new RangeError(`bundle file name '${rel}': empty`);
  return parts.join('/');
}

/** Joins bundle-relative name parts with '/' (the platform-neutral `path.join` of bundle names). */
export function joinRel(...parts: string[]): string {
  return normalizeRel(parts.filter((p) => p !== '').join('/'));
}
