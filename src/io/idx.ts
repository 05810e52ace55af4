import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { ArgumentError, DataFormatError } from '../errors.js';

/**
 * The element types of the IDX format (LeCun's MNIST container), keyed by their type byte:
 * 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64.
 * Multi-byte values are stored big-endian.
 */
export type IdxDtype = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';

/** The typed array that holds each IDX element type in memory. */
export type IdxTypedArray = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

/** A decoded IDX file: element type, shape and the row-major (C-order) data. */
export interface IdxArray {
  dtype: IdxDtype;
  shape: number[];
  data: IdxTypedArray;
}

interface DtypeInfo {
  code: number;
  bytes: number;
  Ctor: { new (n: number): IdxTypedArray };
  read: (v: DataView, off: number) => number;
  write: (v: DataView, off: number, x: number) => void;
}

const DTYPES: Record<IdxDtype, DtypeInfo> = {
  uint8: { code: 0x08, bytes: 1, Ctor: Uint8Array, read: (v, o) => v.getUint8(o), write: (v, o, x) => v.setUint8(o, x) },
  int8: { code: 0x09, bytes: 1, Ctor: Int8Array, read: (v, o) => v.getInt8(o), write: (v, o, x) => v.setInt8(o, x) },
  int16: { code: 0x0b, bytes: 2, Ctor: Int16Array, read: (v, o) => v.getInt16(o), write: (v, o, x) => v.setInt16(o, x) },
  int32: { code: 0x0c, bytes: 4, Ctor: Int32Array, read: (v, o) => v.getInt32(o), write: (v, o, x) => v.setInt32(o, x) },
  float32: {
    code: 0x0d,
    bytes: 4,
    Ctor: Float32Array,
    read: (v, o) => v.getFloat32(o),
    write: (v, o, x) => v.setFloat32(o, x),
  },
  float64: {
    code: 0x0e,
    bytes: 8,
    Ctor: Float64Array,
    read: (v, o) => v.getFloat64(o),
    write: (v, o, x) => v.setFloat64(o, x),
  },
};

const BY_CODE = new Map<number, IdxDtype>(Object.entries(DTYPES).map(([k, v]) => [v.code, k as IdxDtype]));

/** IDX element type of a typed array, or undefined for types IDX cannot hold. */
export function idxDtypeOf(data: ArrayLike<number>): IdxDtype | undefined {
  if (data instanceof Uint8Array || data instanceof Uint8ClampedArray) return 'uint8';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Int16Array) return 'int16';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  return undefined;
}

const GZIP_MAGIC0 = 0x1f;
const GZIP_MAGIC1 = 0x8b;

function isGzip(buf: Uint8Array): boolean {
  return buf.length >= 2 && buf[0] === GZIP_MAGIC0 && buf[1] === GZIP_MAGIC1;
}

/**
 * Decodes IDX bytes (already gunzipped). `file` only names the source in error messages.
 * Throws `DataFormatError` on a wrong magic number or a truncated/oversized payload.
 */
