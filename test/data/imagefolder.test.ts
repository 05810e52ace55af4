import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { initEngine, tf } from '../../src/engine/backend.js';
import { DataFormatError } from '../../src/errors.js';
import { decodeImage, disposeDataset, listImageFolder, loadDataset, parseDatasetSpec } from '../../src/data/index.js';

/** The developers' ImageNet-10 copy; CI has it too (shared/ beside the checkout), so its absence fails the test. */
const IMAGENET10_DIR = path.resolve('../shared/data/imagenet10');

let dir: string;
beforeAll(async () => {
  await initEngine();
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pcl-imagefolder-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** RGB bytes of a w×h image whose pixel (y, x) is (seed + 10y + x, 2·seed + y, 255 − seed − x) mod 256. */
function pattern(w: number, h: number, seed: number): Uint8Array {
  const d = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = 3 * (y * w + x);
      d[o] = (seed + 10 * y + x) % 256;
      d[o + 1] = (2 * seed + y) % 256;
      d[o + 2] = (((255 - seed - x) % 256) + 256) % 256;
    }
  }
  return d;
}

function rgba(rgb: Uint8Array): Buffer {
  const n = rgb.length / 3;
  const out = Buffer.alloc(4 * n);
  for (let i = 0; i < n; i++) {
    out[4 * i] = rgb[3 * i];
    out[4 * i + 1] = rgb[3 * i + 1];
    out[4 * i + 2] = rgb[3 * i + 2];
    out[4 * i + 3] = 255;
  }
  return out;
}

async function writePng(file: string, w: number, h: number, seed: number): Promise<void> {
  const png = new PNG({ width: w, height: h });
  png.data = rgba(pattern(w, h, seed));
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, PNG.sync.write(png));
}

/** A flat-colour JPEG (flat, so the lossy round trip is within a grey level or two). */
async function writeJpeg(file: string, w: number, h: number, rgb: [number, number, number]): Promise<void> {
  const data = Buffer.alloc(w * h * 4);
  for (let i = 0; i < w * h; i++) data.set([...rgb, 255], 4 * i);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, jpeg.encode({ data, width: w, height: h }, 95).data);
}

/**
 * A tiny image folder: classes 'zebra' and 'ant' (sorted: ant = 0, zebra = 1), 4×3 images.
 * train: ant/{a.png (seed 1), b.jpg (flat 200,10,30)}, zebra/{c.PNG (seed 7)} plus a README.txt that is ignored;
 * `testName`: ant/d.png (seed 3), zebra/e.jpeg (flat 0,128,255).
 */
async function writeTinyFolder(sub: string, testName = 'val'): Promise<string> {
  const d = path.join(dir, sub);
  await writePng(path.join(d, 'train/ant/a.png'), 4, 3, 1);
  await writeJpeg(path.join(d, 'train/ant/b.jpg'), 4, 3, [200, 10, 30]);
  await writePng(path.join(d, 'train/zebra/c.PNG'), 4, 3, 7);
  await fs.writeFile(path.join(d, 'train/zebra/README.txt'), 'not an image');
  await writePng(path.join(d, `${testName}/ant/d.png`), 4, 3, 3);
  await writeJpeg(path.join(d, `${testName}/zebra/e.jpeg`), 4, 3, [0, 128, 255]);
  return d;
}

const scaled = (rgb: Uint8Array) => Array.from(rgb, (v) => v / 255);

