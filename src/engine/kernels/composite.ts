import * as tf from '@tensorflow/tfjs';

/**
 * The slice of the wasm backend that composite kernels touch: reference counts on data ids.
 * (`BackendWasm` is not exported with types from the package root.)
 */
export interface RefCountingBackend {
  incRef(dataId: tf.DataId): void;
}

/**
 * Wraps a kernel input (a `TensorInfo`, in practice usually already a `Tensor`) as a `Tensor`
 * that can be fed to ops and disposed without freeing the caller's data: the backend ref count
 * is raised first, so disposing the wrapper only lowers it back.
 */
export function wrapInput(backend: RefCountingBackend, info: tf.TensorInfo): tf.Tensor {
  backend.incRef(info.dataId);
  return tf.engine().makeTensorFromTensorInfo(info, backend as unknown as tf.KernelBackend);
}

/**
 * Runs `fn` (which composes ordinary tfjs ops on the current backend) inside `tf.tidy` and hands
 * its result back as a kernel output `TensorInfo`, with all intermediates freed. This is how the
 * stock `Identity` kernel returns existing data: bump the ref count, return the data id, and let
 * the engine wrap it. Ops run inside a kernel are not recorded on the gradient tape (the engine
 * only records at kernel depth 0), so composite kernels never pollute gradients.
 */
export function runComposite(
  backend: RefCountingBackend,
  inputs: readonly tf.TensorInfo[],
  fn: (...xs: tf.Tensor[]) => tf.Tensor,
): tf.TensorInfo {
  const res = tf.tidy(() => fn(...inputs.map((i) => wrapInput(backend, i))));
  backend.incRef(res.dataId);
  const info: tf.TensorInfo = { dataId: res.dataId, shape: res.shape.slice(), dtype: res.dtype };
  res.dispose();
  return info;
}

/** NCHW → NHWC for a rank-4 tensor (no-op for NHWC). */
export function toNhwc<T extends tf.Tensor>(t: T, dataFormat: string | undefined): T {
  return dataFormat === 'NCHW' ? (tf.transpose(t, [0, 2, 3, 1]) as T) : t;
}

/** NHWC → NCHW for a rank-4 tensor (no-op for NHWC). */
export function fromNhwc<T extends tf.Tensor>(t: T, dataFormat: string | undefined): T {
  return dataFormat === 'NCHW' ? (tf.transpose(t, [0, 3, 1, 2]) as T) : t;
}

/**
 * Inserts `s - 1` zeros between neighbouring rows/columns of `x` [b, h, w, c], giving
 * [b, (h-1)·sH + 1, (w-1)·sW + 1, c] (the "strided scatter" used by transposed convolutions).
 */
export function dilateSpatial(x: tf.Tensor4D, sH: number, sW: number): tf.Tensor4D {
  if (sH === 1 && sW === 1) return x;
  const [b, h, w, c] = x.shape;
  const spread = tf.pad(tf.reshape(x, [b, h, 1, w, 1, c]), [
    [0, 0],
    [0, 0],
    [0, sH - 1],
    [0, 0],
    [0, sW - 1],
    [0, 0],
  ]);
  const flat = tf.reshape(spread, [b, h * sH, w * sW, c]) as tf.Tensor4D;
  return tf.slice(flat, [0, 0, 0, 0], [b, (h - 1) * sH + 1, (w - 1) * sW + 1, c]);
}
