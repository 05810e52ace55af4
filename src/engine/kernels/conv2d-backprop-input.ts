import * as tf from '@tensorflow/tfjs';
import { dilateSpatial, fromNhwc, runComposite, toNhwc, type RefCountingBackend } from './composite.js';

/** Attributes of the `Conv2DBackpropInput` kernel (as tfjs-core passes them). */
export interface Conv2DBackpropInputAttrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  inputShape: [number, number, number, number];
}

/**
 * The padding a stride-1 forward convolution of the zero-dilated dy needs so that it yields dx,
 * or undefined when the forward padding makes that impossible (negative padding: only reachable
 * with unusual explicit pads or 'ceil' rounding; the caller then falls back to the stock kernel).
 */
function transposedPadding(
  info: tf.backend_util.Conv2DInfo,
): { top: number; bottom: number; left: number; right: number } | undefined {
  const { filterHeight: fh, filterWidth: fw, inHeight: h, inWidth: w, outHeight: oh, outWidth: ow } = info;
  const { strideHeight: sH, strideWidth: sW } = info;
  const top = fh - 1 - info.padInfo.top;
  const left = fw - 1 - info.padInfo.left;
  // The stride-1 conv over (dilated length + top + bottom) must give exactly h rows.
  const bottom = h + fh - 1 - top - ((oh - 1) * sH + 1);
  const right = w + fw - 1 - left - ((ow - 1) * sW + 1);
  if (top < 0 || left < 0 || bottom < 0 || right < 0) return undefined;
  return { top, bottom, left, right };
}

/** Whether {@link conv2dBackpropInputComposite} handles these attributes (else use the stock kernel). */
export function conv2dBackpropInputSupported(
  filterShape: readonly number[],
  attrs: Conv2DBackpropInputAttrs,
): boolean {
  const inNhwc =
    attrs.dataFormat === 'NCHW'
      ? [attrs.inputShape[0], attrs.inputShape[2], attrs.inputShape[3], attrs.inputShape[1]]
      : attrs.inputShape;
  const info = tf.backend_util.computeConv2DInfo(
    inNhwc as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
  return transposedPadding(info) !== undefined;
}

/**
 * [fh, fw, ci, co] → spatially flipped, channel-swapped [fh, fw, co, ci]. Reversing the
 * flattened tap axis reverses kh and kw at once; it is done with contiguous slices + concat
 * because the stock wasm Reverse kernel is ~50× slower than a copy.
 */
function flipFilter(filter: tf.Tensor4D): tf.Tensor4D {
  const [fh, fw, ci, co] = filter.shape;
  const taps = fh * fw;
  const flat = tf.reshape(filter, [taps, ci, co]);
  const flipped =
    taps === 1
      ? flat
      : tf.concat(
          Array.from({ length: taps }, (_, t) => tf.slice(flat, [taps - 1 - t, 0, 0], [1, ci, co])),
          0,
        );
  return tf.reshape(tf.transpose(flipped, [0, 2, 1]), [fh, fw, co, ci]) as tf.Tensor4D;
}

/**
 * Gradient of a 2-D convolution with respect to its input, as one forward convolution:
 * dx = conv2d(dilate(dy, strides), flip(W)ᵀ) with stride 1 and padding (f − 1 − pad) on each
 * side, where flip reverses the spatial taps and ᵀ swaps in/out channels. For stride s > 1 the
 * zero-dilation costs s² redundant multiply-adds, still far cheaper than the stock direct loop.
 *
 * @param dy output gradient, [b, oh, ow, co] (or NCHW with `dataFormat: 'NCHW'`).
 * @param filter [fh, fw, ci, co].
 * @returns dx with shape `attrs.inputShape`; a new tensor owned by the caller.
 * @throws Error when the padding is not expressible (see {@link conv2dBackpropInputSupported}).
 */
export function conv2dBackpropInputComposite(
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  attrs: Conv2DBackpropInputAttrs,
): tf.Tensor4D {
  return tf.tidy(() => {
    const dys = toNhwc(dy, attrs.dataFormat);
    const s = attrs.inputShape;
    const inNhwc: [number, number, number, number] = attrs.dataFormat === 'NCHW' ? [s[0], s[2], s[3], s[1]] : s;
    const info = tf.backend_util.computeConv2DInfo(
      inNhwc,
      filter.shape,
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
      false,
      'channelsLast',
    );
    const p = transposedPadding(info);
    if (!p) {
      throw new Error(
        `Conv2DBackpropInput: padding ${JSON.stringify(attrs.pad)} with strides ${JSON.stringify(attrs.strides)} ` +
          `is not expressible as a forward convolution`,
      );
    }
    const wT = flipFilter(filter);
    const dyd = dilateSpatial(dys, info.strideHeight, info.strideWidth);
    const dx = tf.conv2d(dyd, wT, 1, [
      [0, 0],
      [p.top, p.bottom],
      [p.left, p.right],
      [0, 0],
    ]);
    return fromNhwc(dx, attrs.dataFormat);
  });
}

/**
 * Kernel function for `Conv2DBackpropInput` on wasm (inputs dy, filter); `fallback` is the stock
 * kernel, used for paddings the composite cannot express.
 */
export function makeConv2dBackpropInputKernel(fallback: tf.KernelFunc | undefined): tf.KernelFunc {
  return (args) => {
    const { dy, filter } = args.inputs;
    const attrs = args.attrs as unknown as Conv2DBackpropInputAttrs;
    if (fallback && !conv2dBackpropInputSupported(filter!.shape, attrs)) return fallback(args);
    return runComposite(args.backend as unknown as RefCountingBackend, [dy!, filter!], (dyt, ft) =>
      conv2dBackpropInputComposite(dyt as tf.Tensor4D, ft as tf.Tensor4D, attrs),
    );
  };
}
