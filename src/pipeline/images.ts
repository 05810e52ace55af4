import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { PNG } from 'pngjs';
import { DataFormatError, ShapeError } from '../errors.js';
import { readIdx } from '../io/idx.js';

/**
 * Reads images for `pcl detect`: an IDX file (float32 in [0,1], or uint8 scaled by 1/255; shape
 * [n,h,w,c] or [n,h,w]), a PNG, or a folder of PNGs (sorted by name). Converts channels to
 * `inputShape[2]` (RGB → grey by the mean; grey → RGB by repetition). Returns [n,h,w,c] in [0,1]
 * (owned by the caller) and the file name of each row.
 */
export async function readImages(input: string, inputShape: readonly [number, number, number]): Promise<{ x: tf.Tensor4D; names: string[] }> {
  let st;
  try {
    st = await fs.stat(input);
  } catch {
    throw new DataFormatError(`${input}: no such file or folder`);
  }
  const [h, w, c] = inputShape;
  if (st.isDirectory()) {
    const files = (await fs.readdir(input)).filter((f) => f.toLowerCase().endsWith('.png')).sort();
    if (files.length === 0) throw new DataFormatError(`${input}: folder holds no .png files`);
    const data = new Float32Array(files.length * h * w * c);
    for (let i = 0; i < files.length; i++) data.set(await readPng(path.join(input, files[i]), inputShape), i * h * w * c);
    return { x: tf.tensor4d(data, [files.length, h, w, c]), names: files };
  }
  if (input.toLowerCase().endsWith('.png')) {
    return { x: tf.tensor4d(await readPng(input, inputShape), [1, h, w, c]), names: [path.basename(input)] };
  }
  const idx = await readIdx(input);
  const shape = idx.shape.length === 3 ? [...idx.shape, 1] : idx.shape;
  if (shape.length !== 4 || shape[1] !== h || shape[2] !== w || shape[3] !== c) {
    throw new ShapeError(`${input}: expected images of shape [n, ${h}, ${w}, ${c}] (or [n, ${h}, ${w}] for one channel), got [${idx.shape}]`);
  }
  let data: Float32Array;
  if (idx.dtype === 'uint8') data = Float32Array.from(idx.data, (v) => v / 255);
  else if (idx.dtype === 'float32' || idx.dtype === 'float64') data = Float32Array.from(idx.data);
  else throw new DataFormatError(`${input}: expected IDX float32 or uint8 images, got ${idx.dtype}`);
  for (let i = 0; i < data.length; i++) {
    if (!(data[i] >= 0 && data[i] <= 1)) throw new DataFormatError(`${input}: pixel ${i} is ${data[i]}, outside [0, 1]`);
  }
  const n = shape[0];
  return { x: tf.tensor4d(data, [n, h, w, c]), names: Array.from({ length: n }, (_, i) => `${path.basename(input)}#${i}`) };
}

async function readPng(file: string, [h, w, c]: readonly [number, number, number]): Promise<Float32Array> {
  let png: PNG;
  try {
    png = PNG.sync.read(await fs.readFile(file));
  } catch (e) {
    throw new DataFormatError(`${file}: not a readable PNG (${(e as Error).message})`);
  }
  if (png.height !== h || png.width !== w) {
    throw new ShapeError(`${file}: expected a ${w}×${h} image, got ${png.width}×${png.height}`);
  }
  const out = new Float32Array(h * w * c);
  for (let i = 0; i < h * w; i++) {
    const r = png.data[4 * i] / 255;
    const g = png.data[4 * i + 1] / 255;
    const b = png.data[4 * i + 2] / 255;
    if (c === 1) out[i] = (r + g + b) / 3;
    else {
      out[3 * i] = r;
      out[3 * i + 1] = g;
      out[3 * i + 2] = b;
    }
  }
  return out;
}
