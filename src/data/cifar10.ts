import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { DataFormatError } from '../errors.js';
import { subsetIndices } from './subset.js';
import type { Dataset, Split } from './types.js';

/** The ten CIFAR-10 class names, used when `batches.meta.txt` is absent. */
export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

/** Record geometry of the CIFAR binary layout: 1 label byte, then the R, G and B planes (row-major). */
export interface RecordLayout {
  /** Side of the square image: 32 for CIFAR-10, 64 for the ImageNet-10 subset. */
  size: number;
  /** Number of classes (labels must be below). */
  numClasses: number;
}

/**
 * Loads `split` of a folder in the CIFAR-10 binary layout: each record is one label byte then
 * `size*size` red, `size*size` green and `size*size` blue bytes, converted here to HWC float32 in [0,1].
 * `files` lists the record files of the split, in order. Class names come from `batches.meta.txt`
 * (one per line) when present, else from `defaultClasses`.
 * Throws `DataFormatError` naming the file when one is missing, empty, not a whole number of records,
 * or holds a label ≥ numClasses.
 */
export async function loadRecordDataset(
  dir: string,
  split: Split,
  files: string[],
  layout: RecordLayout,
  opts: { name: string; spec: string; limit?: number; seed?: number; defaultClasses: string[] },
): Promise<Dataset> {
  const { size, numClasses } = layout;
  const plane = size * size;
  const recBytes = 1 + 3 * plane;
  const bufs: Buffer[] = [];
  for (const f of files) {
    const full = path.join(dir, f);
    let b: Buffer;
    try {
      b = await fs.readFile(full);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new DataFormatError(`${full}: no such file (a ${opts.name} folder needs ${files.join(', ')} for the ${split} split)`);
      }
      throw new DataFormatError(`${full}: cannot read (${(e as Error).message})`);
    }
    if (b.length === 0 || b.length % recBytes !== 0) {
      throw new DataFormatError(
        `${full}: truncated or malformed: ${b.length} bytes is not a whole number of ${recBytes}-byte records ` +
          `(1 label byte + 3×${size}×${size} pixels)`,
      );
    }
    for (let off = 0, i = 0; off < b.length; off += recBytes, i++) {
      if (b[off] >= numClasses) {
        throw new DataFormatError(`${full}: label ${b[off]} of record ${i} is out of range [0, ${numClasses})`);
      }
    }
    bufs.push(b);
  }
  const counts = bufs.map((b) => b.length / recBytes);
  const n = counts.reduce((a, b) => a + b, 0);
  const indices = subsetIndices(n, opts.limit, opts.seed);
  const per = 3 * plane;
  const pixels = new Float32Array(indices.length * per);
  const labels = new Int32Array(indices.length);
  let fileIdx = 0;
  let fileStart = 0;
  for (let r = 0; r < indices.length; r++) {
    // indices are increasing, so walk the files forward
    while (indices[r] >= fileStart + counts[fileIdx]) fileStart += counts[fileIdx++];
    const b = bufs[fileIdx];
    const off = (indices[r] - fileStart) * recBytes;
    labels[r] = b[off];
    const dst = r * per;
    for (let p = 0; p < plane; p++) {
      pixels[dst + 3 * p] = b[off + 1 + p] / 255;
      pixels[dst + 3 * p + 1] = b[off + 1 + plane + p] / 255;
      pixels[dst + 3 * p + 2] = b[off + 1 + 2 * plane + p] / 255;
    }
  }
  return {
    name: opts.name,
    spec: opts.spec,
    split,
    x: tf.tensor4d(pixels, [indices.length, size, size, 3], 'float32'),
    y: tf.tensor1d(labels, 'int32'),
    indices,
    classNames: await readClassNames(dir, numClasses, opts.defaultClasses),
    numClasses,
  };
}

async function readClassNames(dir: string, numClasses: number, fallback: string[]): Promise<string[]> {
  let text: string;
  try {
    text = await fs.readFile(path.join(dir, 'batches.meta.txt'), 'utf8');
  } catch {
    return fallback.slice(0, numClasses);
  }
  const names = text
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (names.length < numClasses) {
    throw new DataFormatError(
      `${path.join(dir, 'batches.meta.txt')}: lists ${names.length} class names, expected ${numClasses} (one per line)`,
    );
  }
  return names.slice(0, numClasses);
}
