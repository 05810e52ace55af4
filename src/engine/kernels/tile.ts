import * as tf from '@tensorflow/tfjs';
import type { HeapViewBackend } from './heap.js';


/**
 * Kernel function for `Tile` on wasm. The stock kernel computes every output element's source
 * index one at a time (≈ 0.5 s to tile a [1,1,1,300] vector to [64,32,32,300], which batch
 * normalisation's gradient does three times per layer per step). Here the output is built in the
 * heap in place: each innermost input row is copied once, then every axis's repetitions are made by
 * doubling block copies (`copyWithin`), so the work is one memory pass over the output.
 * String and complex tensors go to `stock`.
 */
export function makeTileKernel(stock: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const x = args.inputs.x!;
    if (x.dtype === 'string' || x.dtype === 'complex64') return stock(args);
    const reps = (args.attrs as unknown as { reps: number[] }).reps;
    const rank = x.shape.length;
    if (reps.length !== rank || rank === 0) return stock(args);
    const outShape = x.shape.map((d, i) => d * reps[i]!);
    const backend = args.backend as unknown as HeapViewBackend;
    const out = backend.makeOutput(outShape, x.dtype);
    if (tf.util.sizeFromShape(outShape) === 0) return out;
    // Views after the output is allocated (an allocation may grow the heap and detach older views).
    const xv = backend.typedArrayFromHeap(x);
    const ov = backend.typedArrayFromHeap(out);
    const inStrides = [...tf.util.computeStrides(x.shape), 1];
    const outStrides = [...tf.util.computeStrides(outShape), 1];
    // Fills the output block of axis d at `dst` from the input block at `src`.
    const fill = (d: number, src: number, dst: number): void => {
      const n = x.shape[d]!;
      if (d === rank - 1) {
        ov.set(xv.subarray(src, src + n), dst);
      } else {
        for (let i = 0; i < n; i++) fill(d + 1, src + i * inStrides[d]!, dst + i * outStrides[d]!);
      }
      // Repeat the block [dst, dst + len) reps[d] times by doubling.
      const len = n * outStrides[d]!;
      const total = len * reps[d]!;
      let have = len;
      while (have < total) {
        const c = Math.min(have, total - have);
        ov.copyWithin(dst + have, dst, dst + c);
        have += c;
      }
    };
    fill(0, 0, 0);
    return out;
  };
}
