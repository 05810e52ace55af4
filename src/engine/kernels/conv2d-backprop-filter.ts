import * as tf from '@tensorflow/tfjs';
import {
  phaseInput,
  runComposite,
  toNhwc,
  windowTap,
  type RefCountingBackend,
  type WindowGeometry,
} from './composite.js';

/** Attributes of the `Conv2DBackpropFilter` kernel (as tfjs-core passes them). */
export interface Conv2DBackpropFilterAttrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

/** Upper bound on the im2col block (floats) built at once; larger filters are done in groups of taps. */
const MAX_COL_FLOATS = 1 << 24;

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
 * dilation = the forward stride) = [ci, ≥fh, ≥fw, co], cropped and transposed to [fh, fw, ci, co].
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
 * dW as an im2col GEMM. Each filter tap's window view of the input is one [n = b·oh·ow, ci]
 * matrix (a contiguous slice after {@link phaseInput}); the taps are concatenated into an im2col block
 * col = [n, taps·ci] and the gradient is one GEMM colᵀ·dy (or (dyᵀ·col)ᵀ, whichever needs the
 * smaller explicit transpose), which XNNPACK runs at full speed.
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
    const info = convInfo(xs, attrs);
    const g: WindowGeometry = {
      fh,
      fw,
      sH: info.strideHeight,
      sW: info.strideWidth,
      oh: info.outHeight,
      ow: info.outWidth,
      top: info.padInfo.top,
      left: info.padInfo.left,
    };
    const n = info.batchSize * g.oh * g.ow;
    const p = phaseInput(xs, g, 0);
    const dy2 = tf.reshape(dys, [n, co]) as tf.Tensor2D;
    const nTaps = fh * fw;
    const perGroup = Math.max(1, Math.min(nTaps, Math.floor(MAX_COL_FLOATS / Math.max(1, n * ci))));
    // Transpose whichever operand is smaller: col (n × taps·ci) or dy (n × co).
    const transposeCol = perGroup * ci <= co;
    const dyT = transposeCol ? undefined : (tf.transpose(dy2) as tf.Tensor2D);
    const blocks: tf.Tensor2D[] = [];
    for (let t0 = 0; t0 < nTaps; t0 += perGroup) {
      const taps: tf.Tensor[] = [];
      for (let t = t0; t < Math.min(nTaps, t0 + perGroup); t++) {
        taps.push(tf.reshape(windowTap(p, g, Math.floor(t / fw), t % fw), [n, ci]));
      }
      const col = (taps.length === 1 ? taps[0]! : tf.concat(taps, 1)) as tf.Tensor2D;
      // Block rows are (tap, ci) pairs in filter order; always [taps·ci, co] after this.
      const block = transposeCol ? tf.matMul(tf.transpose(col), dy2) : tf.transpose(tf.matMul(dyT!, col));
      blocks.push(block as tf.Tensor2D);
    }
    const all = blocks.length === 1 ? blocks[0]! : tf.concat(blocks, 0);
    return tf.reshape(all, [fh, fw, ci, co]) as tf.Tensor4D;
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
