/** Task module for test/engine/pool.test.ts: exports run inside WorkerPool workers. */
import { threadId } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { engineInfo } from '../../src/engine/backend.js';
import { ArgumentError } from '../../src/errors.js';

/** Returns a·b for a [m, k], b [k, n] (row-major), computed with tfjs, plus the thread id. */
export async function matMulTask(p: { a: Float32Array; b: Float32Array; m: number; k: number; n: number }) {
  const out = tf.tidy(() => tf.matMul(tf.tensor2d(p.a, [p.m, p.k]), tf.tensor2d(p.b, [p.k, p.n])).dataSync());
  return { c: out as Float32Array, threadId };
}

/** Throws an ArgumentError naming the payload. */
export async function failingTask(p: { tag: string }): Promise<never> {
  throw new ArgumentError(`failingTask: bad tag '${p.tag}'`);
}

/** Fails only for index `bad`. */
export async function sometimesFails(p: { i: number; bad: number }): Promise<number> {
  if (p.i === p.bad) throw new RangeError(`item ${p.i} is bad`);
  return p.i * 2;
}

/** Reports the engine the worker initialised and whether a tensor op gradient works there. */
export async function engineTask(): Promise<{ backend: string; fastKernels: string[]; threadId: number; grad: number[] }> {
  const info = engineInfo();
  const g = tf.tidy(() => tf.grad((x: tf.Tensor) => tf.sum(tf.square(x)))(tf.tensor1d([1, 2, 3])).dataSync());
  return { backend: tf.getBackend(), fastKernels: info?.fastKernels ?? [], threadId, grad: Array.from(g) };
}

/** Busy-waits `ms` milliseconds (CPU-bound) and returns the thread id. */
export async function spin(p: { ms: number }): Promise<number> {
  const end = performance.now() + p.ms;
  while (performance.now() < end) {
    /* spin */
  }
  return threadId;
}

/** Not a function: for the "no such export" error. */
export const notAFunction = 42;
