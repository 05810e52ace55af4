/**
 * Bundle storage, platform-neutral part (no Node built-in): stores for `https://`, `indexeddb://`,
 * `downloads://` and memory, the URL router, WebCrypto sha256 and the layers-model handler over a
 * store. The file-system store is Node-only (`./node-fs.js`, via the Node entry).
 */
export { normalizeRel, joinRel, type BundleStore } from './types.js';
export { MemoryStore, SubStore, CachedStore, subStore, isBundleDraft, type BundleDraft } from './memory.js';
export { HttpStore, type HttpStoreOptions } from './http.js';
export { IndexedDbStore, listIndexedDbBundles, deleteIndexedDbBundle, PCL_IDB_DATABASE } from './indexeddb.js';
export { DownloadsStore } from './downloads.js';
export { zipBundle, bundleFromZip } from './zip.js';
export { resolveStore, openBundle, registerStoreRouter, isBundleStore, type BundleLocation, type StoreRouter } from './router.js';
export { sha256Hex } from './sha256.js';
export { readStoreJson, readVerified, checksums } from './verify.js';
export { modelFiles, storeModelHandler, loadModelFromStore, STORE_MODEL_JSON, STORE_MODEL_WEIGHTS } from './model-handler.js';
