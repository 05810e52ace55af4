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

/**
 * Gradient of a 2-D convolution with respect to its filter, built from fast forward ops.
 *
 * dW[kh, kw, ci, co] = Σ_{b, oh, ow} xPad[b, oh·sH + kh, ow·sW + kw, ci] · dy[b, oh, ow, co].
 * For each filter tap (kh, kw) the strided window of the (padded, channel-major) input is one
 * [ci, b·oh·ow] matrix, so the tap's gradient is one plain matMul with dy as [b·oh·ow, co]:
 * fh·fw GEMMs with a long inner dimension, which XNNPACK runs at full speed.
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
  return tf.tidy(() => {
    const xs = toNhwc(x, attrs.dataFormat);
    const dys = toNhwc(dy, attrs.dataFormat);
    const [fh, fw, ci, co] = attrs.filterShape;
    const info = tf.backend_util.computeConv2DInfo(
      xs.shape,
      attrs.filterShape,
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
      false,
      'channelsLast',
    );
    const { batchSize: b, inHeight: h, inWidth: w, outHeight: oh, outWidth: ow, strideHeight: sH, strideWidth: sW } =
      info;
    const { top, left } = info.padInfo;
    // Rows/cols of the padded input the windows actually reach (may exceed the nominal padding
    // under 'ceil' rounding; cropping/padding to it keeps every tap slice in bounds).
    const needH = (oh - 1) * sH + fh;
    const needW = (ow - 1) * sW + fw;
    let xp = xs;
    if (top !== 0 || left !== 0 || needH !== h + top || needW !== w + left) {
      const bottom = needH - h - top;
      const right = needW - w - left;
      xp = tf.pad(xs, [
        [0, 0],
        [top, Math.max(0, bottom)],
        [left, Math.max(0, right)],
        [0, 0],
      ]);
    }
    // Channel-major so that each tap window flattens to [ci, b·oh·ow] without a transposed matMul.
    const xt = tf.transpose(xp, [3, 0, 1, 2]);
    const n = b * oh * ow;
    const dy2 = tf.reshape(dys, [n, co]);
    const taps: tf.Tensor[] = [];
    for (let kh = 0; kh < fh; kh++) {
      for (let kw = 0; kw < fw; kw++) {
        const win =
          sH === 1 && sW === 1
            ? tf.slice(xt, [0, 0, kh, kw], [ci, b, oh, ow])
            : tf.stridedSlice(
                xt,
                [0, 0, kh, kw],
                [ci, b, kh + (oh - 1) * sH + 1, kw + (ow - 1) * sW + 1],
                [1, 1, sH, sW],
              );
        taps.push(tf.matMul(tf.reshape(win, [ci, n]) as tf.Tensor2D, dy2 as tf.Tensor2D));
      }
    }
    return tf.reshape(tf.stack(taps), [fh, fw, ci, co]) as tf.Tensor4D;
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
