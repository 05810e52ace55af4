import * as tf from '@tensorflow/tfjs';
import { dilateSpatial, runComposite, type RefCountingBackend } from './composite.js';

/** Attributes of the `MaxPoolGrad` kernel (as tfjs-core passes them). */
export interface MaxPoolGradAttrs {
  filterSize: [number, number] | number;
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/**
 * Gradient of 2-D max pooling, from forward ops only: each output's gradient goes to the first
 * window position (row-major scan, as the cpu backend does) whose input equals the pooled max.
 * For every window tap (kh, kw) the strided view of the (−∞-padded) input is compared with the
 * pooled output; a running "already taken" mask enforces first-max on ties (common after ReLU,
 * where whole windows are 0). The routed gradients are scattered back with zero-dilation + pad;
 * when windows tile the input exactly (filter = stride, the usual 2×2/2 pool) they are instead
 * interleaved with one stack + transpose.
 *
 * @param dy [b, oh, ow, c]; @param x the pooled input [b, h, w, c]; @param y the pooled output [b, oh, ow, c].
 * @returns dx [b, h, w, c]; a new tensor owned by the caller.
 */
export function maxPoolGradComposite(
  dy: tf.Tensor4D,
  x: tf.Tensor4D,
  y: tf.Tensor4D,
  attrs: MaxPoolGradAttrs,
): tf.Tensor4D {
  return tf.tidy(() => {
    const info = tf.backend_util.computePool2DInfo(
      x.shape,
      attrs.filterSize,
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
    );
    const { batchSize: b, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } = info;
    const { strideHeight: sH, strideWidth: sW, filterHeight: fh, filterWidth: fw } = info;
    const { top, left } = info.padInfo;
    const needH = Math.max((oh - 1) * sH + fh, h + top);
    const needW = Math.max((ow - 1) * sW + fw, w + left);
    const xp =
      top === 0 && left === 0 && needH === h && needW === w
        ? x
        : tf.pad(
            x,
            [
              [0, 0],
              [top, needH - h - top],
              [left, needW - w - left],
              [0, 0],
            ],
            -Infinity,
          );
    const zeros = tf.zerosLike(dy);
    let taken: tf.Tensor | undefined;
    const routed: tf.Tensor4D[] = [];
    for (let kh = 0; kh < fh; kh++) {
      for (let kw = 0; kw < fw; kw++) {
        const win =
          sH === 1 && sW === 1
            ? tf.slice(xp, [0, kh, kw, 0], [b, oh, ow, c])
            : tf.stridedSlice(
                xp,
                [0, kh, kw, 0],
                [b, kh + (oh - 1) * sH + 1, kw + (ow - 1) * sW + 1, c],
                [1, sH, sW, 1],
              );
        const hit = tf.equal(win, y);
        const first = taken ? tf.logicalAnd(hit, tf.logicalNot(taken)) : hit;
        taken = taken ? tf.logicalOr(taken, hit) : hit;
        routed.push(tf.where(first, dy, zeros) as tf.Tensor4D);
      }
    }
    const tiles = fh === sH && fw === sW && top === 0 && left === 0;
    if (tiles) {
      // [fh·fw, b, oh, ow, c] → [b, oh, fh, ow, fw, c] → [b, oh·fh, ow·fw, c], then pad the
      // rows/cols that no window covered ('valid' pooling of a size not divisible by the stride).
      const st = tf.reshape(tf.stack(routed), [fh, fw, b, oh, ow, c]);
      const inter = tf.reshape(tf.transpose(st, [2, 3, 0, 4, 1, 5]), [b, oh * fh, ow * fw, c]) as tf.Tensor4D;
      if (oh * fh === h && ow * fw === w) return inter;
      return tf.slice(
        tf.pad(inter, [
          [0, 0],
          [0, Math.max(0, h - oh * fh)],
          [0, Math.max(0, w - ow * fw)],
          [0, 0],
        ]),
        [0, 0, 0, 0],
        [b, h, w, c],
      );
    }
    const dLenH = (oh - 1) * sH + 1;
    const dLenW = (ow - 1) * sW + 1;
    let acc: tf.Tensor4D | undefined;
    let i = 0;
    for (let kh = 0; kh < fh; kh++) {
      for (let kw = 0; kw < fw; kw++) {
        const placed = tf.pad(dilateSpatial(routed[i++]!, sH, sW), [
          [0, 0],
          [kh, needH - kh - dLenH],
          [kw, needW - kw - dLenW],
          [0, 0],
        ]);
        acc = (acc ? tf.add(acc, placed) : placed) as tf.Tensor4D;
      }
    }
    return tf.slice(acc!, [0, top, left, 0], [b, h, w, c]);
  });
}

/** Kernel function for `MaxPoolGrad` on wasm (inputs dy, input, output). */
export function maxPoolGradKernel(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}): tf.TensorInfo {
  const { dy, input, output } = args.inputs;
  const attrs = args.attrs as unknown as MaxPoolGradAttrs;
  return runComposite(args.backend as RefCountingBackend, [dy!, input!, output!], (d, xi, yo) =>
    maxPoolGradComposite(d as tf.Tensor4D, xi as tf.Tensor4D, yo as tf.Tensor4D, attrs),
  );
}
