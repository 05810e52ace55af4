import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { initEngine, tf } from '../../src/engine/backend.js';
import { ArgumentError, DataFormatError } from '../../src/errors.js';
import { writeIdx } from '../../src/io/idx.js';
import { disposeDataset, loadDataset, parseDatasetSpec, subsetIndices } from '../../src/data/index.js';

const CIFAR_DIR = path.resolve('../shared/data/cifar10');
const HAVE_CIFAR = existsSync(path.join(CIFAR_DIR, 'test_batch.bin'));

let dir: string;
beforeAll(async () => {
  await initEngine();
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pcl-data-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** Writes a tiny IDX dataset: n images of 2×3 whose pixel k of image i is (i*6+k) % 256. */
async function writeTinyIdx(sub: string, n: number, labels: number[], gz = false): Promise<string> {
  const d = path.join(dir, sub);
  const ext = gz ? '.gz' : '';
  for (const stem of ['train', 't10k']) {
    const px = new Uint8Array(n * 6).map((_, k) => k % 256);
    await writeIdx(path.join(d, `${stem}-images-idx3-ubyte${ext}`), px, [n, 2, 3]);
    await writeIdx(path.join(d, `${stem}-labels-idx1-ubyte${ext}`), Uint8Array.from(labels), [labels.length]);
  }
  return d;
}

/** Writes CIFAR-style record files: record r has label labels[r] and every red byte = r, green = 100, blue = 200. */
async function writeRecords(file: string, size: number, labels: number[]): Promise<void> {
  const plane = size * size;
  const rec = 1 + 3 * plane;
  const b = Buffer.alloc(rec * labels.length);
  labels.forEach((lab, r) => {
    b[r * rec] = lab;
    b.fill(r, r * rec + 1, r * rec + 1 + plane);
    b.fill(100, r * rec + 1 + plane, r * rec + 1 + 2 * plane);
    b.fill(200, r * rec + 1 + 2 * plane, (r + 1) * rec);
  });
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, b);
}

describe('parseDatasetSpec', () => {
  test('accepts the five spec forms', () => {
    expect(parseDatasetSpec('mnist')).toEqual({ kind: 'mnist', spec: 'mnist' });
    expect(parseDatasetSpec('idx:/a/b')).toMatchObject({ kind: 'idx', dir: '/a/b' });
    expect(parseDatasetSpec('cifar10:../c:d')).toMatchObject({ kind: 'cifar10', dir: '../c:d' });
    expect(parseDatasetSpec('imagenet10:x')).toMatchObject({ kind: 'imagenet10', dir: 'x' });
    expect(parseDatasetSpec('imagefolder:a/b')).toMatchObject({ kind: 'imagefolder', dir: 'a/b' });
  });
  test('rejects unknown specs with the accepted forms listed', () => {
    expect(() => parseDatasetSpec('svhn:/x')).toThrow(ArgumentError);
    expect(() => parseDatasetSpec('svhn:/x')).toThrow(/unknown spec 'svhn:\/x'; expected 'mnist', 'idx:DIR'/);
    expect(() => parseDatasetSpec('cifar10')).toThrow(/needs a folder/);
    expect(() => parseDatasetSpec('cifar10:')).toThrow(/needs a folder/);
  });
});

describe('subsetIndices', () => {
  test('seeded, sorted, distinct, reproducible', () => {
    const a = subsetIndices(1000, 50, 3);
    expect(a.length).toBe(50);
    expect(new Set(a).size).toBe(50);
    expect(Array.from(a)).toEqual(Array.from(a).sort((p, q) => p - q));
    expect(Array.from(subsetIndices(1000, 50, 3))).toEqual(Array.from(a));
    expect(Array.from(subsetIndices(1000, 50, 4))).not.toEqual(Array.from(a));
    expect(subsetIndices(10, 20, 0).length).toBe(10);
  });
});

describe('mnist', () => {
  test('test split: shapes, range, labels, known first digits', async () => {
    const ds = await loadDataset('mnist', { split: 'test' });
    try {
      expect(ds.x.shape).toEqual([10000, 28, 28, 1]);
      expect(ds.x.dtype).toBe('float32');
      expect(ds.y.dtype).toBe('int32');
      expect(ds.numClasses).toBe(10);
      expect(ds.classNames).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
      expect(Array.from(ds.y.dataSync().subarray(0, 5))).toEqual([7, 2, 1, 0, 4]);
      const [mn, mx] = tf.tidy(() => [ds.x.min().dataSync()[0], ds.x.max().dataSync()[0]]);
      expect(mn).toBe(0);
      expect(mx).toBe(1);
    } finally {
      disposeDataset(ds);
    }
  });

  test('limit + seed gives a reproducible subset of the full split', async () => {
    const before = tf.memory().numTensors;
    const a = await loadDataset('mnist', { split: 'train', limit: 100, seed: 7 });
    const b = await loadDataset('mnist', { split: 'train', limit: 100, seed: 7 });
    const full = await loadDataset('mnist', { split: 'test' });
    const c = await loadDataset('mnist', { split: 'test', limit: 20, seed: 1 });
    try {
      expect(a.x.shape).toEqual([100, 28, 28, 1]);
      expect(Array.from(a.indices)).toEqual(Array.from(b.indices));
      expect(Array.from(a.y.dataSync())).toEqual(Array.from(b.y.dataSync()));
      // the subset rows are exactly the full split's rows at `indices`
      const idx = tf.tensor1d(c.indices, 'int32');
      const diff = tf.tidy(() => tf.sub(tf.gather(full.x, idx), c.x).abs().max().dataSync()[0]);
      const labs = tf.tidy(() => Array.from(tf.gather(full.y, idx).dataSync()));
      idx.dispose();
      expect(diff).toBe(0);
      expect(Array.from(c.y.dataSync())).toEqual(labs);
    } finally {
      [a, b, full, c].forEach(disposeDataset);
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('idx:DIR', () => {
  test('plain and .gz folders load identically; pixels scaled by 1/255', async () => {
    const p = await writeTinyIdx('plain', 4, [0, 1, 2, 1]);
    const g = await writeTinyIdx('gz', 4, [0, 1, 2, 1], true);
    const a = await loadDataset(`idx:${p}`, { split: 'train' });
    const b = await loadDataset(`idx:${g}`, { split: 'test' });
    try {
      expect(a.x.shape).toEqual([4, 2, 3, 1]);
      expect(a.numClasses).toBe(3);
      expect(a.name).toBe('idx');
      expect(Array.from(a.x.dataSync().subarray(6, 9))).toEqual([6 / 255, 7 / 255, 8 / 255].map(Math.fround));
      expect(Array.from(b.x.dataSync())).toEqual(Array.from(a.x.dataSync()));
      expect(Array.from(b.y.dataSync())).toEqual([0, 1, 2, 1]);
    } finally {
      disposeDataset(a);
      disposeDataset(b);
    }
  });

  test('rank-4 float32 images are taken as [0,1] NHWC', async () => {
    const d = path.join(dir, 'float');
    const px = Float32Array.from({ length: 2 * 2 * 2 * 3 }, (_, k) => k / 23);
    for (const stem of ['train', 't10k']) {
      await writeIdx(path.join(d, `${stem}-images-idx3-ubyte`), px, [2, 2, 2, 3]);
      await writeIdx(path.join(d, `${stem}-labels-idx1-ubyte`), Uint8Array.from([1, 0]), [2]);
    }
    const ds = await loadDataset(`idx:${d}`, { split: 'test' });
    try {
      expect(ds.x.shape).toEqual([2, 2, 2, 3]);
      expect(Array.from(ds.x.dataSync())).toEqual(Array.from(px));
    } finally {
      disposeDataset(ds);
    }
  });

  test('missing file', async () => {
    const d = path.join(dir, 'empty');
    await fs.mkdir(d, { recursive: true });
    await expect(loadDataset(`idx:${d}`)).rejects.toThrow(DataFormatError);
    await expect(loadDataset(`idx:${d}`)).rejects.toThrow(/empty\/train-images-idx3-ubyte: no such file \(nor train-images-idx3-ubyte\.gz\)/);
  });

  test('wrong magic number', async () => {
    const d = await writeTinyIdx('magic', 2, [0, 1]);
    await fs.writeFile(path.join(d, 'train-images-idx3-ubyte'), Buffer.from('GIF89a-not-an-idx-file'));
    await expect(loadDataset(`idx:${d}`)).rejects.toThrow(/magic\/train-images-idx3-ubyte: wrong magic number/);
  });

  test('truncated file', async () => {
    const d = await writeTinyIdx('trunc', 3, [0, 1, 1]);
    const f = path.join(d, 't10k-images-idx3-ubyte');
    const b = await fs.readFile(f);
    await fs.writeFile(f, b.subarray(0, b.length - 5));
    await expect(loadDataset(`idx:${d}`, { split: 'test' })).rejects.toThrow(
      /trunc\/t10k-images-idx3-ubyte: truncated IDX file/,
    );
  });

  test('image/label count mismatch', async () => {
    const d = await writeTinyIdx('count', 3, [0, 1, 1]);
    await writeIdx(path.join(d, 'train-labels-idx1-ubyte'), Uint8Array.from([0, 1]), [2]);
    await expect(loadDataset(`idx:${d}`)).rejects.toThrow(/count\/train-labels-idx1-ubyte: has 2 labels but .* has 3 images/);
  });

  test('labels out of range', async () => {
    const d = await writeTinyIdx('range', 3, [0, 1, 1]);
    await writeIdx(path.join(d, 't10k-labels-idx1-ubyte'), Uint8Array.from([0, 1, 5]), [3]);
    await expect(loadDataset(`idx:${d}`, { split: 'test' })).rejects.toThrow(
      /range\/t10k-labels-idx1-ubyte: label 5 at index 2 is out of range \[0, 2\)/,
    );
    const e = await writeTinyIdx('neg', 2, [0, 1]);
    await writeIdx(path.join(e, 'train-labels-idx1-ubyte'), Int8Array.from([0, -1]), [2]);
    await expect(loadDataset(`idx:${e}`)).rejects.toThrow(/neg\/train-labels-idx1-ubyte: label -1 at index 1 is out of range/);
  });

  test('bad arguments', async () => {
    await expect(loadDataset('mnist', { limit: 0 })).rejects.toThrow(/limit: expected a positive integer, got 0/);
    await expect(loadDataset('mnist', { split: 'val' as 'test' })).rejects.toThrow(/split: expected 'train' or 'test'/);
    await expect(loadDataset('nope')).rejects.toThrow(ArgumentError);
  });
});

describe('cifar10:DIR and imagenet10:DIR (synthetic record files)', () => {
  test('CHW planes become HWC; files concatenate in order; class names from batches.meta.txt', async () => {
    const d = path.join(dir, 'cifar');
    for (let i = 1; i <= 5; i++) await writeRecords(path.join(d, `data_batch_${i}.bin`), 32, [i, i + 1]);
    await writeRecords(path.join(d, 'test_batch.bin'), 32, [9, 0, 3]);
    await fs.writeFile(path.join(d, 'batches.meta.txt'), 'a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n\n');
    const tr = await loadDataset(`cifar10:${d}`, { split: 'train' });
    const te = await loadDataset(`cifar10:${d}`, { split: 'test', limit: 2, seed: 0 });
    try {
      expect(tr.x.shape).toEqual([10, 32, 32, 3]);
      expect(Array.from(tr.y.dataSync())).toEqual([1, 2, 2, 3, 3, 4, 4, 5, 5, 6]);
      const px = tr.x.dataSync();
      const per = 32 * 32 * 3;
      // image 3 (second record of batch 2): red = 1 (its record index in the file), green 100, blue 200
      expect(Array.from(px.subarray(3 * per, 3 * per + 6))).toEqual([1, 100, 200, 1, 100, 200].map((v) => Math.fround(v / 255)));
      expect(tr.classNames).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j']);
      expect(te.x.shape).toEqual([2, 32, 32, 3]);
      expect(te.indices.length).toBe(2);
    } finally {
      disposeDataset(tr);
      disposeDataset(te);
    }
  });

  test('imagenet10 is 64×64 from train.bin/test.bin', async () => {
    const d = path.join(dir, 'inet');
    await writeRecords(path.join(d, 'test.bin'), 64, [4, 7]);
    const ds = await loadDataset(`imagenet10:${d}`, { split: 'test' });
    try {
      expect(ds.x.shape).toEqual([2, 64, 64, 3]);
      expect(Array.from(ds.y.dataSync())).toEqual([4, 7]);
      expect(ds.numClasses).toBe(10);
    } finally {
      disposeDataset(ds);
    }
  });

  test('missing batch file', async () => {
    const d = path.join(dir, 'cifar-missing');
    await writeRecords(path.join(d, 'data_batch_1.bin'), 32, [0]);
    await expect(loadDataset(`cifar10:${d}`)).rejects.toThrow(/cifar-missing\/data_batch_2\.bin: no such file/);
  });

  test('truncated record file', async () => {
    const d = path.join(dir, 'cifar-trunc');
    await writeRecords(path.join(d, 'test_batch.bin'), 32, [0, 1]);
    const f = path.join(d, 'test_batch.bin');
    await fs.truncate(f, 3073 * 2 - 10);
    await expect(loadDataset(`cifar10:${d}`, { split: 'test' })).rejects.toThrow(
      /test_batch\.bin: truncated or malformed: 6136 bytes is not a whole number of 3073-byte records/,
    );
  });

  test('label out of range', async () => {
    const d = path.join(dir, 'cifar-label');
    await writeRecords(path.join(d, 'test_batch.bin'), 32, [0, 10]);
    await expect(loadDataset(`cifar10:${d}`, { split: 'test' })).rejects.toThrow(
      /test_batch\.bin: label 10 of record 1 is out of range \[0, 10\)/,
    );
  });
});

describe('real CIFAR-10 copy', () => {
  test.skipIf(!HAVE_CIFAR)(`test split (skipped when ${CIFAR_DIR} is absent)`, async () => {
    const ds = await loadDataset(`cifar10:${CIFAR_DIR}`, { split: 'test', limit: 500, seed: 0 });
    try {
      expect(ds.x.shape).toEqual([500, 32, 32, 3]);
      expect(ds.classNames[0]).toBe('airplane');
      const counts = new Array(10).fill(0);
      for (const v of ds.y.dataSync()) counts[v]++;
      expect(Math.min(...counts)).toBeGreaterThan(20); // a random 500 of a balanced set
      const mean = tf.tidy(() => ds.x.mean().dataSync()[0]);
      expect(mean).toBeGreaterThan(0.3);
      expect(mean).toBeLessThan(0.7);
    } finally {
      disposeDataset(ds);
    }
  });
  if (!HAVE_CIFAR) console.warn(`[skip] real CIFAR-10 test: no CIFAR-10 binary batches at ${CIFAR_DIR}`);
});
