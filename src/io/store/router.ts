import { ArgumentError } from '../../errors.js';
import { DownloadsStore } from './downloads.js';
import { CachedStore, MemoryStore, SubStore } from './memory.js';
import { HttpStore } from './http.js';
import { IndexedDbStore } from './indexeddb.js';
import type { BundleStore } from './types.js';

/** Where a bundle is: a URL or path string, or a store object (the bundle's `IOHandler`). */
export type BundleLocation = string | BundleStore;

/** Answers a store for `url`, or null when the router does not handle it (as tfjs's IO routers). */
export type StoreRouter = (url: string) => BundleStore | null;

const routers: StoreRouter[] = [];

/**
 * Registers a router for bundle URLs (as `tf.io.registerLoadRouter`). The Node entry registers the
 * file-system router (plain paths and `file://`); the core knows `http(s)://`, `indexeddb://` and
 * `downloads://`. Later registrations are asked first.
 */
export function registerStoreRouter(router: StoreRouter): void {
  routers.unshift(router);
}

/** Whether `x` is a {@link BundleStore} (duck-typed: a `read` and a `writeAll` function). */
export function isBundleStore(x: unknown): x is BundleStore {
  return typeof x === 'object' && x !== null && typeof (x as BundleStore).read === 'function' && typeof (x as BundleStore).writeAll === 'function';
}

function builtIn(url: string): BundleStore | null {
  if (/^https?:\/\//i.test(url)) return new HttpStore(url);
  if (url.startsWith('indexeddb://')) return new IndexedDbStore(url.slice('indexeddb://'.length));
  if (url.startsWith('downloads://')) return new DownloadsStore(url.slice('downloads://'.length));
  return null;
}

/**
 * The store for `where`: a store object is returned as is; a string goes to the registered routers,
 * then to the built-in schemes. A path or `file://` URL needs the Node entry (`pcl-defense/node`).
 */
export function resolveStore(where: BundleLocation, what = 'bundle'): BundleStore {
  if (isBundleStore(where)) return where;
  if (typeof where !== 'string' || where === '') {
    throw new ArgumentError(`${what}: expected a path, a URL (https://…/manifest.json, indexeddb://NAME, downloads://NAME) or a BundleStore, got ${where === '' ? "''" : typeof where}`);
  }
  for (const r of routers) {
    const s = r(where);
    if (s) return s;
  }
  const s = builtIn(where);
  if (s) return s;
  throw new ArgumentError(
    /^[a-z][a-z0-9+.-]*:\/\//i.test(where)
      ? `${what}: no store handles '${where}' (known schemes: https://, http://, indexeddb://, downloads://${routers.length ? ', and registered routers' : ''})`
      : `${what}: '${where}' is a file path; paths and file:// URLs need the Node entry (import from 'pcl-defense/node', which Node picks by default)`,
  );
}

/**
 * The store to read a bundle from: a URL or path resolved, and any store not in memory, wrapped in
 * a {@link CachedStore}, so the nested loaders of one bundle fetch each file once. In-memory and
 * cached stores (and sub-folders of them, e.g. a bundle's `defenders/0/` being loaded) as they are.
 */
export function openBundle(where: BundleLocation, what = 'bundle'): BundleStore {
  if (!isBundleStore(where)) return new CachedStore(resolveStore(where, what));
  // in memory or already cached (or a folder of such a store): as is; any other store gets a cache
  let p: BundleStore = where;
  while (p instanceof SubStore) p = p.parent;
  return p instanceof MemoryStore || p instanceof CachedStore ? where : new CachedStore(where);
}
