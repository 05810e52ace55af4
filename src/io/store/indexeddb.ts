import { ArgumentError, ManifestError } from '../../errors.js';
import { normalizeRel, type BundleStore } from './types.js';

/** Name of the IndexedDB database holding bundles, one record per bundle (as tfjs's `tensorflowjs` database). */
export const PCL_IDB_DATABASE = 'pcl-defense';
const OBJECT_STORE = 'bundles';

/** The record kept per bundle: every file of it, in one value, so a save is one transaction. */
interface BundleRecord {
  name: string;
  savedAt: string;
  files: Record<string, Uint8Array>;
}

function idbFactory(what: string): IDBFactory {
  const f = (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  if (!f) throw new ArgumentError(`${what}: IndexedDB is not available here (indexeddb:// works in browsers only)`);
  return f;
}

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

async function openDb(what: string): Promise<IDBDatabase> {
  const open = idbFactory(what).open(PCL_IDB_DATABASE, 1);
  open.onupgradeneeded = () => {
    if (!open.result.objectStoreNames.contains(OBJECT_STORE)) open.result.createObjectStore(OBJECT_STORE, { keyPath: 'name' });
  };
  return request(open);
}

async function withStore<T>(what: string, mode: IDBTransactionMode, fn: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await openDb(what);
  try {
    const tx = db.transaction(OBJECT_STORE, mode);
    const done = new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error ?? new Error('transaction aborted'));
    });
    const result = await request(fn(tx.objectStore(OBJECT_STORE)));
    await done;
    return result;
  } finally {
    db.close();
  }
}

/**
 * A bundle in the browser's IndexedDB under `indexeddb://NAME` (as tfjs's `indexeddb://` models).
 * The whole bundle is one record, so `writeAll` is atomic (one transaction) and a read sees one
 * consistent version.
 */
export class IndexedDbStore implements BundleStore {
  readonly location: string;
  private record?: Promise<BundleRecord>;
  constructor(readonly name: string) {
    if (!name) throw new ArgumentError(`IndexedDbStore: expected a bundle name (indexeddb://NAME), got ''`);
    this.location = `indexeddb://${name}`;
  }
  describe(rel: string): string {
    return `${this.location}/${rel}`;
  }
  private load(): Promise<BundleRecord> {
    this.record ??= withStore(this.location, 'readonly', (s) => s.get(this.name) as IDBRequest<BundleRecord | undefined>).then((r) => {
      if (!r) throw new ManifestError(`${this.location}: no bundle saved under this name (saved: see listIndexedDbBundles())`);
      return r;
    });
    this.record.catch(() => (this.record = undefined));
    return this.record;
  }
  async read(rel: string): Promise<Uint8Array> {
    const r = await this.load();
    const b = r.files[normalizeRel(rel)];
    if (!b) throw new ManifestError(`${this.describe(rel)}: no such file in the bundle`);
    return new Uint8Array(b);
  }
  async writeAll(files: ReadonlyMap<string, Uint8Array>): Promise<void> {
    const record: BundleRecord = { name: this.name, savedAt: new Date().toISOString(), files: {} };
    for (const [k, v] of files) record.files[normalizeRel(k)] = v;
    await withStore(this.location, 'readwrite', (s) => s.put(record));
    this.record = undefined;
  }
}

/** Names of the bundles saved in this browser's IndexedDB (as `tf.io.listModels`). */
export async function listIndexedDbBundles(): Promise<string[]> {
  const keys = await withStore('listIndexedDbBundles', 'readonly', (s) => s.getAllKeys());
  return keys.map(String).sort();
}

/** Deletes bundle `indexeddb://NAME` (or NAME); resolves to whether it existed. */
export async function deleteIndexedDbBundle(nameOrUrl: string): Promise<boolean> {
  const name = nameOrUrl.replace(/^indexeddb:\/\//, '');
  const had = await withStore('deleteIndexedDbBundle', 'readonly', (s) => s.count(name));
  if (had) await withStore('deleteIndexedDbBundle', 'readwrite', (s) => s.delete(name));
  return had > 0;
}
