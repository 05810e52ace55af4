import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import 'fake-indexeddb/auto';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { initEngine } from '../../../src/engine/backend.js';
import { ArgumentError, ManifestError } from '../../../src/errors.js';
import {
  bundleFromZip,
  CachedStore,
  checksums,
  deleteIndexedDbBundle,
  DownloadsStore,
  HttpStore,
  IndexedDbStore,
  listIndexedDbBundles,
  loadModelFromStore,
  MemoryStore,
  modelFiles,
  openBundle,
  SubStore,
  readStoreJson,
  readVerified,
  resolveStore,
  sha256Hex,
  subStore,
  zipBundle,
  type BundleStore,
} from '../../../src/io/store/index.js';
import { FileSystemStore, registerFileSystemStore } from '../../../src/io/store/node-fs.js';
import { makeTinyModel } from '../../fixtures/tiny-model.js';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** A three-file bundle with a sub-folder, and its manifest listing every sha256. */
async function sampleBundle(): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>([
    ['weights.bin', Uint8Array.from({ length: 64 }, (_, i) => i * 3)],
    ['victim/model.json', enc('{"modelTopology":{}}')],
    ['victim/weights.bin', Uint8Array.from({ length: 32 }, (_, i) => 255 - i)],
  ]);
  files.set('manifest.json', enc(JSON.stringify({ format: 'test', sha256: await checksums(files) })));
  return files;
}

async function expectRoundTrip(store: BundleStore, files: Map<string, Uint8Array>): Promise<void> {
  await store.writeAll(files);
  for (const [k, v] of files) expect(Array.from(await store.read(k))).toEqual(Array.from(v));
  const m = await readStoreJson<{ sha256: Record<string, string> }>(store, 'manifest.json');
  expect((await readVerified(store, m.sha256)).size).toBe(3);
}

let tmp: string;
beforeAll(async () => {
  await initEngine();
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'pcl-store-'));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('sha256Hex (WebCrypto)', () => {
  test('equals node:crypto on empty, short and 1 MB inputs', async () => {
    for (const n of [0, 3, 1 << 20]) {
      const b = Uint8Array.from({ length: n }, (_, i) => (i * 7919) & 255);
      expect(await sha256Hex(b)).toBe(createHash('sha256').update(b).digest('hex'));
    }
    // a view into a larger buffer hashes only its own bytes
    const big = Uint8Array.from({ length: 100 }, (_, i) => i);
    expect(await sha256Hex(big.subarray(10, 20))).toBe(createHash('sha256').update(big.subarray(10, 20)).digest('hex'));
  });
});

describe('MemoryStore, subStore, CachedStore', () => {
  test('round trip, sub-folder views write only their prefix, missing file named', async () => {
    const m = new MemoryStore();
    await expectRoundTrip(m, await sampleBundle());
    const v = subStore(m, 'victim');
    expect(dec(await v.read('model.json'))).toContain('modelTopology');
    await v.writeAll(new Map([['model.json', enc('{}')]]));
    expect(m.list()).toEqual(['manifest.json', 'victim/model.json', 'weights.bin']);
    await expect(m.read('victim/weights.bin')).rejects.toThrow(/memory:\/\/victim\/weights\.bin: no such file/);
    await expect(v.read('nope.bin')).rejects.toThrow(ManifestError);
    expect(() => subStore(m, '../x')).toThrow(/'\.\.' is not allowed/);
  });
  test('CachedStore reads each file once', async () => {
    let reads = 0;
    const inner = new MemoryStore(await sampleBundle());
    const counting: BundleStore = { location: 'c', describe: (r) => r, read: (r) => (reads++, inner.read(r)), writeAll: (f) => inner.writeAll(f) };
    const c = new CachedStore(counting);
    await Promise.all([c.read('weights.bin'), c.read('./weights.bin'), c.read('weights.bin')]);
    expect(reads).toBe(1);
  });
});

describe('readVerified refuses tampered, truncated and missing files, naming the file', () => {
  test.each([
    ['tampered', (f: Map<string, Uint8Array>) => f.get('victim/weights.bin')!.set([1], 5), /victim\/weights\.bin: sha256 mismatch/],
    ['truncated', (f: Map<string, Uint8Array>) => f.set('weights.bin', f.get('weights.bin')!.subarray(0, 60)), /weights\.bin: sha256 mismatch.*60 bytes/],
    ['missing', (f: Map<string, Uint8Array>) => f.delete('victim/model.json'), /victim\/model\.json: listed in the manifest but missing/],
  ])('%s', async (_name, spoil, msg) => {
    const files = await sampleBundle();
    const sums = JSON.parse(dec(files.get('manifest.json')!)).sha256;
    spoil(files);
    await expect(readVerified(new MemoryStore(files), sums)).rejects.toThrow(msg);
    await expect(readVerified(new MemoryStore(files), sums)).rejects.toThrow(ManifestError);
  });
});

