/**
 * tfjs kernels on the wasm backend that run on the native engine (oneDNN, see `native.ts`):
 * `Conv2D`, `FusedConv2D`, `Conv2DBackpropInput`, `Conv2DBackpropFilter`, `BatchMatMul`,
 * `_FusedMatMul`, `MaxPool`, `MaxPoolGrad`, and large `Multiply`, `Sum` and `Mean`.
 *
 * Each kernel reads its inputs and writes its output in place in the wasm heap: the output is
 * allocated first with the backend's own allocator (`makeOutput`, which may grow the heap and
 * replace its ArrayBuffer), then the heap buffer and the tensors' byte offsets are read and handed
 * to the addon. Cases the native code does not cover (NCHW data, non-float32 dtypes, PReLU, batch
 * broadcasting beyond a batch of 1, empty tensors, rounding modes whose output size disagrees with
 * the padding) go to the kernel that was registered before (this library's wasm kernels).
 */
import * as tf from '@tensorflow/tfjs';
import { ArgumentError, ShapeError } from '../errors.js';
import type { NativeAddon } from './native-types.js';
import { ADAM_UPDATE_KERNEL, registerFusedAdamKernels } from './fused-adam.js';
import { BATCH_NORM_GRAD_KERNEL, BATCH_NORM_KERNEL, registerBatchNormKernels } from './batch-norm.js';

const BACKEND = 'wasm';

/** What the native kernels need from the wasm backend (its class is not exported with types). */
interface HeapBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  dataIdMap: { get(id: tf.DataId): { memoryOffset: number; dtype: tf.DataType } | undefined };
  wasm: { HEAPU8: Uint8Array };
}

/** Native kernel names, in registration order. */
export const NATIVE_KERNEL_NAMES = [
  'Conv2D',
  'FusedConv2D',
  'Conv2DBackpropInput',
  'Conv2DBackpropFilter',
  'BatchMatMul',
  '_FusedMatMul',
  'MaxPool',
  'MaxPoolGrad',
  'Multiply',
  'Sum',
  'Mean',
  ADAM_UPDATE_KERNEL,
  BATCH_NORM_KERNEL,
  BATCH_NORM_GRAD_KERNEL,
] as const;

/** Below this many elements, `Multiply`, `Sum` and `Mean` stay on wasm (a native call costs more than it saves). */
const ELEMENTWISE_MIN = 1 << 16;

const ACTIVATIONS: Record<string, number> = { linear: 0, relu: 1, relu6: 2, elu: 3, sigmoid: 4, leakyrelu: 5 };

/** Byte offset of float32 tensor `t` in the wasm heap; throws a named error for anything else. */
function offsetOf(be: HeapBackend, t: tf.TensorInfo, name: string): number {
  if (t.dtype !== 'float32') throw new ArgumentError(`native kernel: ${name} must be float32, got ${t.dtype}`);
  const d = be.dataIdMap.get(t.dataId);
  if (!d || typeof d.memoryOffset !== 'number') {
    throw new ArgumentError(`native kernel: ${name} is not a tensor of the wasm backend`);
  }
  return d.memoryOffset;
}

function rank(t: tf.TensorInfo, r: number, name: string): void {
  if (t.shape.length !== r) {
    throw new ShapeError(`native kernel: ${name} must have rank ${r}, got shape [${t.shape.join(', ')}]`);
  }
}

/** Native geometry [n,h,w,ic,kh,kw,oc,oh,ow,sh,sw,dh,dw,pt,pl,pb,pr] of a conv, or undefined if oneDNN's output size differs. */
function convGeom(info: tf.backend_util.Conv2DInfo): Int32Array | undefined {
  const { top, left, bottom, right } = info.padInfo;
  const eh = (info.filterHeight - 1) * info.dilationHeight + 1;
  const ew = (info.filterWidth - 1) * info.dilationWidth + 1;
  const h = info.inHeight + top + bottom - eh;
  const w = info.inWidth + left + right - ew;
  if (h < 0 || w < 0 || Math.floor(h / info.strideHeight) + 1 !== info.outHeight || Math.floor(w / info.strideWidth) + 1 !== info.outWidth) {
    return undefined;
  }
  if ([top, left, bottom, right].some((p) => p < 0)) return undefined;
  return Int32Array.from([
    info.batchSize,
    info.inHeight,
    info.inWidth,
    info.inChannels,
    info.filterHeight,
    info.filterWidth,
    info.outChannels,
    info.outHeight,
    info.outWidth,
    info.strideHeight,
    info.strideWidth,
    info.dilationHeight,
    info.dilationWidth,
    top,
    left,
    bottom,
    right,
  ]);
}