describe('imagefolder:DIR', () => {
  test('parses as its own spec kind', () => {
    expect(parseDatasetSpec('imagefolder:some/dir')).toMatchObject({ kind: 'imagefolder', dir: 'some/dir' });
  });

  test('classes in sorted folder order, files by name, PNG exact, JPEG close, other files ignored', async () => {
    const d = await writeTinyFolder('basic');
    const before = tf.memory().numTensors;
    const train = await loadDataset(`imagefolder:${d}`, { split: 'train' });
    const test = await loadDataset(`imagefolder:${d}`, { split: 'test' });
    try {
      expect(train.name).toBe('imagefolder');
      expect(train.classNames).toEqual(['ant', 'zebra']);
      expect(train.numClasses).toBe(2);
      expect(train.x.shape).toEqual([3, 3, 4, 3]);
      expect(Array.from(train.y.dataSync())).toEqual([0, 0, 1]);
      expect(Array.from(train.indices)).toEqual([0, 1, 2]);
      const px = train.x.arraySync() as number[][][][];
      const flat = (img: number[][][]) => img.flat(2);
      expect(flat(px[0])).toEqual(scaled(pattern(4, 3, 1)).map((v) => Math.fround(v)));
      expect(flat(px[2])).toEqual(scaled(pattern(4, 3, 7)).map((v) => Math.fround(v)));
      for (let p = 0; p < 12; p++) {
        expect(Math.abs(px[1].flat()[p][0] * 255 - 200)).toBeLessThanOrEqual(3);
        expect(Math.abs(px[1].flat()[p][1] * 255 - 10)).toBeLessThanOrEqual(3);
        expect(Math.abs(px[1].flat()[p][2] * 255 - 30)).toBeLessThanOrEqual(3);
      }
      expect(test.split).toBe('test');
      expect(Array.from(test.y.dataSync())).toEqual([0, 1]);
      expect(flat((test.x.arraySync() as number[][][][])[0])).toEqual(scaled(pattern(4, 3, 3)).map((v) => Math.fround(v)));
      const [mn, mx] = tf.tidy(() => [test.x.min().dataSync()[0], test.x.max().dataSync()[0]]);
      expect(mn).toBeGreaterThanOrEqual(0);
      expect(mx).toBeLessThanOrEqual(1);
    } finally {
      disposeDataset(train);
      disposeDataset(test);
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  test('test/ is the test split when there is no val/, and is preferred when both exist', async () => {
    const d = await writeTinyFolder('testdir', 'test');
    const a = await loadDataset(`imagefolder:${d}`, { split: 'test' });
    expect(a.x.shape[0]).toBe(2);
    disposeDataset(a);
    // add a val/ with one image per class: test/ still wins (train/val/test layouts hold out test/)
    await writePng(path.join(d, 'val/ant/v.png'), 4, 3, 9);
    await writePng(path.join(d, 'val/zebra/w.png'), 4, 3, 9);
    await writePng(path.join(d, 'val/zebra/x.png'), 4, 3, 9);
    const b = await loadDataset(`imagefolder:${d}`, { split: 'test' });
    expect(b.x.shape[0]).toBe(2);
    disposeDataset(b);
    expect((await listImageFolder(d, 'test')).splitDir).toBe(path.join(d, 'test'));
  });

  test('limit + seed: a reproducible subset equal to the full split at `indices`, only those decoded', async () => {
    const d = path.join(dir, 'many');
    for (let i = 0; i < 12; i++) await writePng(path.join(d, `train/c${i % 3}/img${String(i).padStart(2, '0')}.png`), 4, 3, i);
    for (let i = 0; i < 3; i++) await writePng(path.join(d, `val/c${i}/v.png`), 4, 3, 50 + i);
    // a damaged file the subset does not pick is never decoded: find one the seed-5 subset of 5 skips
    const full = await loadDataset(`imagefolder:${d}`, { split: 'train' });
    const a = await loadDataset(`imagefolder:${d}`, { split: 'train', limit: 5, seed: 5 });
    const b = await loadDataset(`imagefolder:${d}`, { split: 'train', limit: 5, seed: 5 });
    try {
      expect(a.x.shape).toEqual([5, 3, 4, 3]);
      expect(Array.from(a.indices)).toEqual(Array.from(b.indices));
      const idx = tf.tensor1d(a.indices, 'int32');
      const diff = tf.tidy(() => tf.sub(tf.gather(full.x, idx), a.x).abs().max().dataSync()[0]);
      const labs = tf.tidy(() => Array.from(tf.gather(full.y, idx).dataSync()));
      idx.dispose();
      expect(diff).toBe(0);
      expect(Array.from(a.y.dataSync())).toEqual(labs);
      const files = (await listImageFolder(d, 'train')).files;
      const skipped = files.findIndex((_, i) => !a.indices.includes(i));
      await fs.writeFile(files[skipped].file, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16]));
      const c = await loadDataset(`imagefolder:${d}`, { split: 'train', limit: 5, seed: 5 });
      expect(Array.from(c.indices)).toEqual(Array.from(a.indices));
      disposeDataset(c);
      await expect(loadDataset(`imagefolder:${d}`, { split: 'train' })).rejects.toThrow(files[skipped].file);
    } finally {
      [full, a, b].forEach(disposeDataset);
    }
  });

  test('bad files and folders: clear errors naming the file or folder', async () => {
    // truncated JPEG
    const t = await writeTinyFolder('truncated');
    const good = await fs.readFile(path.join(t, 'train/ant/b.jpg'));
    await fs.writeFile(path.join(t, 'train/ant/b.jpg'), good.subarray(0, Math.floor(good.length / 2)));
    const err = await loadDataset(`imagefolder:${t}`, { split: 'train' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataFormatError);
    expect((err as Error).message).toContain(path.join(t, 'train/ant/b.jpg'));
    expect((err as Error).message).toMatch(/not a readable JPEG, truncated or damaged/);
    // truncated PNG
    const tp = await writeTinyFolder('truncated-png');
    const pngBytes = await fs.readFile(path.join(tp, 'train/zebra/c.PNG'));
    await fs.writeFile(path.join(tp, 'train/zebra/c.PNG'), pngBytes.subarray(0, pngBytes.length - 20));
    await expect(loadDataset(`imagefolder:${tp}`, { split: 'train' })).rejects.toThrow(
      new RegExp(`${path.join(tp, 'train/zebra/c.PNG').replace(/[.]/g, '\\.')}: not a readable PNG`),
    );
    // not an image at all, and an empty file
    const ni = await writeTinyFolder('notimage');
    await fs.writeFile(path.join(ni, 'val/zebra/e.jpeg'), 'hello');
    await expect(loadDataset(`imagefolder:${ni}`, { split: 'test' })).rejects.toThrow(/e\.jpeg: neither a JPEG nor a PNG/);
    await fs.writeFile(path.join(ni, 'val/zebra/e.jpeg'), '');
    await expect(loadDataset(`imagefolder:${ni}`, { split: 'test' })).rejects.toThrow(/e\.jpeg: empty file/);
    // an image of another size
    const ws = await writeTinyFolder('wrongsize');
    await writePng(path.join(ws, 'train/zebra/c.PNG'), 5, 3, 7);
    await expect(loadDataset(`imagefolder:${ws}`, { split: 'train' })).rejects.toThrow(
      /c\.PNG: image is 5×3, expected 4×3 \(the size of .*a\.png\)/,
    );
    // an empty class folder
    const ec = await writeTinyFolder('emptyclass');
    await fs.mkdir(path.join(ec, 'train/moth'));
    await fs.writeFile(path.join(ec, 'train/moth/notes.txt'), 'x');
    await expect(loadDataset(`imagefolder:${ec}`, { split: 'train' })).rejects.toThrow(
      new RegExp(`${path.join(ec, 'train/moth')}: empty class folder`),
    );
    // a class of train/ missing from val/, and a val/ class that train/ lacks
    const mc = await writeTinyFolder('missingclass');
    await fs.rm(path.join(mc, 'val/zebra'), { recursive: true });
    await expect(loadDataset(`imagefolder:${mc}`, { split: 'test' })).rejects.toThrow(/val\/zebra: class folder missing/);
    await writePng(path.join(mc, 'val/zebra/e.png'), 4, 3, 1);
    await writePng(path.join(mc, 'val/wasp/f.png'), 4, 3, 1);
    await expect(loadDataset(`imagefolder:${mc}`, { split: 'test' })).rejects.toThrow(/val\/wasp: class folder 'wasp' is not one of the 2 classes \(ant, zebra\)/);
    // no split folder, no folder at all
    const ns = path.join(dir, 'nosplit');
    await writePng(path.join(ns, 'train/a/x.png'), 4, 3, 1);
    await expect(loadDataset(`imagefolder:${ns}`, { split: 'test' })).rejects.toThrow(/nosplit: no test split folder \(expected .*nosplit\/test or .*nosplit\/val/);
    await expect(loadDataset(`imagefolder:${path.join(dir, 'absent')}`, { split: 'train' })).rejects.toThrow(/absent: no such folder/);
    const nc = path.join(dir, 'noclasses');
    await fs.mkdir(path.join(nc, 'train'), { recursive: true });
    await expect(loadDataset(`imagefolder:${nc}`, { split: 'train' })).rejects.toThrow(/noclasses\/train: holds no class sub-folders/);
  });

  test('decodeImage: grey JPEG and grey/alpha PNG become RGB', () => {
    const grey = new PNG({ width: 2, height: 1, colorType: 0, inputColorType: 0, bitDepth: 8 } as never);
    grey.data = Buffer.from([10, 10, 10, 255, 250, 250, 250, 255]);
    const g = decodeImage(PNG.sync.write(grey, { colorType: 0 }), 'g.png');
    expect(Array.from(g.data)).toEqual([10, 10, 10, 250, 250, 250]);
    const withAlpha = new PNG({ width: 1, height: 1 });
    withAlpha.data = Buffer.from([1, 2, 3, 0]);
    expect(Array.from(decodeImage(PNG.sync.write(withAlpha), 'a.png').data)).toEqual([1, 2, 3]);
    expect(() => decodeImage(new Uint8Array([1, 2, 3]), 'x.jpg')).toThrow(DataFormatError);
  });
});

describe('imagenet10:DIR (image folder + classes.txt)', () => {
  async function writeNet(sub: string, size = 64): Promise<string> {
    const d = path.join(dir, sub);
    // folder names sort as n01, n02, but classes.txt puts n02 first: the file wins
    await writePng(path.join(d, 'train/n02/p.png'), size, size, 1);
    await writePng(path.join(d, 'train/n01/q.png'), size, size, 2);
    await writePng(path.join(d, 'train/n01/r.png'), size, size, 3);
    await writePng(path.join(d, 'val/n02/s.png'), size, size, 4);
    await writePng(path.join(d, 'val/n01/t.png'), size, size, 5);
    await fs.writeFile(path.join(d, 'classes.txt'), 'n02\tgolf ball\nn01\ttench\n');
    return d;
  }

  test('label order and names come from classes.txt', async () => {
    const d = await writeNet('net');
    const ds = await loadDataset(`imagenet10:${d}`, { split: 'train' });
    const te = await loadDataset(`imagenet10:${d}`, { split: 'test' });
    try {
      expect(ds.name).toBe('imagenet10');
      expect(ds.classNames).toEqual(['golf ball', 'tench']);
      expect(Array.from(ds.y.dataSync())).toEqual([0, 1, 1]);
      expect(ds.x.shape).toEqual([3, 64, 64, 3]);
      expect(Array.from(te.y.dataSync())).toEqual([0, 1]);
      // the same folder read as a plain image folder uses sorted order instead
      const plain = await loadDataset(`imagefolder:${d}`, { split: 'train' });
      expect(plain.classNames).toEqual(['n01', 'n02']);
      expect(Array.from(plain.y.dataSync())).toEqual([0, 0, 1]);
      disposeDataset(plain);
    } finally {
      disposeDataset(ds);
      disposeDataset(te);
    }
  });

  test('errors: not 64×64, a folder missing from classes.txt, no classes.txt, bad classes.txt', async () => {
    const small = await writeNet('net-small', 8);
    await expect(loadDataset(`imagenet10:${small}`, { split: 'train' })).rejects.toThrow(/train\/n02\/p\.png: image is 8×8, expected 64×64/);
    const extra = await writeNet('net-extra');
    await writePng(path.join(extra, 'train/n03/u.png'), 64, 64, 1);
    await expect(loadDataset(`imagenet10:${extra}`, { split: 'train' })).rejects.toThrow(/train\/n03: class folder 'n03' is not one of the 2 classes \(n02, n01\)/);
    const noFile = await writeNet('net-nofile');
    await fs.rm(path.join(noFile, 'classes.txt'));
    await expect(loadDataset(`imagenet10:${noFile}`, { split: 'train' })).rejects.toThrow(/net-nofile\/classes\.txt: no such file/);
    await fs.writeFile(path.join(noFile, 'classes.txt'), 'n01\ta\nn01\tb\n');
    await expect(loadDataset(`imagenet10:${noFile}`, { split: 'train' })).rejects.toThrow(/classes\.txt: line 2 repeats class folder 'n01'/);
  });

  test('the shared ImageNet-10 copy: counts per class and split as its README states', async () => {
    // shared/ sits beside every checkout, CI included: a missing copy is a failure, not a skip
    expect(existsSync(path.join(IMAGENET10_DIR, 'classes.txt')), `${IMAGENET10_DIR}/classes.txt must exist`).toBe(true);
    const train = [963, 955, 993, 858, 941, 956, 961, 931, 951, 960];
    const val = [387, 395, 357, 386, 409, 394, 389, 419, 399, 390];
    const count = (labels: ArrayLike<number>) => Array.from({ length: 10 }, (_, k) => Array.from(labels).filter((l) => l === k).length);
    const lt = await listImageFolder(IMAGENET10_DIR, 'train', undefined);
    expect(lt.files.length).toBe(9469);
    // the whole val split decoded (3,925 images), a seeded 300 of train
    const ds = await loadDataset(`imagenet10:${IMAGENET10_DIR}`, { split: 'test' });
    const tr = await loadDataset(`imagenet10:${IMAGENET10_DIR}`, { split: 'train', limit: 300, seed: 1 });
    try {
      expect(ds.classNames).toEqual([
        'tench', 'English springer', 'cassette player', 'chain saw', 'church', 'French horn', 'garbage truck', 'gas pump', 'golf ball', 'parachute',
      ]);
      expect(ds.x.shape).toEqual([3925, 64, 64, 3]);
      expect(count(ds.y.dataSync())).toEqual(val);
      expect(count(lt.files.map((f) => f.label))).toEqual(train);
      expect(tr.x.shape).toEqual([300, 64, 64, 3]);
      const [mn, mx, mean] = tf.tidy(() => [ds.x.min().dataSync()[0], ds.x.max().dataSync()[0], ds.x.mean().dataSync()[0]]);
      expect(mn).toBeGreaterThanOrEqual(0);
      expect(mx).toBeLessThanOrEqual(1);
      // natural photos: a mid-grey mean, far from a blank or saturated decode
      expect(mean).toBeGreaterThan(0.3);
      expect(mean).toBeLessThan(0.6);
    } finally {
      disposeDataset(ds);
      disposeDataset(tr);
    }
  }, 120_000);
});
