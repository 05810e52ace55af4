/**
 * Zero-copy reads of a float32 tensor's values for code that consumes them at once.
 *
 * `tensor.dataSync()` allocates a fresh buffer per call. For large intermediate results that are read
 * once and thrown away (sparse-coding correlations: 3.7 MB per 4096-patch chunk), the allocation and
 * the garbage it leaves cost more than the matMul that produced them. On the wasm backend
 * {@link withFloat32View} hands `fn` a `Float32Array` view straight into the wasm heap instead.
 * The view is only valid during `fn`, which must be synchronous and must not run tfjs ops (an op
 * may grow the wasm memory and detach the view). On any other backend `fn` gets `dataSync()`.
 */
import * as tf from '@tensorflow/tfjs';
import { ArgumentError, assert } from '../errors.js';

interface WasmBackendInternals {
  dataIdMap?: { get(id: object): { memoryOffset: number; dtype: string } | undefined };
  wasm?: { HEAPU8: Uint8Array };
}

/** Calls `fn` with the values of float32 tensor `t` (a heap view on wasm, a copy elsewhere) and returns its result. */
export function withFloat32View<R>(t: tf.Tensor, fn: (values: Float32Array) => R): R {
  assert(t.dtype === 'float32', () => `withFloat32View: expected a float32 tensor, got ${t.dtype}`, ArgumentError);
  if (tf.getBackend() === 'wasm') {
    const be = tf.backend() as unknown as WasmBackendInternals;
    const info = be.dataIdMap?.get(t.dataId);
    const heap = be.wasm?.HEAPU8;
    if (info && heap && info.dtype === 'float32' && info.memoryOffset % 4 === 0) {
      return fn(new Float32Array(heap.buffer, heap.byteOffset + info.memoryOffset, t.size));
    }
  }
  return fn(t.dataSync() as Float32Array);
}
