import type * as tf from '@tensorflow/tfjs';

/**
 * What the in-heap kernels (`Slice`, `Tile`, the fused Adam step) need from the wasm backend (its
 * class is not exported with types): allocate an output, then view tensors in place in the heap.
 * Allocate first: an allocation may grow the heap and detach views taken before it.
 */
export interface HeapViewBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}