type Args = Parameters<tf.KernelFunc>[0];
type Conv2DAttrs = {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dilations?: [number, number] | number;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  activation?: string;
  leakyreluAlpha?: number;
};

const isEmpty = (...ts: tf.TensorInfo[]) => ts.some((t) => tf.util.sizeFromShape(t.shape) === 0);

function makeConv2D(addon: NativeAddon, fallback: tf.KernelFunc, fused: boolean): tf.KernelFunc {
  return (args: Args) => {
    const { x, filter, bias, preluActivationWeights } = args.inputs;
    const attrs = args.attrs as unknown as Conv2DAttrs;
    const act = fused ? ACTIVATIONS[attrs.activation ?? 'linear'] : 0;
    if (
      attrs.dataFormat === 'NCHW' ||
      x!.dtype !== 'float32' ||
      filter!.dtype !== 'float32' ||
      act === undefined ||
      preluActivationWeights != null ||
      (bias != null && (bias.dtype !== 'float32' || tf.util.sizeFromShape(bias.shape) !== filter!.shape[3])) ||
      x!.shape.length !== 4 ||
      filter!.shape.length !== 4 ||
      isEmpty(x!, filter!)
    ) {
      return fallback(args);
    }
    const info = tf.backend_util.computeConv2DInfo(
      x!.shape as [number, number, number, number],
      filter!.shape as [number, number, number, number],
      attrs.strides,
      attrs.dilations ?? 1,
      attrs.pad,
      attrs.dimRoundingMode,
      false,
      'channelsLast',
    );
    const geom = convGeom(info);
    if (!geom) return fallback(args);
    return conv2dNative(addon, args.backend as HeapBackend, x!, filter!, geom, bias, act, attrs.leakyreluAlpha ?? 0.2);
  };
}

/** y = act(conv(x, filter) + bias) on the native engine; geometry already computed. */
function conv2dNative(
  addon: NativeAddon,
  be: HeapBackend,
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  geom: Int32Array,
  bias: tf.TensorInfo | undefined,
  act: number,
  alpha: number,
): tf.TensorInfo {
  const out = be.makeOutput([geom[0]!, geom[7]!, geom[8]!, geom[6]!], 'float32');
  try {
    addon.conv2d(
      be.wasm.HEAPU8.buffer as ArrayBuffer,
      offsetOf(be, x, 'x'),
      offsetOf(be, filter, 'filter'),
      offsetOf(be, out, 'output'),
      geom,
      bias ? offsetOf(be, bias, 'bias') : -1,
      act,
      alpha,
    );
  } catch (e) {
    disposeOutput(be, out);
    throw e;
  }
  return out;
}

function disposeOutput(be: HeapBackend, out: tf.TensorInfo): void {
  (be as unknown as tf.KernelBackend).disposeData(out.dataId, true);
}

function makeConv2DBackpropInput(addon: NativeAddon, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args: Args) => {
    const { dy, filter } = args.inputs;
    const attrs = args.attrs as unknown as Conv2DAttrs & { inputShape: [number, number, number, number] };
    if (attrs.dataFormat === 'NCHW' || dy!.dtype !== 'float32' || filter!.dtype !== 'float32' || isEmpty(dy!, filter!)) {
      return fallback(args);
    }
    rank(dy!, 4, 'dy');
    rank(filter!, 4, 'filter');
    const info = tf.backend_util.computeConv2DInfo(
      attrs.inputShape,
      filter!.shape as [number, number, number, number],
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
      false,
      'channelsLast',
    );
    const geom = convGeom(info);
    if (!geom || tf.util.sizeFromShape(attrs.inputShape) === 0) return fallback(args);
    checkShape(dy!, [info.batchSize, info.outHeight, info.outWidth, info.outChannels], 'dy');
    const be = args.backend as HeapBackend;
    const out = be.makeOutput(attrs.inputShape.slice(), 'float32');
    try {
      addon.conv2dBackpropInput(
        be.wasm.HEAPU8.buffer as ArrayBuffer,
        offsetOf(be, dy!, 'dy'),
        offsetOf(be, filter!, 'filter'),
        offsetOf(be, out, 'output'),
        geom,
      );
    } catch (e) {
      disposeOutput(be, out);
      throw e;
    }
    return out;
  };
}

