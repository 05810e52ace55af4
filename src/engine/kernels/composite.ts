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
 * Built from reshape + pad + slice, which are fast on wasm (a rank-6 transpose is not).
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

/** Geometry of a sliding 2-D window (convolution or pooling), NHWC. */
export interface WindowGeometry {
  fh: number;
  fw: number;
  sH: number;
  sW: number;
  oh: number;
  ow: number;
  /** Padding rows above / columns left of the input. */
  top: number;
  left: number;
}

/** Padded input split into stride phases, from which every window tap is one contiguous slice. */
export interface PhasedInput {
  /** [b, hs, sH, ws, sW·c]: padded row = i·sH + rh, padded col = j·sW + rw. */
  phased: tf.Tensor;
  hs: number;
  ws: number;
}

/**
 * Pads `x` [b, h, w, c] (with `padValue`) to whole stride blocks covering every window, and views
 * it as [b, hs, sH, ws, sW·c], so that tap (kh, kw) of all windows — rows oh·sH + kh — is the
 * contiguous block slice at (⌊kh/sH⌋, kh mod sH). This replaces strided slices, which the stock
 * wasm StridedSlice runs hundreds of times slower than a plain slice.
 */
export function phaseInput(x: tf.Tensor4D, g: WindowGeometry, padValue = 0): PhasedInput {
  const [b, h, w, c] = x.shape;
  const hs = Math.max(Math.ceil((h + g.top) / g.sH), g.oh + Math.floor((g.fh - 1) / g.sH));
  const ws = Math.max(Math.ceil((w + g.left) / g.sW), g.ow + Math.floor((g.fw - 1) / g.sW));
  const bottom = hs * g.sH - h - g.top;
  const right = ws * g.sW - w - g.left;
  const xp =
    g.top === 0 && g.left === 0 && bottom === 0 && right === 0
      ? x
      : tf.pad(
          x,
          [
            [0, 0],
            [g.top, bottom],
            [g.left, right],
            [0, 0],
          ],
          padValue,
        );
  return { phased: tf.reshape(xp, [b, hs, g.sH, ws, g.sW * c]), hs, ws };
}

/** Tap (kh, kw) of every window: [b, oh, ow, c] with value xPad[b, oh·sH + kh, ow·sW + kw, c]. */
export function windowTap(p: PhasedInput, g: WindowGeometry, kh: number, kw: number): tf.Tensor4D {
  const [b] = p.phased.shape;
  const c = p.phased.shape[4]! / g.sW;
  const qh = Math.floor(kh / g.sH);
  const qw = Math.floor(kw / g.sW);
  const t = tf.slice(p.phased, [0, qh, kh % g.sH, qw, (kw % g.sW) * c], [b!, g.oh, 1, g.ow, c]);
  return tf.reshape(t, [b!, g.oh, g.ow, c]) as tf.Tensor4D;
}

/**
 * Inverse of {@link windowTap} summed over taps: scatters `perTap[kh·fw + kw]` ([b, oh, ow, c],
 * row-major over the window) back to input positions, adding where windows overlap, and crops
 * the padding: returns [b, h, w, c].
 */
export function scatterTaps(
  perTap: readonly tf.Tensor4D[],
  g: WindowGeometry,
  hs: number,
  ws: number,
  h: number,
  w: number,
): tf.Tensor4D {
  const [b, , , c] = perTap[0]!.shape;
  const phase: (tf.Tensor4D | undefined)[] = new Array(g.sH * g.sW).fill(undefined);
  for (let kh = 0; kh < g.fh; kh++) {
    for (let kw = 0; kw < g.fw; kw++) {
      const qh = Math.floor(kh / g.sH);
      const qw = Math.floor(kw / g.sW);
      const t = perTap[kh * g.fw + kw]!;
      const placed =
        qh === 0 && qw === 0 && hs === g.oh && ws === g.ow
          ? t
          : tf.pad(t, [
              [0, 0],
              [qh, hs - g.oh - qh],
              [qw, ws - g.ow - qw],
              [0, 0],
            ]);
      const k = (kh % g.sH) * g.sW + (kw % g.sW);
      phase[k] = (phase[k] ? tf.add(phase[k]!, placed) : placed) as tf.Tensor4D;
    }
  }
  const zeros = phase.some((p) => !p) ? tf.zeros([b, hs, ws, c]) : undefined;
  const rows: tf.Tensor[] = [];
  for (let rh = 0; rh < g.sH; rh++) {
    const cols = phase.slice(rh * g.sW, (rh + 1) * g.sW).map((p) => p ?? zeros!);
    const row = cols.length === 1 ? cols[0]! : tf.concat(cols, 3); // [b, hs, ws, sW·c]
    rows.push(tf.reshape(row, [b, hs, 1, ws * g.sW * c]));
  }
  const full = rows.length === 1 ? rows[0]! : tf.concat(rows, 2); // [b, hs, sH, ws·sW·c]
  const img = tf.reshape(full, [b, hs * g.sH, ws * g.sW, c]) as tf.Tensor4D;
  if (g.top === 0 && g.left === 0 && hs * g.sH === h && ws * g.sW === w) return img;
  return tf.slice(img, [0, g.top, g.left, 0], [b, h, w, c]);
}
