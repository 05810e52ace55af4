/**
 * PCLDetector.save / load through every store Node can reach (issue 14, must-be-true 2): a folder,
 * memory, a zip (what downloads:// saves), http:// via fetch (a local server) and indexeddb://
 * (fake-indexeddb here; the real one in Chromium: test/integration/demo.e2e.test.ts). The same scores
 * come back everywhere; a tampered, truncated or foreign file is refused naming it, over HTTP too.
 */
import { promises as fs } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import 'fake-indexeddb/auto';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { PCLDetector } from '../../../src/defense/pcl.js';
import { initEngine } from '../../../src/engine/backend.js';
import { ManifestError } from '../../../src/errors.js';
import { bundleFromZip, MemoryStore, zipBundle } from '../../../src/io/store/index.js';
import { blobs, tinyVictim } from '../../defense/latent/fixtures.js';

let det: PCLDetector;
let x: tf.Tensor4D;
let want: Float32Array[];
let tmp: string;
let files: Map<string, Uint8Array>;
let server: http.Server;
let base: string;
const served = new Map<string, Uint8Array>();

beforeAll(async () => {
  await initEngine();
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'pcl-bundle-store-'));
  const victim = await tinyVictim(0);
  const train = blobs(80, 1);
  det = new PCLDetector(victim, { checkpoints: ['h2'], inputDefender: false, latent: { epochs: 1 }, calibrationFraction: 0.2 });
  await det.fit(train.x, train.y, { seed: 0 });
  tf.dispose([train.x, train.y]);
  x = blobs(5, 9).x;
  want = (await det.scoreAll(x)).scores;
  const mem = new MemoryStore();
  await det.save(mem);
  files = mem.files;
  for (const [k, v] of files) served.set(`/b/pcl/${k}`, v);
  server = http.createServer((req, res) => {
    const b = served.get(req.url ?? '');
    if (b) res.writeHead(200).end(b);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 300_000);

afterAll(async () => {
  det?.dispose();
  x?.dispose();
  await new Promise<void>((r) => server?.close(() => r()));
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

async function expectSameScores(loaded: PCLDetector): Promise<void> {
  try {
    const got = (await loaded.scoreAll(x)).scores;
    expect(got.map((s) => Array.from(s))).toEqual(want.map((s) => Array.from(s)));
    expect(loaded.labels).toEqual(det.labels);
    expect(loaded.fusionModel?.heldoutSorted.length).toBe(det.fusionModel?.heldoutSorted.length);
  } finally {
    loaded.dispose();
  }
}

describe('PCLDetector bundles through stores', () => {
  test('a folder, memory and a zip hold the same files; each loads to the same scores', async () => {
    const dir = path.join(tmp, 'folder');
    await det.save(dir);
    expect(new Set(await listTree(dir))).toEqual(new Set(files.keys()));
    expect(files.has('victim/model.json') && files.has('defenders/0/manifest.json')).toBe(true);
    await expectSameScores(await PCLDetector.load(dir));
    await expectSameScores(await PCLDetector.load(`file://${dir}`));
    await expectSameScores(await PCLDetector.load(new MemoryStore(files)));
    await expectSameScores(await PCLDetector.load(bundleFromZip(zipBundle(files), 'pcl.zip')));
  });

  test('http:// via fetch: loads by manifest URL; a tampered or truncated file is refused naming its URL', async () => {
    await expectSameScores(await PCLDetector.load(`${base}/b/pcl/manifest.json`));
    const rel = 'defenders/0/weights.bin';
    const good = served.get(`/b/pcl/${rel}`)!;
    const bad = new Uint8Array(good);
    bad[7] ^= 1;
    served.set(`/b/pcl/${rel}`, bad);
    await expect(PCLDetector.load(`${base}/b/pcl/manifest.json`)).rejects.toThrow(`${base}/b/pcl/${rel}: sha256 mismatch`);
    served.set(`/b/pcl/${rel}`, good.subarray(0, good.length - 4));
    await expect(PCLDetector.load(`${base}/b/pcl/`)).rejects.toThrow(`${base}/b/pcl/${rel}: sha256 mismatch`);
    served.set(`/b/pcl/${rel}`, good);
    served.delete(`/b/pcl/victim/weights.bin`);
    await expect(PCLDetector.load(`${base}/b/pcl/`)).rejects.toThrow(/victim\/weights\.bin: listed in the manifest but missing.*HTTP 404/);
    served.set(`/b/pcl/victim/weights.bin`, files.get('victim/weights.bin')!);
    await expect(PCLDetector.load(`${base}/nothing/manifest.json`)).rejects.toThrow(/\/nothing\/manifest\.json: HTTP 404.*\(is 'http:\/\/127\.0\.0\.1:\d+\/nothing\/' a detector bundle\?\)/);
  });

  test('a file from another bundle (here: another victim copy) is refused; so is a detector of another kind', async () => {
    const mixed = new Map(files);
    mixed.set('victim/weights.bin', files.get('defenders/0/victim/weights.bin')!.map((b, i) => (i === 0 ? b ^ 1 : b)));
    await expect(PCLDetector.load(new MemoryStore(mixed))).rejects.toThrow(/memory:\/\/victim\/weights\.bin: sha256 mismatch/);
    const sub = new MemoryStore(new Map([...files].filter(([k]) => k.startsWith('defenders/0/')).map(([k, v]) => [k.slice('defenders/0/'.length), v])));
    await expect(PCLDetector.load(sub)).rejects.toThrow(/field 'name' is 'LatentDefender', expected 'PCLDetector'/);
    await expect(PCLDetector.load(sub)).rejects.toThrow(ManifestError);
  });

  test('indexeddb:// save and load (fake-indexeddb in Node)', async () => {
    await det.save('indexeddb://pcl-test');
    await expectSameScores(await PCLDetector.load('indexeddb://pcl-test'));
    await expect(PCLDetector.load('indexeddb://absent')).rejects.toThrow(/indexeddb:\/\/absent: no bundle saved under this name/);
  });

  test('a failed save leaves the previous bundle in place (atomic)', async () => {
    const dir = path.join(tmp, 'atomic');
    await det.save(dir);
    const before = await fs.readFile(path.join(dir, 'manifest.json'), 'utf8');
    const broken = Object.create(det) as PCLDetector;
    Object.defineProperty(broken, 'defenders', { value: [{ ...det.defenders[0], label: 'x', save: async () => Promise.reject(new Error('disk full')) }] });
    await expect(broken.save(dir)).rejects.toThrow(/disk full/);
    expect(await fs.readFile(path.join(dir, 'manifest.json'), 'utf8')).toBe(before);
    expect((await fs.readdir(tmp)).filter((f) => f.startsWith('atomic'))).toEqual(['atomic']);
  });
});

async function listTree(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(path.join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listTree(dir, rel)));
    else out.push(rel);
  }
  return out;
}