function makeConv2DBackpropFilter(addon: NativeAddon, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args: Args) => {
    const { x, dy } = args.inputs;
    const attrs = args.attrs as unknown as Conv2DAttrs & { filterShape: [number, number, number, number] };
    if (attrs.dataFormat === 'NCHW' || x!.dtype !== 'float32' || dy!.dtype !== 'float32' || isEmpty(x!, dy!)) {
      return fallback(args);
    }
    rank(x!, 4, 'x');
    rank(dy!, 4, 'dy');
    const info = tf.backend_util.computeConv2DInfo(
      x!.shape as [number, number, number, number],
      attrs.filterShape,
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
      false,
      'channelsLast',
    );
    const geom = convGeom(info);
    if (!geom || tf.util.sizeFromShape(attrs.filterShape) === 0) return fallback(args);
    checkShape(dy!, [info.batchSize, info.outHeight, info.outWidth, info.outChannels], 'dy');
    const be = args.backend as HeapBackend;
    const out = be.makeOutput(attrs.filterShape.slice(), 'float32');
    try {
      addon.conv2dBackpropFilter(
        be.wasm.HEAPU8.buffer as ArrayBuffer,
        offsetOf(be, x!, 'x'),
        offsetOf(be, dy!, 'dy'),
        offsetOf(be, out, 'output'),
        geom,
      );
    } catch (e) {
      disposeOutput(be, out);
      throw e;
    }
    return out;
  };
}

function checkShape(t: tf.TensorInfo, want: number[], name: string): void {
  if (!tf.util.arraysEqual(t.shape, want)) {
    throw new ShapeError(`native kernel: ${name} must have shape [${want.join(', ')}], got [${t.shape.join(', ')}]`);
  }
}

function makeMatMul(addon: NativeAddon, fallback: tf.KernelFunc, fused: boolean): tf.KernelFunc {
  return (args: Args) => {
    const { a, b, bias, preluActivationWeights } = args.inputs;
    const attrs = (args.attrs ?? {}) as { transposeA?: boolean; transposeB?: boolean; activation?: string; leakyreluAlpha?: number };
    const act = fused ? ACTIVATIONS[attrs.activation ?? 'linear'] : 0;
    const biasLen = bias ? tf.util.sizeFromShape(bias.shape) : 0;
    if (
      a!.dtype !== 'float32' ||
      b!.dtype !== 'float32' ||
      act === undefined ||
      preluActivationWeights != null ||
      (bias != null && (bias.dtype !== 'float32' || bias.shape.length > 1)) ||
      a!.shape.length < 2 ||
      b!.shape.length < 2 ||
      isEmpty(a!, b!)
    ) {
      return fallback(args);
    }
    const ra = a!.shape.length;
    const rb = b!.shape.length;
    const tA = attrs.transposeA === true;
    const tB = attrs.transposeB === true;
    const m = tA ? a!.shape[ra - 1]! : a!.shape[ra - 2]!;
    const k = tA ? a!.shape[ra - 2]! : a!.shape[ra - 1]!;
    const kb = tB ? b!.shape[rb - 1]! : b!.shape[rb - 2]!;
    const n = tB ? b!.shape[rb - 2]! : b!.shape[rb - 1]!;
    if (k !== kb) {
      throw new ShapeError(
        `native kernel: matMul inner dimensions must agree, got a [${a!.shape.join(', ')}] (transposeA ${tA}) and ` +
          `b [${b!.shape.join(', ')}] (transposeB ${tB})`,
      );
    }
    if (bias != null && biasLen !== n && biasLen !== 1) return fallback(args);
    const batchShapeA = a!.shape.slice(0, -2);
    const batchShapeB = b!.shape.slice(0, -2);
    const ba = tf.util.sizeFromShape(batchShapeA);
    const bb = tf.util.sizeFromShape(batchShapeB);
    let batchShape: number[];
    if (ba === bb && tf.util.arraysEqual(batchShapeA, batchShapeB)) batchShape = batchShapeA;
    else if (ba === 1 || bb === 1) batchShape = tf.backend_util.assertAndGetBroadcastShape(batchShapeA, batchShapeB);
    else return fallback(args);
    const be = args.backend as HeapBackend;
    const out = be.makeOutput([...batchShape, m, n], 'float32');
    try {
      addon.matMul(
        be.wasm.HEAPU8.buffer as ArrayBuffer,
        offsetOf(be, a!, 'a'),
        offsetOf(be, b!, 'b'),
        offsetOf(be, out, 'output'),
        Int32Array.from([ba, bb, m, n, k, tA ? 1 : 0, tB ? 1 : 0]),
        bias ? offsetOf(be, bias, 'bias') : -1,
        biasLen,
        act,
        attrs.leakyreluAlpha ?? 0.2,
      );
    } catch (e) {
      disposeOutput(be, out);
      throw e;
    }
    return out;
  };
}

