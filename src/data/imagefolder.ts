import type { Dirent } from 'node:fs';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { DataFormatError } from '../errors.js';
import { progressBar } from '../util/progress.js';
import { subsetIndices } from './subset.js';
import type { Dataset, Split } from './types.js';

/** File extensions an image folder may hold (case-insensitive); other files are ignored, as torchvision does. */
export const IMAGE_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.png'];

/** One image file of an image folder and its label. */
export interface ImageFile {
  /** Path of the file (the folder path joined with split, class folder and file name). */
  file: string;
  label: number;
}

/** What `listImageFolder` found for one split. */
export interface ImageFolderListing {
  /** The split's folder: `DIR/train`, or `DIR/test` / `DIR/val` for the test split. */
  splitDir: string;
  /** Class folder names in label order. */
  classes: string[];
  /** Every image of the split, class by class in label order, file names sorted within a class. */
  files: ImageFile[];
}

/** Options of `loadImageFolderDataset`. */
export interface ImageFolderOptions {
  /** Dataset name recorded in the result ('imagefolder', 'imagenet10'). */
  name: string;
  /** The spec string, recorded in the result. */
  spec: string;
  /** Keep a seeded random subset of at most `limit` images (only those are decoded). */
  limit?: number;
  /** Seed of the subset (default 0). */
  seed?: number;
  /**
   * Class folder names in label order. Default: the sorted sub-folders of `DIR/train` (or of the split's
   * folder when there is no `train/`), the order of torchvision's `ImageFolder`.
   */
  classes?: string[];
  /** Human-readable class names (default: the folder names). */
  classNames?: string[];
  /** Required image size [height, width]. Default: the first image's size, which every other must share. */
  size?: [number, number];
}

/** Splits an image folder can have, in the order they are looked for. `test` is preferred over `val` (train/val/test layouts). */
const SPLIT_FOLDERS: Record<Split, string[]> = { train: ['train'], test: ['test', 'val'] };

async function isDir(p: string): Promise<boolean> {
  try {
    return (await fs.stat(p)).isDirectory();
  } catch {
    return false;
  }
}

async function readDir(dir: string): Promise<Dirent[]> {
  try {
    return await fs.readdir(dir, { withFileTypes: true });
  } catch (e) {
    throw new DataFormatError(`${dir}: cannot list the folder (${(e as Error).message})`);
  }
}

/** Sorted names of the (non-hidden) sub-folders of `dir` (symbolic links to folders count). */
async function subFolders(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readDir(dir)) {
    if (e.name.startsWith('.')) continue;
    if (e.isDirectory() || (e.isSymbolicLink() && (await isDir(path.join(dir, e.name))))) out.push(e.name);
  }
  // code-unit order, as Python's sorted() for the usual ASCII folder names
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * The folder of `split` in an image-folder dataset: `DIR/train`, or for `test` `DIR/test` if it exists,
 * else `DIR/val`. Throws `DataFormatError` naming the folders looked for when none exists.
 */
export async function splitFolder(dir: string, split: Split): Promise<string> {
  for (const s of SPLIT_FOLDERS[split]) {
    const p = path.join(dir, s);
    if (await isDir(p)) return p;
  }
  if (!(await isDir(dir))) throw new DataFormatError(`${dir}: no such folder (expected an image folder with train/ and val/ or test/)`);
  throw new DataFormatError(
    `${dir}: no ${split} split folder (expected ${SPLIT_FOLDERS[split].map((s) => path.join(dir, s)).join(' or ')}, ` +
      'each holding one sub-folder of images per class)',
  );
}

/**
 * Lists `split` of an image folder `DIR/{train,val|test}/CLASS/*.{jpg,jpeg,png}` without decoding it.
 * Classes come from `classes` (folder names in label order) or else from the sorted sub-folders of
 * `DIR/train` (so both splits share one label order), falling back to the split's own folder.
 * Throws `DataFormatError` naming the folder when the split folder is missing, a class folder is
 * missing or holds no image, or the split has a class folder that is not a known class.
 */
