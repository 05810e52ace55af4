import * as tf from '@tensorflow/tfjs';
import { phaseInput, runComposite, scatterTaps, windowTap, type RefCountingBackend, type WindowGeometry } from './composite.js';

/** Attributes of the `MaxPoolGrad` kernel (as tfjs-core passes them). */
export interface MaxPoolGradAttrs {
  filterSize: [number, number] | number;
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/**
 * Gradient of 2-D max pooling, from fast forward ops only: each output's gradient goes to the
 * first window position (row-major scan, as the cpu backend does) whose input equals the pooled
 * max. For every window tap (kh, kw) the tap view of the (−∞-padded) input is compared with the
 * pooled output (`step(y − x)` is 0 exactly where x = y, since x ≤ y); a running "still
 * unclaimed" mask enforces first-max on ties, which are common after ReLU (all-zero windows).
 * The routed gradients are scattered back by {@link scatterTaps}. Only slices of contiguous runs,
 * pads, concats and SIMD elementwise float ops (sub, mul, step) are used: the stock wasm
 * strided slice, compare, sign, select and high-rank transpose/broadcast kernels are each
 * several times slower than the whole of this.
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
    const g: WindowGeometry = {
      fh: info.filterHeight,
      fw: info.filterWidth,
      sH: info.strideHeight,
      sW: info.strideWidth,
      oh: info.outHeight,
      ow: info.outWidth,
      top: info.padInfo.top,
      left: info.padInfo.left,
    };
    const p = phaseInput(x, g, -Infinity);
    let unclaimed: tf.Tensor | undefined; // 1 where no earlier tap has taken the gradient
    const routed: tf.Tensor4D[] = [];
    for (let kh = 0; kh < g.fh; kh++) {
      for (let kw = 0; kw < g.fw; kw++) {
        // 1 where this tap is below the max (x < y), 0 where it is a max.
        const miss = tf.step(tf.sub(y, windowTap(p, g, kh, kw)));
        const still = unclaimed ? tf.mul(unclaimed, miss) : miss;
        const take = unclaimed ? tf.sub(unclaimed, still) : tf.sub(1, miss);
        unclaimed = still;
        routed.push(tf.mul(dy, take) as tf.Tensor4D);
      }
    }
    return scatterTaps(routed, g, p.hs, p.ws, info.inHeight, info.inWidth);
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