type PoolAttrs = {
  filterSize: [number, number] | number;
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
};

/** Native pool geometry [n,h,w,c,kh,kw,oh,ow,sh,sw,dh,dw,pt,pl], or undefined when a window would start outside the input. */
function poolGeom(info: tf.backend_util.Conv2DInfo): Int32Array | undefined {
  const { top, left } = info.padInfo;
  if (top < 0 || left < 0) return undefined;
  if ((info.outHeight - 1) * info.strideHeight - top >= info.inHeight) return undefined;
  if ((info.outWidth - 1) * info.strideWidth - left >= info.inWidth) return undefined;
  return Int32Array.from([
    info.batchSize,
    info.inHeight,
    info.inWidth,
    info.inChannels,
    info.filterHeight,
    info.filterWidth,
    info.outHeight,
    info.outWidth,
    info.strideHeight,
    info.strideWidth,
    info.dilationHeight,
    info.dilationWidth,
    top,
    left,
  ]);
}

function poolInfo(x: tf.TensorInfo, attrs: PoolAttrs): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computePool2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterSize,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
}

function makeMaxPool(addon: NativeAddon, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args: Args) => {
    const { x } = args.inputs;
    const attrs = args.attrs as unknown as PoolAttrs;
    if (x!.dtype !== 'float32' || x!.shape.length !== 4 || isEmpty(x!)) return fallback(args);
    const info = poolInfo(x!, attrs);
    const geom = poolGeom(info);
    if (!geom || info.outHeight <= 0 || info.outWidth <= 0) return fallback(args);
    const be = args.backend as HeapBackend;
    const out = be.makeOutput(info.outShape.slice(), 'float32');
    try {
      addon.maxPool(be.wasm.HEAPU8.buffer as ArrayBuffer, offsetOf(be, x!, 'x'), offsetOf(be, out, 'output'), geom);
    } catch (e) {
      disposeOutput(be, out);
      throw e;
    }
    return out;
  };
}

function makeMaxPoolGrad(addon: NativeAddon, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args: Args) => {
    const { dy, input } = args.inputs;
    const attrs = args.attrs as unknown as PoolAttrs;
    if (input!.dtype !== 'float32' || dy!.dtype !== 'float32' || input!.shape.length !== 4 || isEmpty(input!, dy!)) {
      return fallback(args);
    }
    const info = poolInfo(input!, attrs);
    const geom = poolGeom(info);
    if (!geom) return fallback(args);
    checkShape(dy!, info.outShape, 'dy');
    const be = args.backend as HeapBackend;
    const out = be.makeOutput(input!.shape.slice(), 'float32');
    try {
      addon.maxPoolGrad(
        be.wasm.HEAPU8.buffer as ArrayBuffer,
        offsetOf(be, dy!, 'dy'),
        offsetOf(be, input!, 'input'),
        offsetOf(be, out, 'output'),
        geom,
      );
    } catch (e) {
      disposeOutput(be, out);
      throw e;
    }
    return out;
  };
}

