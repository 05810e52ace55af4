import type * as tf from '@tensorflow/tfjs';

/**
 * Which half of a dataset to load. `test` is the held-out split (MNIST `t10k`, CIFAR `test_batch`,
 * an image folder's `test/` or `val/`).
 */
export type Split = 'train' | 'test';

/**
 * An in-memory image classification dataset.
 * `x` is NHWC float32 in [0, 1], shape [n, h, w, c]; `y` the int32 labels, shape [n], in
 * [0, numClasses). The caller owns both tensors (free them with `disposeDataset`).
 */
export interface Dataset {
  /** Kind of dataset: 'mnist', 'idx', 'cifar10', 'imagefolder' or 'imagenet10'. */
  name: string;
  /** The spec it was loaded from, e.g. `cifar10:../shared/data/cifar10`. */
  spec: string;
  split: Split;
  /** Images [n, h, w, c], float32 in [0, 1]. */
  x: tf.Tensor4D;
  /** Labels [n], int32 in [0, numClasses). */
  y: tf.Tensor1D;
  /** Row i of `x` is image `indices[i]` of the full split (in increasing order). */
  indices: Int32Array;
  classNames: string[];
  numClasses: number;
}

/** Options of `loadDataset`. */
export interface LoadOptions {
  /** Default 'train'. */
  split?: Split;
  /** Keep a seeded random subset of at most `limit` images (all when omitted). */
  limit?: number;
  /** Seed of the subset choice (default 0). */
  seed?: number;
}

/** Frees the tensors of a dataset. */
export function disposeDataset(ds: Dataset): void {
  ds.x.dispose();
  ds.y.dispose();
}
