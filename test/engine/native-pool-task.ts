/** Task module for test/engine/native.test.ts: runs inside WorkerPool workers. */
import { threadId } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { engineInfo } from '../../src/engine/backend.js';

/** The native engine's thread count in this worker (or null), and a conv gradient computed there. */
export async function nativeThreadsTask(): Promise<{ threads: number | null; threadId: number; grad: number[] }> {
  const info = engineInfo();
  const g = tf.tidy(() => {
    const x = tf.reshape(tf.range(0, 2 * 5 * 5 * 3), [2, 5, 5, 3]).div(10) as tf.Tensor4D;
    const w = tf.reshape(tf.range(0, 3 * 3 * 3 * 4), [3, 3, 3, 4]).div(100) as tf.Tensor4D;
    return tf.grad((ww: tf.Tensor) => tf.sum(tf.relu(tf.conv2d(x, ww as tf.Tensor4D, 1, 'same'))))(w).dataSync();
  });
  return { threads: info?.native?.threads ?? null, threadId, grad: Array.from(g.slice(0, 8)) };
}
