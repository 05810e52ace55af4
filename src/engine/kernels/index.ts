import * as tf from '@tensorflow/tfjs';
// The stock wasm kernels must be registered before they are captured below.
import '@tensorflow/tfjs-backend-wasm';
import { makeBatchMatMulKernel } from './batch-mat-mul.js';
import { conv2dBackpropFilterKernel } from './conv2d-backprop-filter.js';
import { makeConv2dBackpropInputKernel } from './conv2d-backprop-input.js';
import { maxPoolGradKernel } from './max-pool-grad.js';
import { makeSliceKernel } from './slice.js';
import { makeTileKernel } from './tile.js';
import { makeIdentityKernel } from './identity.js';

export { conv2dBackpropFilterComposite, type Conv2DBackpropFilterAttrs } from './conv2d-backprop-filter.js';
export {
  conv2dBackpropInputComposite,
  conv2dBackpropInputSupported,
  type Conv2DBackpropInputAttrs,
} from './conv2d-backprop-input.js';
export { maxPoolGradComposite, type MaxPoolGradAttrs } from './max-pool-grad.js';

const BACKEND = 'wasm';

/** The stock wasm kernel configs, captured once before the first replacement. */
let stock: Map<string, tf.KernelConfig | undefined> | undefined;
let registered: string[] | undefined;

function replace(config: tf.KernelConfig): void {
  if (tf.getKernel(config.kernelName, BACKEND)) tf.unregisterKernel(config.kernelName, BACKEND);
  tf.registerKernel(config);
}

/** The stock wasm kernel config for `kernelName` as it was before any replacement, if any. */
export function stockWasmKernel(kernelName: string): tf.KernelConfig | undefined {
  return stock ? stock.get(kernelName) : tf.getKernel(kernelName, BACKEND);
}

/**
 * Registers replacement kernels on the `wasm` backend that compose fast forward wasm ops
 * (XNNPACK conv2d / matMul, transpose, strided slice), so that every built-in gradient and
 * `model.fit` work on wasm at near-forward speed:
 *
 * - `Conv2DBackpropFilter` (missing from stock wasm): fh·fw matMuls of strided input windows with dy.
 * - `Conv2DBackpropInput` (stock: a direct loop, 10–40× slower than forward): one conv2d of the
 *   zero-dilated dy with the flipped, channel-swapped filter.
 * - `MaxPoolGrad` (stock: slow): first-max routing via forward compare ops.
 * - `BatchMatMul` with `transposeA`/`transposeB` (stock: a slow strided loop): explicit
 *   transpose, then the stock untransposed kernel.
 * - `Slice` (stock: copies the whole input out of the heap first): copies only the slice.
 * - `Tile` (stock: one index computation per output element): block copies in the heap.
 * - `Identity` (stock: copies the tensor; run for every clone and every tensor saved for a
 *   gradient): shares the input's data, reference-counted.
 *
 * Idempotent: later calls re-assert the same registrations and keep the originals captured by
 * the first call. Call before `tf.setBackend('wasm')` so the stock setup functions (kept on the
 * replacements) run at backend initialisation; calling afterwards also works because they have
 * already run.
 *
 * @returns the names of the kernels this library registered on wasm.
 */
export function registerFastWasmKernels(): string[] {
  if (!stock) {
    stock = new Map();
    for (const name of ['Conv2DBackpropFilter', 'Conv2DBackpropInput', 'MaxPoolGrad', 'BatchMatMul', 'Slice', 'Tile', 'Identity']) {
      stock.set(name, tf.getKernel(name, BACKEND));
    }
  }
  const matMul = stock.get('BatchMatMul');
  const convInput = stock.get('Conv2DBackpropInput');
  const configs: tf.KernelConfig[] = [
    {
      kernelName: 'Conv2DBackpropFilter',
      backendName: BACKEND,
      kernelFunc: conv2dBackpropFilterKernel as tf.KernelFunc,
      setupFunc: stock.get('Conv2DBackpropFilter')?.setupFunc,
    },
    {
      kernelName: 'Conv2DBackpropInput',
      backendName: BACKEND,
      kernelFunc: makeConv2dBackpropInputKernel(convInput?.kernelFunc),
      setupFunc: convInput?.setupFunc,
    },
    {
      kernelName: 'MaxPoolGrad',
      backendName: BACKEND,
      kernelFunc: maxPoolGradKernel as tf.KernelFunc,
      // Kept so that the stock kernel still works after restoreStockWasmKernels().
      setupFunc: stock.get('MaxPoolGrad')?.setupFunc,
    },
  ];
  if (matMul) {
    configs.push({
      kernelName: 'BatchMatMul',
      backendName: BACKEND,
      kernelFunc: makeBatchMatMulKernel(matMul.kernelFunc, { a: true, b: true }),
      setupFunc: matMul.setupFunc,
    });
  }
  const slice = stock.get('Slice');
  if (slice) {
    configs.push({
      kernelName: 'Slice',
      backendName: BACKEND,
      kernelFunc: makeSliceKernel(slice.kernelFunc),
      setupFunc: slice.setupFunc,
    });
  }
  const tile = stock.get('Tile');
  if (tile) {
    configs.push({ kernelName: 'Tile', backendName: BACKEND, kernelFunc: makeTileKernel(tile.kernelFunc), setupFunc: tile.setupFunc });
  }
  const identity = stock.get('Identity');
  if (identity) {
    configs.push({ kernelName: 'Identity', backendName: BACKEND, kernelFunc: makeIdentityKernel(identity.kernelFunc), setupFunc: identity.setupFunc });
  }
  for (const c of configs) replace(c);
  registered = configs.map((c) => c.kernelName);
  return registered.slice();
}

/**
 * Restores the stock wasm kernels (for benchmarks and tests that compare against them).
 * A later {@link registerFastWasmKernels} re-installs the replacements.
 */
export function restoreStockWasmKernels(): void {
  if (!stock) return;
  for (const [name, config] of stock) {
    if (tf.getKernel(name, BACKEND)) tf.unregisterKernel(name, BACKEND);
    if (config) tf.registerKernel(config);
  }
  registered = undefined;
}