/**
 * `Multiply` of two float32 tensors of the same shape (the ReLU gradient dy·step(x), Adam's
 * updates) in parallel; broadcasting, other dtypes and small tensors go to `fallback`.
 */
function makeMultiply(addon: NativeAddon, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args: Args) => {
    const { a, b } = args.inputs;
    const size = tf.util.sizeFromShape(a!.shape);
    if (a!.dtype !== 'float32' || b!.dtype !== 'float32' || size < ELEMENTWISE_MIN || !tf.util.arraysEqual(a!.shape, b!.shape)) {
      return fallback(args);
    }
    const be = args.backend as HeapBackend;
    const out = be.makeOutput(a!.shape.slice(), 'float32');
    try {
      addon.mul(be.wasm.HEAPU8.buffer as ArrayBuffer, offsetOf(be, a!, 'a'), offsetOf(be, b!, 'b'), offsetOf(be, out, 'output'), size);
    } catch (e) {
      disposeOutput(be, out);
      throw e;
    }
    return out;
  };
}

/**
 * `Sum` of a float32 tensor over its leading axes (a bias gradient: [b, h, w, c] → [c]) or its
 * trailing axes, in parallel; other axis sets, dtypes and small tensors go to `fallback`.
 */
function makeSum(addon: NativeAddon, fallback: tf.KernelFunc, mean = false): tf.KernelFunc {
  return (args: Args) => {
    const { x } = args.inputs;
    const attrs = (args.attrs ?? {}) as { axis: number | number[]; keepDims?: boolean };
    const size = tf.util.sizeFromShape(x!.shape);
    if (x!.dtype !== 'float32' || size < ELEMENTWISE_MIN) return fallback(args);
    const r = x!.shape.length;
    const axes = [...new Set(tf.util.parseAxisParam(attrs.axis, x!.shape))].sort((p, q) => p - q);
    if (axes.length === 0 || axes.length === r) return fallback(args);
    const leading = axes.every((ax, i) => ax === i);
    const trailing = axes.every((ax, i) => ax === r - axes.length + i);
    if (!leading && !trailing) return fallback(args);
    const split = leading ? axes.length : r - axes.length;
    const outer = tf.util.sizeFromShape(x!.shape.slice(0, split));
    const inner = tf.util.sizeFromShape(x!.shape.slice(split));
    const kept = x!.shape.map((d, i) => (axes.includes(i) ? 1 : d));
    const outShape = attrs.keepDims ? kept : x!.shape.filter((_, i) => !axes.includes(i));
    const be = args.backend as HeapBackend;
    const out = be.makeOutput(outShape, 'float32');
    try {
      addon.sum(be.wasm.HEAPU8.buffer as ArrayBuffer, offsetOf(be, x!, 'x'), offsetOf(be, out, 'output'), outer, inner, leading ? 1 : 0);
      if (mean) {
        // Mean = sum / count, scaled in place (the output is the small side of the reduction).
        const n = leading ? outer : inner;
        const o = new Float32Array(be.wasm.HEAPU8.buffer, offsetOf(be, out, 'output'), leading ? inner : outer);
        for (let i = 0; i < o.length; i++) o[i] = o[i]! / n;
      }
    } catch (e) {
      disposeOutput(be, out);
      throw e;
    }
    return out;
  };
}

/**
 * `PclAdamUpdate` (the fused Adam step of `FusedAdamOptimizer`) in C++, in parallel above 65,536
 * elements; non-float32 inputs go to `fallback` (the JS loop, which also reports the error).
 */
