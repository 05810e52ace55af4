import * as tf from '@tensorflow/tfjs';
import type { HeapViewBackend } from './heap.js';


/**
 * Kernel function for `Slice` on wasm. The stock kernel first copies the *whole* input out of the
 * wasm heap into a fresh JS buffer (`readSync`) and only then copies the slice, so taking a
 * 32-row batch from a 50 000-row dataset tensor moves the entire dataset. Here the output is
 * allocated first (a heap growth would detach earlier views), then both are viewed in place and
 * only the selected rows are copied. String tensors go to `stock`.
 */
export function makeSliceKernel(stock: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const x = args.inputs.x!;
    if (x.dtype === 'string' || x.dtype === 'complex64') return stock(args);
    const backend = args.backend as unknown as HeapViewBackend;
    const { begin, size } = args.attrs as unknown as { begin: number | number[]; size?: number | number[] };
    const [b, s] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, size);
    const out = backend.makeOutput(s, x.dtype);
    const n = tf.util.sizeFromShape(s);
    if (n === 0) return out;
    const xv = backend.typedArrayFromHeap(x);
    const ov = backend.typedArrayFromHeap(out);
    const rank = x.shape.length;
    const strides = tf.util.computeStrides(x.shape);
    // Merge the trailing axes that are taken whole with the last partial one into one run.
    let inner = rank - 1;
    while (inner > 0 && b[inner]! === 0 && s[inner]! === x.shape[inner]!) inner--;
    const run = inner === rank - 1 ? (rank === 0 ? 1 : s[rank - 1]!) : s[inner]! * (inner + 1 < rank ? strides[inner]! : 1);
    if (rank === 0 || inner === 0) {
      const off = rank === 0 ? 0 : b[0]! * (rank > 1 ? strides[0]! : 1);
      ov.set(xv.subarray(off, off + n));
      return out;
    }
    // Odometer over the outer axes [0, inner).
    const idx = new Array<number>(inner).fill(0);
    let o = 0;
    for (;;) {
      let off = b[inner]! * (inner + 1 < rank ? strides[inner]! : 1);
      for (let d = 0; d < inner; d++) off += (b[d]! + idx[d]!) * strides[d]!;
      ov.set(xv.subarray(off, off + run), o);
      o += run;
      let d = inner - 1;
      for (; d >= 0; d--) {
        idx[d] = idx[d]! + 1;
        if (idx[d]! < s[d]!) break;
        idx[d] = 0;
      }
      if (d < 0) break;
    }
    return out;
  };
}
