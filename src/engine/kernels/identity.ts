import type * as tf from '@tensorflow/tfjs';

/** What the zero-copy `Identity` needs from the wasm backend. */
interface RefCountingBackend {
  incRef(dataId: object): void;
}

/**
 * Kernel function for `Identity` on wasm without a copy. The stock kernel allocates a new buffer and
 * copies the input into it; tfjs runs `Identity` for every `tf.clone` and for every tensor an op saves
 * for its gradient (each input and output of each layer while training), so a training step copied
 * its activations and weights once more (a CNN step at batch 32: tens of MB). tfjs tensors are
 * immutable — kernels write only their fresh outputs and `Variable.assign` swaps the data id rather
 * than writing in place — so, as the `cpu` backend's `Identity` and every backend's `Reshape` do, the
 * output shares the input's data with its reference count raised. String tensors go to `stock`.
 */
export function makeIdentityKernel(stock: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const x = args.inputs.x!;
    if (x.dtype === 'string') return stock(args);
    (args.backend as unknown as RefCountingBackend).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape.slice(), dtype: x.dtype };
  };
}
