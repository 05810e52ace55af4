import * as tf from '@tensorflow/tfjs';
import { runComposite, type RefCountingBackend } from './composite.js';

/** Swaps the last two axes of a tensor of rank ≥ 2. */
function swapLast2(t: tf.Tensor): tf.Tensor {
  const perm = t.shape.map((_, i) => i);
  const r = perm.length;
  perm[r - 2] = r - 1;
  perm[r - 1] = r - 2;
  return tf.transpose(t, perm);
}

/**
 * Kernel function for `BatchMatMul` on wasm. The stock kernel runs the untransposed product
 * through XNNPACK but falls to a slow strided loop when `transposeA`/`transposeB` is set (the
 * form every matMul gradient takes); here a transposed operand is materialised first (an O(n²)
 * copy) and the plain product is delegated to `stock`, the original kernel function.
 */
export function makeBatchMatMulKernel(stock: tf.KernelFunc, transposeWhich: { a: boolean; b: boolean }): tf.KernelFunc {
  return (args) => {
    const { a, b } = args.inputs;
    const attrs = (args.attrs ?? {}) as { transposeA?: boolean; transposeB?: boolean };
    const tA = attrs.transposeA === true && transposeWhich.a;
    const tB = attrs.transposeB === true && transposeWhich.b;
    if (!tA && !tB) return stock(args);
    return runComposite(args.backend as unknown as RefCountingBackend, [a!, b!], (at, bt) => {
      const a2 = tA ? swapLast2(at) : at;
      const b2 = tB ? swapLast2(bt) : bt;
      const out = stock({
        inputs: { a: a2, b: b2 },
        backend: args.backend,
        attrs: { transposeA: attrs.transposeA === true && !tA, transposeB: attrs.transposeB === true && !tB },
      }) as tf.TensorInfo;
      return tf.engine().makeTensorFromTensorInfo(out);
    });
  };
}