describe('FileSystemStore (Node)', () => {
  test('path, file:// URL and DIR/manifest.json name the same bundle; writeAll replaces the folder', async () => {
    const dir = path.join(tmp, 'fs-bundle');
    const s = new FileSystemStore(dir);
    await expectRoundTrip(s, await sampleBundle());
    expect(await fs.readFile(path.join(dir, 'victim', 'weights.bin'))).toHaveLength(32);
    expect(dec(await new FileSystemStore(pathToFileURL(dir).href).read('victim/model.json'))).toContain('modelTopology');
    expect(dec(await new FileSystemStore(path.join(dir, 'manifest.json')).read('victim/model.json'))).toContain('modelTopology');
    // a second save replaces everything (no stale file from the first one)
    await s.writeAll(new Map([['manifest.json', enc('{}')]]));
    expect(await fs.readdir(dir)).toEqual(['manifest.json']);
    expect((await fs.readdir(tmp)).filter((f) => f.startsWith('fs-bundle'))).toEqual(['fs-bundle']);
    await expect(s.read('weights.bin')).rejects.toThrow(`${path.join(dir, 'weights.bin')}: no such file`);
  });
  test('a failed save leaves the previous bundle untouched', async () => {
    const dir = path.join(tmp, 'fs-atomic');
    const s = new FileSystemStore(dir);
    await s.writeAll(await sampleBundle());
    // a file and a folder of the same name cannot both be written: the save fails half-way
    await expect(s.writeAll(new Map([['a', enc('x')], ['a/b', enc('y')]]))).rejects.toThrow();
    expect((await fs.readdir(dir)).sort()).toEqual(['manifest.json', 'victim', 'weights.bin']);
    expect((await fs.readdir(tmp)).filter((f) => f.startsWith('fs-atomic'))).toEqual(['fs-atomic']);
  });
});