export function decodeIdx(buf: Uint8Array, file = '<buffer>'): IdxArray {
  if (buf.length < 4) {
    throw new DataFormatError(`${file}: truncated IDX file: ${buf.length} bytes, need at least a 4-byte header`);
  }
  if (buf[0] !== 0 || buf[1] !== 0) {
    const magic = Array.from(buf.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join('');
    throw new DataFormatError(
      `${file}: wrong magic number 0x${magic}: an IDX file starts with two zero bytes, a type byte and a rank byte`,
    );
  }
  const dtype = BY_CODE.get(buf[2]);
  if (dtype === undefined) {
    throw new DataFormatError(
      `${file}: wrong magic number: unknown IDX type byte 0x${buf[2].toString(16).padStart(2, '0')} ` +
        `(expected one of 08 uint8, 09 int8, 0b int16, 0c int32, 0d float32, 0e float64)`,
    );
  }
  const rank = buf[3];
  const headerBytes = 4 + 4 * rank;
  if (buf.length < headerBytes) {
    throw new DataFormatError(`${file}: truncated IDX header: ${buf.length} bytes, rank ${rank} needs ${headerBytes}`);
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const shape: number[] = [];
  for (let i = 0; i < rank; i++) shape.push(view.getUint32(4 + 4 * i));
  const info = DTYPES[dtype];
  const count = shape.reduce((a, b) => a * b, 1);
  const need = headerBytes + count * info.bytes;
  if (buf.length < need) {
    throw new DataFormatError(
      `${file}: truncated IDX file: shape [${shape}] of ${dtype} needs ${need} bytes, the file has ${buf.length}`,
    );
  }
  if (buf.length > need) {
    throw new DataFormatError(
      `${file}: IDX file has ${buf.length - need} trailing bytes after the data of shape [${shape}] (${dtype})`,
    );
  }
  let data: IdxTypedArray;
  if (info.bytes === 1) {
    // byte types need no endianness conversion: copy so the result owns an aligned buffer
    data = new info.Ctor(count);
    (data as Uint8Array).set(buf.subarray(headerBytes, need));
  } else {
    data = new info.Ctor(count);
    for (let i = 0, off = headerBytes; i < count; i++, off += info.bytes) data[i] = info.read(view, off);
  }
  return { dtype, shape, data };
}

/** Encodes `data` of `shape` as IDX bytes (big-endian), element type taken from the typed array. */
export function encodeIdx(data: IdxTypedArray, shape: readonly number[], dtype?: IdxDtype): Uint8Array {
  const dt = dtype ?? idxDtypeOf(data);
  if (dt === undefined) {
    throw new ArgumentError(
      `writeIdx: 'data' must be a Uint8Array, Int8Array, Int16Array, Int32Array, Float32Array or Float64Array, got ${
        (data as object)?.constructor?.name ?? typeof data
      }`,
    );
  }
  if (shape.length > 255 || shape.length === 0) {
    throw new ArgumentError(`writeIdx: 'shape' must have rank 1..255, got rank ${shape.length}`);
  }
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0 || d > 0xffffffff) {
      throw new ArgumentError(`writeIdx: 'shape' entries must be non-negative 32-bit integers, got [${shape}]`);
    }
  }
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) {
    throw new ArgumentError(`writeIdx: shape [${shape}] holds ${count} values but 'data' has ${data.length}`);
  }
  const info = DTYPES[dt];
  const header = 4 + 4 * shape.length;
  const out = new Uint8Array(header + count * info.bytes);
  const view = new DataView(out.buffer);
  out[2] = info.code;
  out[3] = shape.length;
  shape.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  if (info.bytes === 1) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.length), header);
  } else {
    for (let i = 0, off = header; i < count; i++, off += info.bytes) info.write(view, off, data[i]);
  }
  return out;
}

/**
 * Reads an IDX file, plain or gzip-compressed (detected by the gzip magic bytes, so a `.gz`
 * extension is not required). Returns the element type, the shape and the data in row-major order.
 * Throws `DataFormatError` naming the file when it is missing, not IDX (wrong magic), corrupt gzip,
 * or truncated.
 */
export async function readIdx(file: string): Promise<IdxArray> {
  let raw: Buffer;
  try {
    raw = await fs.readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new DataFormatError(`${file}: no such file`);
    throw new DataFormatError(`${file}: cannot read (${(e as Error).message})`);
  }
  let bytes: Uint8Array = raw;
  if (isGzip(raw)) {
    try {
      bytes = gunzipSync(raw);
    } catch (e) {
      throw new DataFormatError(`${file}: corrupt or truncated gzip data (${(e as Error).message})`);
    }
  } else if (file.endsWith('.gz')) {
    throw new DataFormatError(`${file}: wrong magic number: a .gz file must start with the gzip bytes 1f 8b`);
  }
  return decodeIdx(bytes, file);
}

/**
 * Writes `data` with `shape` as an IDX file; gzip-compressed when `file` ends in `.gz`.
 * The element type follows the typed array (Uint8Array → uint8, Float32Array → float32, …).
 * Atomic: the bytes go to a temporary sibling which is then renamed over `file`, so a reader
 * never sees a half-written file. Creates missing parent folders.
 */
export async function writeIdx(file: string, data: IdxTypedArray, shape: readonly number[]): Promise<void> {
  let bytes = encodeIdx(data, shape);
  if (file.endsWith('.gz')) bytes = gzipSync(bytes);
  await fs.mkdir(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await fs.writeFile(tmp, bytes);
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}