export async function listImageFolder(dir: string, split: Split, classes?: string[]): Promise<ImageFolderListing> {
  const splitDir = await splitFolder(dir, split);
  const present = await subFolders(splitDir);
  let cls = classes;
  if (!cls) {
    const trainDir = path.join(dir, 'train');
    cls = split !== 'train' && (await isDir(trainDir)) ? await subFolders(trainDir) : present;
    if (cls.length === 0) {
      throw new DataFormatError(`${split !== 'train' && (await isDir(trainDir)) ? trainDir : splitDir}: holds no class sub-folders (expected one folder of images per class)`);
    }
  }
  const known = new Set(cls);
  const extra = present.filter((c) => !known.has(c));
  if (extra.length > 0) {
    throw new DataFormatError(
      `${path.join(splitDir, extra[0])}: class folder '${extra[0]}' is not one of the ${cls.length} classes (${cls.slice(0, 12).join(', ')}${cls.length > 12 ? ', …' : ''})`,
    );
  }
  const files: ImageFile[] = [];
  for (let label = 0; label < cls.length; label++) {
    const cdir = path.join(splitDir, cls[label]);
    if (!present.includes(cls[label])) {
      throw new DataFormatError(`${cdir}: class folder missing (class ${label} '${cls[label]}' must have images in every split)`);
    }
    const names = (await readDir(cdir))
      .filter((e) => !e.name.startsWith('.') && !e.isDirectory() && IMAGE_EXTENSIONS.includes(path.extname(e.name).toLowerCase()))
      .map((e) => e.name)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    if (names.length === 0) {
      throw new DataFormatError(`${cdir}: empty class folder (no ${IMAGE_EXTENSIONS.join('/')} files) for class ${label} '${cls[label]}'`);
    }
    for (const f of names) files.push({ file: path.join(cdir, f), label });
  }
  return { splitDir, classes: cls, files };
}

/** A decoded image: `data` holds `height × width × 3` RGB bytes, row-major (HWC). */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/**
 * Decodes a JPEG or PNG file's bytes to 8-bit RGB (grey is repeated to three channels, alpha dropped,
 * as torchvision's `ImageFolder` loader converts to RGB). The format is sniffed from the bytes.
 * Throws `DataFormatError` naming `file` on a truncated, damaged or unsupported image.
 */
export function decodeImage(bytes: Uint8Array, file: string): RgbImage {
  const isPng = bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;
  const isJpeg = bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
  if (isJpeg) {
    try {
      // tolerantDecoding: false, so a truncated scan is an error rather than grey rows
      const im = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, tolerantDecoding: false, maxResolutionInMP: 100 });
      return { width: im.width, height: im.height, data: im.data };
    } catch (e) {
      throw new DataFormatError(`${file}: not a readable JPEG, truncated or damaged (${(e as Error).message})`);
    }
  }
  if (isPng) {
    let png: PNG;
    try {
      png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    } catch (e) {
      throw new DataFormatError(`${file}: not a readable PNG, truncated or damaged (${(e as Error).message})`);
    }
    const n = png.width * png.height;
    const data = new Uint8Array(3 * n);
    for (let i = 0; i < n; i++) {
      data[3 * i] = png.data[4 * i];
      data[3 * i + 1] = png.data[4 * i + 1];
      data[3 * i + 2] = png.data[4 * i + 2];
    }
    return { width: png.width, height: png.height, data };
  }
  throw new DataFormatError(
    `${file}: ${bytes.length === 0 ? 'empty file' : 'neither a JPEG nor a PNG (unrecognised first bytes)'}; an image folder holds .jpg/.jpeg/.png images`,
  );
}

/** Files read from disk at once while decoding (keeps the disk busy without holding the whole split). */
const READ_AHEAD = 64;