function makeAdamUpdate(addon: NativeAddon, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args: Args) => {
    const { x, g, m, v } = args.inputs;
    const size = tf.util.sizeFromShape(x!.shape);
    const all = [x, g, m, v];
    if (size === 0 || all.some((t) => t === undefined || t.dtype !== 'float32' || tf.util.sizeFromShape(t.shape) !== size)) return fallback(args);
    const a = (args.attrs ?? {}) as unknown as { lr: number; beta1: number; beta2: number; epsilon: number; c1: number; c2: number };
    const be = args.backend as HeapBackend;
    const outs = [be.makeOutput(x!.shape.slice(), 'float32'), be.makeOutput(x!.shape.slice(), 'float32'), be.makeOutput(x!.shape.slice(), 'float32')];
    try {
      addon.adamUpdate(
        be.wasm.HEAPU8.buffer as ArrayBuffer,
        offsetOf(be, x!, 'x'),
        offsetOf(be, g!, 'g'),
        offsetOf(be, m!, 'm'),
        offsetOf(be, v!, 'v'),
        offsetOf(be, outs[0]!, 'x output'),
        offsetOf(be, outs[1]!, 'm output'),
        offsetOf(be, outs[2]!, 'v output'),
        size,
        Float32Array.of(a.lr, a.beta1, a.beta2, a.epsilon, a.c1, a.c2),
      );
    } catch (e) {
      for (const o of outs) disposeOutput(be, o);
      throw e;
    }
    return outs;
  };
}

/** The batch-norm attributes (see `batch-norm.ts`). */
const bnAttrs = (attrs: tf.NamedAttrMap | undefined): { epsilon: number; relu: boolean } => {
  const a = (attrs ?? {}) as unknown as { epsilon?: number; relu?: boolean };
  return { epsilon: a.epsilon ?? 1e-3, relu: a.relu === true };
};

/** Whether x is a non-empty float32 [.., c] and each of `same` has its shape, each of `perChannel` is float32 [c]. */
function bnShapesOk(x: tf.TensorInfo | undefined, same: (tf.TensorInfo | undefined)[], perChannel: (tf.TensorInfo | undefined)[]): boolean {
  if (!x || x.dtype !== 'float32' || x.shape.length < 2 || tf.util.sizeFromShape(x.shape) === 0) return false;
  const c = x.shape[x.shape.length - 1]!;
  return (
    same.every((t) => t !== undefined && t.dtype === 'float32' && tf.util.arraysEqual(t.shape, x.shape)) &&
    perChannel.every((t) => t !== undefined && t.dtype === 'float32' && t.shape.length === 1 && t.shape[0] === c)
  );
}

/** The tensors the two batch-norm kernels take (in the addon's argument order) and return. */
const BN_KERNEL_IO = {
  forward: { inputs: ['x', 'gamma', 'beta'], sameAsX: [], perChannel: ['gamma', 'beta'], outputs: ['y', 'mean', 'variance'] },
  grad: { inputs: ['dy', 'x', 'gamma', 'mean', 'variance', 'y'], sameAsX: ['dy', 'y'], perChannel: ['gamma', 'mean', 'variance'], outputs: ['dx', 'dgamma', 'dbeta'] },
} as const;

/**
 * `PclBatchNorm` (training-mode batch norm [+ ReLU], `batch-norm.ts`) or its gradient
 * `PclBatchNormGrad` in C++ on all threads; what the native kernel does not take (bad shapes, a
 * bad epsilon) goes to the JS kernel, which reports it.
 */
function makeBatchNormKernel(addon: NativeAddon, fallback: tf.KernelFunc, which: keyof typeof BN_KERNEL_IO): tf.KernelFunc {
  const io = BN_KERNEL_IO[which];
  return (args: Args) => {
    const inp = args.inputs as Record<string, tf.TensorInfo | undefined>;
    const x = inp.x;
    const a = bnAttrs(args.attrs);
    if (!bnShapesOk(x, io.sameAsX.map((n) => inp[n]), io.perChannel.map((n) => inp[n])) || !(a.epsilon > 0)) return fallback(args);
    const c = x!.shape[x!.shape.length - 1]!;
    const m = tf.util.sizeFromShape(x!.shape) / c;
    const be = args.backend as HeapBackend;
    const outs = [be.makeOutput(x!.shape.slice(), 'float32'), be.makeOutput([c], 'float32'), be.makeOutput([c], 'float32')];
    try {
      const offsets = [...io.inputs.map((n) => offsetOf(be, inp[n]!, n)), ...outs.map((o, i) => offsetOf(be, o, io.outputs[i]!))];
      const call = (which === 'forward' ? addon.batchNorm : addon.batchNormGrad) as (heap: ArrayBuffer, ...rest: number[]) => void;
      call.call(addon, be.wasm.HEAPU8.buffer as ArrayBuffer, ...offsets, m, c, a.epsilon, a.relu ? 1 : 0);
    } catch (e) {
      for (const o of outs) disposeOutput(be, o);
      throw e;
    }
    return outs;
  };
}