describe('HttpStore (fetch, against a local server)', () => {
  let server: http.Server;
  let base: string;
  const served = new Map<string, Uint8Array>();
  beforeAll(async () => {
    for (const [k, v] of await sampleBundle()) served.set(`/models/pcl/${k}`, v);
    server = http.createServer((req, res) => {
      const b = served.get(req.url ?? '');
      if (!b) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(b);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  test('reads https://…/manifest.json bundles relative to the folder; 404 names the URL; read-only', async () => {
    for (const url of [`${base}/models/pcl/manifest.json`, `${base}/models/pcl/`, `${base}/models/pcl`]) {
      const s = resolveStore(url);
      expect(s).toBeInstanceOf(HttpStore);
      const m = await readStoreJson<{ sha256: Record<string, string> }>(s, 'manifest.json');
      expect((await readVerified(s, m.sha256)).size).toBe(3);
    }
    const s = new HttpStore(`${base}/models/pcl/manifest.json`);
    await expect(s.read('victim/nope.bin')).rejects.toThrow(`${base}/models/pcl/victim/nope.bin: HTTP 404`);
    await expect(s.writeAll(new Map())).rejects.toThrow(ArgumentError);
    served.get('/models/pcl/weights.bin')![0] ^= 1;
    const m = await readStoreJson<{ sha256: Record<string, string> }>(s, 'manifest.json');
    await expect(readVerified(s, m.sha256)).rejects.toThrow(`${base}/models/pcl/weights.bin: sha256 mismatch`);
    served.get('/models/pcl/weights.bin')![0] ^= 1;
  });
});

describe('IndexedDbStore (fake-indexeddb here; the real one in test/browser)', () => {
  test('round trip, replace in one transaction, list and delete, unknown name refused', async () => {
    const s = resolveStore('indexeddb://demo-mnist');
    expect(s).toBeInstanceOf(IndexedDbStore);
    await expectRoundTrip(s, await sampleBundle());
    await s.writeAll(new Map([['manifest.json', enc('{"v":2}')]]));
    expect(dec(await s.read('manifest.json'))).toBe('{"v":2}');
    await expect(s.read('weights.bin')).rejects.toThrow('indexeddb://demo-mnist/weights.bin: no such file in the bundle');
    expect(await listIndexedDbBundles()).toContain('demo-mnist');
    expect(await deleteIndexedDbBundle('indexeddb://demo-mnist')).toBe(true);
    expect(await deleteIndexedDbBundle('demo-mnist')).toBe(false);
    await expect(new IndexedDbStore('demo-mnist').read('manifest.json')).rejects.toThrow(/indexeddb:\/\/demo-mnist: no bundle saved under this name/);
  });
});

describe('zip (downloads:// format)', () => {
  test('zipBundle → bundleFromZip keeps every file; not-a-zip named', async () => {
    const files = await sampleBundle();
    const back = bundleFromZip(zipBundle(files), 'mnist.pcl.zip');
    expect(back.list()).toEqual([...files.keys()].sort());
    const m = await readStoreJson<{ sha256: Record<string, string> }>(back, 'manifest.json');
    expect((await readVerified(back, m.sha256)).size).toBe(3);
    expect(() => bundleFromZip(enc('hello'), 'x.zip')).toThrow(/x\.zip: not a zip archive/);
  });
  test('downloads:// is save-only and needs a page', async () => {
    const d = resolveStore('downloads://mnist');
    expect(d).toBeInstanceOf(DownloadsStore);
    expect((d as DownloadsStore).fileName).toBe('mnist.pcl.zip');
    await expect(d.read('manifest.json')).rejects.toThrow(/save-only/);
    await expect(d.writeAll(new Map())).rejects.toThrow(/needs a browser page/);
  });
});

describe('resolveStore', () => {
  test('paths need the Node entry until the file-system router is registered; bad input named', async () => {
    // a fresh copy of the router module: the core alone, as a browser bundle has it (test/setup-node.ts
    // registered the file-system router in the shared one)
    vi.resetModules();
    const core = await import('../../../src/io/store/router.js');
    expect(() => core.resolveStore(path.join(tmp, 'x'))).toThrow(/file path; paths and file:\/\/ URLs need the Node entry/);
    expect(() => core.resolveStore('ftp://host/x')).toThrow(/no store handles 'ftp:\/\/host\/x'/);
    expect(() => core.resolveStore('', 'PCLDetector.load')).toThrow(/PCLDetector\.load: expected a path, a URL/);
    expect(core.resolveStore('indexeddb://x').location).toBe('indexeddb://x');
    registerFileSystemStore();
    expect(resolveStore(path.join(tmp, 'x'))).toBeInstanceOf(FileSystemStore);
    expect(resolveStore(pathToFileURL(tmp).href)).toBeInstanceOf(FileSystemStore);
    expect(resolveStore('https://example.org/m/manifest.json')).toBeInstanceOf(HttpStore);
    const m = new MemoryStore();
    expect(resolveStore(m)).toBe(m);
    // openBundle: one cache per bundle load, none around what is in memory already
    expect(openBundle(m)).toBe(m);
    expect(openBundle(subStore(m, 'victim'))).toBeInstanceOf(SubStore);
    expect(openBundle(new HttpStore('https://example.org/m/'))).toBeInstanceOf(CachedStore);
    expect(openBundle('https://example.org/m/manifest.json')).toBeInstanceOf(CachedStore);
    const c = openBundle(path.join(tmp, 'x'));
    expect(openBundle(c)).toBe(c);
  });
});

describe('layers model through a store', () => {
  test('modelFiles → loadModelFromStore predicts the same; truncated weights named', async () => {
    const model = makeTinyModel();
    const x = tf.randomUniform([5, 4, 4, 1], 0, 1, 'float32', 3);
    try {
      const m = new MemoryStore(await modelFiles(model, 'victim'));
      expect(m.list()).toEqual(['victim/model.json', 'victim/weights.bin']);
      const back = await loadModelFromStore(m, 'victim');
      const a = model.predict(x) as tf.Tensor;
      const b = back.predict(x) as tf.Tensor;
      expect(Array.from(await b.data())).toEqual(Array.from(await a.data()));
      tf.dispose([a, b]);
      back.dispose();
      m.files.set('victim/weights.bin', m.files.get('victim/weights.bin')!.subarray(0, 40));
      await expect(loadModelFromStore(m, 'victim')).rejects.toThrow(/memory:\/\/victim\/weights\.bin: holds 40 bytes.*truncated/);
    } finally {
      model.dispose();
      x.dispose();
    }
  });
});