/**
 * Loads `split` of an image-folder dataset, `DIR/{train,val|test}/CLASS/*.{jpg,jpeg,png}` (the layout of
 * torchvision's `ImageFolder` and Keras's `image_dataset_from_directory`; `test/` is preferred over `val/`
 * for the test split when both exist). Labels follow `opts.classes` or the sorted class folders of
 * `train/`; rows are ordered class by class, files sorted by name within a class, and `limit` keeps a
 * seeded random subset of those rows (only the kept files are read and decoded). Pixels are RGB,
 * scaled to [0, 1], NHWC float32; every image must have the same size (`opts.size` when given): no
 * resizing is done. Shows a progress bar while decoding (when progress output is on). The caller owns
 * the returned tensors.
 * Throws `DataFormatError` naming the file or folder on a missing split folder, a missing or empty class
 * folder, a truncated or damaged image, or an image of another size.
 */
export async function loadImageFolderDataset(dir: string, split: Split, opts: ImageFolderOptions): Promise<Dataset> {
  const listing = await listImageFolder(dir, split, opts.classes);
  const indices = subsetIndices(listing.files.length, opts.limit, opts.seed);
  const n = indices.length;
  let h = opts.size?.[0];
  let w = opts.size?.[1];
  let pixels: Float32Array | undefined;
  let sizeFrom = opts.size ? 'the dataset' : '';
  const labels = new Int32Array(n);
  const bar = progressBar(`decode ${split}`, n);
  try {
    for (let start = 0; start < n; start += READ_AHEAD) {
      const chunk = Array.from(indices.subarray(start, Math.min(n, start + READ_AHEAD)), (i) => listing.files[i]);
      const bytes = await Promise.all(
        chunk.map((f) =>
          fs.readFile(f.file).catch((e: Error) => {
            throw new DataFormatError(`${f.file}: cannot read (${e.message})`);
          }),
        ),
      );
      for (let k = 0; k < chunk.length; k++) {
        const r = start + k;
        const im = decodeImage(bytes[k], chunk[k].file);
        if (h === undefined || w === undefined) {
          h = im.height;
          w = im.width;
          sizeFrom = chunk[k].file;
        }
        if (im.height !== h || im.width !== w) {
          throw new DataFormatError(
            `${chunk[k].file}: image is ${im.width}×${im.height}, expected ${w}×${h} (the size of ${sizeFrom}); ` +
              'every image of a dataset must have the same size (resize them beforehand)',
          );
        }
        pixels ??= new Float32Array(n * h * w * 3);
        const off = r * h * w * 3;
        const d = im.data;
        for (let p = 0; p < d.length; p++) pixels[off + p] = d[p] / 255;
        labels[r] = chunk[k].label;
      }
      bar.tick(chunk.length);
    }
  } finally {
    bar.stop();
  }
  return {
    name: opts.name,
    spec: opts.spec,
    split,
    x: tf.tensor4d(pixels!, [n, h!, w!, 3], 'float32'),
    y: tf.tensor1d(labels, 'int32'),
    indices,
    classNames: opts.classNames ?? listing.classes,
    numClasses: listing.classes.length,
  };
}

/**
 * Reads `DIR/classes.txt` of an ImageNet-style folder: one class a line, `wnid<TAB>name` (the folder name,
 * a tab, a readable name; a line without a tab is a folder name used as its own name). Label = line number
 * from 0, blank lines skipped. Resolves to undefined when the file does not exist; throws
 * `DataFormatError` naming the file on a duplicate folder name or an empty list.
 */
export async function readClassesFile(dir: string): Promise<{ folders: string[]; names: string[] } | undefined> {
  const file = path.join(dir, 'classes.txt');
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new DataFormatError(`${file}: cannot read (${(e as Error).message})`);
  }
  const folders: string[] = [];
  const names: string[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim().length === 0) return;
    const tab = line.indexOf('\t');
    const folder = (tab >= 0 ? line.slice(0, tab) : line).trim();
    const name = (tab >= 0 ? line.slice(tab + 1) : line).trim();
    if (folder.length === 0) throw new DataFormatError(`${file}: line ${i + 1} has no folder name before the tab`);
    if (folders.includes(folder)) throw new DataFormatError(`${file}: line ${i + 1} repeats class folder '${folder}'`);
    folders.push(folder);
    names.push(name.length > 0 ? name : folder);
  });
  if (folders.length < 2) throw new DataFormatError(`${file}: lists ${folders.length} class(es); expected at least 2 lines 'wnid<TAB>name'`);
  return { folders, names };
}
