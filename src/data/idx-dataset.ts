import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { DataFormatError } from '../errors.js';
import { readIdx, type IdxArray } from '../io/idx.js';
import { subsetIndices } from './subset.js';
import type { Dataset, Split } from './types.js';

/** File stems of an IDX dataset folder (the MNIST naming). */
export const IDX_FILES: Record<Split, { images: string; labels: string }> = {
  train: { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte' },
  test: { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte' },
};

/** `DIR/stem` or `DIR/stem.gz`, whichever exists; throws `DataFormatError` naming both when neither does. */
export async function findIdxFile(dir: string, stem: string): Promise<string> {
  for (const f of [path.join(dir, stem), path.join(dir, `${stem}.gz`)]) {
    try {
      await fs.access(f);
      return f;
    } catch {
      /* try the next name */
    }
  }
  throw new DataFormatError(`${path.join(dir, stem)}: no such file (nor ${stem}.gz) in dataset folder '${dir}'`);
}

function checkLabels(lab: IdxArray, file: string): void {
  if (lab.shape.length !== 1) {
    throw new DataFormatError(`${file}: expected a rank-1 label file [n], got shape [${lab.shape}]`);
  }
  if (lab.dtype === 'float32' || lab.dtype === 'float64') {
    throw new DataFormatError(`${file}: labels must be an integer IDX type, got ${lab.dtype}`);
  }
}

/**
 * Loads `split` of an IDX dataset folder (`{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`).
 * Images may be [n, h, w] (grayscale) or [n, h, w, c]; uint8 pixels are scaled by 1/255,
 * float32/float64 pixels must already lie in [0, 1]. The number of classes is max(train label) + 1,
 * so both splits agree; a test label outside that range is an error.
 * Throws `DataFormatError` naming the file on a missing/malformed file, count mismatch or bad label.
 */
export async function loadIdxDataset(
  dir: string,
  split: Split,
  opts: { name: string; spec: string; limit?: number; seed?: number; classNames?: string[] },
): Promise<Dataset> {
  const imgFile = await findIdxFile(dir, IDX_FILES[split].images);
  const labFile = await findIdxFile(dir, IDX_FILES[split].labels);
  const [img, lab] = await Promise.all([readIdx(imgFile), readIdx(labFile)]);
  checkLabels(lab, labFile);
  if (img.shape.length !== 3 && img.shape.length !== 4) {
    throw new DataFormatError(`${imgFile}: expected images of rank 3 [n,h,w] or 4 [n,h,w,c], got shape [${img.shape}]`);
  }
  if (img.dtype !== 'uint8' && img.dtype !== 'float32' && img.dtype !== 'float64') {
    throw new DataFormatError(`${imgFile}: pixels must be uint8 (0..255) or float32/float64 (0..1), got ${img.dtype}`);
  }
  const [n, h, w] = img.shape;
  const c = img.shape.length === 4 ? img.shape[3] : 1;
  if (lab.shape[0] !== n) {
    throw new DataFormatError(`${labFile}: has ${lab.shape[0]} labels but ${imgFile} has ${n} images`);
  }
  // class count from the train labels so that train and test agree
  let numClasses: number;
  let trainLabFile = labFile;
  if (split === 'train') {
    numClasses = maxLabel(lab.data) + 1;
  } else {
    trainLabFile = await findIdxFile(dir, IDX_FILES.train.labels).catch(() => labFile);
    const trainLab = trainLabFile === labFile ? lab : await readIdx(trainLabFile);
    checkLabels(trainLab, trainLabFile);
    numClasses = maxLabel(trainLab.data) + 1;
  }
  if (opts.classNames && opts.classNames.length > numClasses) numClasses = opts.classNames.length;
  for (let i = 0; i < lab.data.length; i++) {
    const v = lab.data[i];
    if (v < 0 || v >= numClasses) {
      throw new DataFormatError(
        `${labFile}: label ${v} at index ${i} is out of range [0, ${numClasses})` +
          (trainLabFile !== labFile ? ` (class count from ${trainLabFile})` : ''),
      );
    }
  }
  const indices = subsetIndices(n, opts.limit, opts.seed);
  const per = h * w * c;
  const pixels = new Float32Array(indices.length * per);
  const labels = new Int32Array(indices.length);
  const scale = img.dtype === 'uint8' ? 1 / 255 : 1;
  for (let r = 0; r < indices.length; r++) {
    const src = indices[r] * per;
    const dst = r * per;
    for (let k = 0; k < per; k++) pixels[dst + k] = img.data[src + k] * scale;
    labels[r] = lab.data[indices[r]];
  }
  if (scale === 1) {
    for (let k = 0; k < pixels.length; k++) {
      const v = pixels[k];
      if (!(v >= 0 && v <= 1)) {
        throw new DataFormatError(`${imgFile}: float pixel ${v} at flat index ${k} is outside [0, 1]`);
      }
    }
  }
  return {
    name: opts.name,
    spec: opts.spec,
    split,
    x: tf.tensor4d(pixels, [indices.length, h, w, c], 'float32'),
    y: tf.tensor1d(labels, 'int32'),
    indices,
    classNames: opts.classNames ?? Array.from({ length: numClasses }, (_, i) => String(i)),
    numClasses,
  };
}

function maxLabel(a: ArrayLike<number>): number {
  let m = -1;
  for (let i = 0; i < a.length; i++) if (a[i] > m) m = a[i];
  return m;
}
