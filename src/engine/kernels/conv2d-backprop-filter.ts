import * as tf from '@tensorflow/tfjs';
import { runComposite, toNhwc, type RefCountingBackend } from './composite.js';

/** Attributes of the `Conv2DBackpropFilter` kernel (as tfjs-core passes them). */
export interface Conv2DBackpropFilterAttrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

/** From this many input channels on, the convolution form is used (it wins for wide layers). */
const CONV_FORM_MIN_CHANNELS = 16;

/**
 * Gradient of a 2-D convolution with respect to its filter, built from fast forward ops.
 *
 * dW[kh, kw, ci, co] = Σ_{b, oh, ow} xPad[b, oh·sH + kh, ow·sW + kw, ci] · dy[b, oh, ow, co].
 *
 * Two exact formulations, picked by width: for ci ≥ 16 the sum is itself a forward convolution
 * (batch ↔ channel roles swapped: input xPadᵀ [ci, hp, wp, b], filter dyᵀ [oh, ow, b, co],
 * dilation = stride; {@link conv2dBackpropFilterAsConv}), one XNNPACK call; for narrow inputs
 * (e.g. RGB first layers) that conv would have a 3-image batch and a huge filter, so an im2col
 * GEMM is used instead ({@link conv2dBackpropFilterIm2col}).
 * The stock wasm backend has no Conv2DBackpropFilter at all, so without this no CNN trains there.
 *
 * @param x input, [b, h, w, ci] (or NCHW with `dataFormat: 'NCHW'`).
 * @param dy output gradient, [b, oh, ow, co] (same layout as x).
 * @returns dW, [fh, fw, ci, co]; a new tensor owned by the caller.
 */
export function conv2dBackpropFilterComposite(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  attrs: Conv2DBackpropFilterAttrs,
): tf.Tensor4D {
  return attrs.filterShape[2] >= CONV_FORM_MIN_CHANNELS
    ? conv2dBackpropFilterAsConv(x, dy, attrs)
    : conv2dBackpropFilterIm2col(x, dy, attrs);
}

function convInfo(xs: tf.Tensor4D, attrs: Conv2DBackpropFilterAttrs): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    xs.shape,
    attrs.filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
}

/**
 * dW as one forward convolution: conv2d(xPadᵀ [ci, hp, wp, b], dyᵀ [oh, ow, b, co], stride 1,
 * dilation = the forward stride) = [ci, fh, fw, co] (x is padded or cropped to exactly the rows
 * and columns the windows reach), transposed to [fh, fw, ci, co].
 * Same arguments and result as {@link conv2dBackpropFilterComposite}.
 */
export function conv2dBackpropFilterAsConv(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  attrs: Conv2DBackpropFilterAttrs,
): tf.Tensor4D {
  return tf.tidy(() => {
    const xs = toNhwc(x, attrs.dataFormat);
    const dys = toNhwc(dy, attrs.dataFormat);
    const [fh, fw, ci] = attrs.filterShape;
    const info = convInfo(xs, attrs);
    const { top, left } = info.padInfo;
    const { strideHeight: sH, strideWidth: sW, outHeight: oh, outWidth: ow, inHeight: h, inWidth: w } = info;
    // Pad to exactly the rows/cols the windows reach.
    const bottom = (oh - 1) * sH + fh - h - top;
    const right = (ow - 1) * sW + fw - w - left;
    let xp: tf.Tensor4D = xs;
    if (top !== 0 || left !== 0 || bottom !== 0 || right !== 0) {
      xp = tf.pad(xs, [
        [0, 0],
        [top, Math.max(0, bottom)],
        [left, Math.max(0, right)],
        [0, 0],
      ]);
      if (bottom < 0 || right < 0) xp = tf.slice(xp, [0, 0, 0, 0], [xp.shape[0], h + top + bottom, w + left + right, ci]);
    }
    const xt = tf.transpose(xp, [3, 1, 2, 0]) as tf.Tensor4D; // [ci, hp, wp, b]
    const dyt = tf.transpose(dys, [1, 2, 0, 3]) as tf.Tensor4D; // [oh, ow, b, co]
    const r = tf.conv2d(xt, dyt, 1, 'valid', 'NHWC', [sH, sW]); // [ci, fh, fw, co]
    return tf.transpose(r, [1, 2, 0, 3]) as tf.Tensor4D;
  });
}

/**
 * dW as an im2col GEMM, with the im2col itself done by XNNPACK: a convolution of x with the
 * one-hot filter E [fh, fw, ci, fh·fw·ci] (E[kh, kw, c, (kh·fw + kw)·ci + c] = 1) copies every
 * window into one row of col [n = b·oh·ow, fh·fw·ci] exactly (products with 1 and sums of 0),
 * handling stride and padding natively. Then dW = colᵀ·dy, one GEMM. The extra conv costs
 * (fh·fw·ci)² multiply-adds per output pixel, so this is used only for narrow inputs.
 * Same arguments and result as {@link conv2dBackpropFilterComposite}.
 */
export function conv2dBackpropFilterIm2col(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  attrs: Conv2DBackpropFilterAttrs,
): tf.Tensor4D {
  return tf.tidy(() => {
    const xs = toNhwc(x, attrs.dataFormat);
    const dys = toNhwc(dy, attrs.dataFormat);
    const [fh, fw, ci, co] = attrs.filterShape;
    const k = fh * fw * ci;
    const eye = tf.reshape(tf.eye(k), [fh, fw, ci, k]) as tf.Tensor4D;
    const col = tf.conv2d(xs, eye, attrs.strides, attrs.pad, 'NHWC', 1, attrs.dimRoundingMode);
    const n = col.shape[0] * col.shape[1] * col.shape[2];
    const dW = tf.matMul(tf.transpose(tf.reshape(col, [n, k])) as tf.Tensor2D, tf.reshape(dys, [n, co]) as tf.Tensor2D);
    return tf.reshape(dW, [fh, fw, ci, co]) as tf.Tensor4D;
  });
}

/** Kernel function for `Conv2DBackpropFilter` on wasm (inputs x, dy). */
export function conv2dBackpropFilterKernel(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}): tf.TensorInfo {
  const { x, dy } = args.inputs;
  const attrs = args.attrs as unknown as Conv2DBackpropFilterAttrs;
  return runComposite(args.backend as RefCountingBackend, [x!, dy!], (xt, dyt) =>
    conv2dBackpropFilterComposite(xt as tf.Tensor4D, dyt as tf.Tensor4D, attrs),
  );
}