/** The kernels registered before the native ones, captured once (the fallbacks). */
let previous: Map<string, tf.KernelConfig> | undefined;
let active = false;

/**
 * Registers the native kernels on the wasm backend over the ones registered now (this library's
 * wasm kernels, which stay the fallbacks). Idempotent; call after `registerFastWasmKernels()`.
 *
 * @returns the kernel names registered.
 */
export function registerNativeKernels(addon: NativeAddon): string[] {
  registerFusedAdamKernels(); // the JS fused Adam is the native one's fallback
  registerBatchNormKernels(); // likewise the JS batch norm
  if (!previous) {
    previous = new Map();
    for (const name of NATIVE_KERNEL_NAMES) {
      const k = tf.getKernel(name, BACKEND);
      if (!k) throw new Error(`registerNativeKernels: the wasm backend has no '${name}' kernel to fall back to`);
      previous.set(name, k);
    }
  }
  const prev = previous;
  const fb = (name: string) => prev.get(name)!.kernelFunc;
  const funcs: Record<(typeof NATIVE_KERNEL_NAMES)[number], tf.KernelFunc> = {
    Conv2D: makeConv2D(addon, fb('Conv2D'), false),
    FusedConv2D: makeConv2D(addon, fb('FusedConv2D'), true),
    Conv2DBackpropInput: makeConv2DBackpropInput(addon, fb('Conv2DBackpropInput')),
    Conv2DBackpropFilter: makeConv2DBackpropFilter(addon, fb('Conv2DBackpropFilter')),
    BatchMatMul: makeMatMul(addon, fb('BatchMatMul'), false),
    _FusedMatMul: makeMatMul(addon, fb('_FusedMatMul'), true),
    MaxPool: makeMaxPool(addon, fb('MaxPool')),
    MaxPoolGrad: makeMaxPoolGrad(addon, fb('MaxPoolGrad')),
    Multiply: makeMultiply(addon, fb('Multiply')),
    Sum: makeSum(addon, fb('Sum')),
    Mean: makeSum(addon, fb('Mean'), true),
    [ADAM_UPDATE_KERNEL]: makeAdamUpdate(addon, fb(ADAM_UPDATE_KERNEL)),
    [BATCH_NORM_KERNEL]: makeBatchNormKernel(addon, fb(BATCH_NORM_KERNEL), 'forward'),
    [BATCH_NORM_GRAD_KERNEL]: makeBatchNormKernel(addon, fb(BATCH_NORM_GRAD_KERNEL), 'grad'),
  };
  for (const name of NATIVE_KERNEL_NAMES) {
    if (tf.getKernel(name, BACKEND)) tf.unregisterKernel(name, BACKEND);
    tf.registerKernel({ kernelName: name, backendName: BACKEND, kernelFunc: funcs[name], setupFunc: prev.get(name)!.setupFunc });
  }
  active = true;
  return [...NATIVE_KERNEL_NAMES];
}

/** Puts back the kernels the native ones replaced (for benchmarks and tests that compare). */
export function unregisterNativeKernels(): void {
  if (!previous || !active) return;
  for (const [name, config] of previous) {
    if (tf.getKernel(name, BACKEND)) tf.unregisterKernel(name, BACKEND);
    tf.registerKernel(config);
  }
  active = false;
}

/** Whether the native kernels are registered now. */
export function nativeKernelsActive(): boolean {
  return active;
}
