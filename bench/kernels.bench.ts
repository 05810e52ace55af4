/**
 * Speed of the replacement wasm kernels (src/engine/kernels) against the stock wasm kernels and
 * against the forward op each gradient mirrors, at the layer sizes of the paper's CIFAR CNN
 * (batch 32, width 300) and the MNIST MLP.
 *
 *   nice -n 10 npx tsx bench/kernels.bench.ts [--reps N] [--stock-reps N] [--no-stock] [--only KERNEL]
 *
 * Prints a markdown table: median ms per call of the forward op, of the stock wasm kernel
 * (where it exists) and of ours, and the ratios stock/ours and ours/forward.
 */
import '../src/node.js'; // the Node platform: native engine loader, fs bundles, worker threads
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../src/engine/backend.js';
import { registerFastWasmKernels, restoreStockWasmKernels, stockWasmKernel } from '../src/engine/kernels/index.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
/** Run only the cases of this kernel (e.g. `--only Slice`). */
const ONLY = (() => {
  const i = process.argv.indexOf('--only');
  return i >= 0 ? process.argv[i + 1] : undefined;
})();
const REPS = arg('--reps', 7);
const STOCK_REPS = arg('--stock-reps', 3);
const NO_STOCK = process.argv.includes('--no-stock');

/** Wall time (ms) of one call; wasm kernels are synchronous, so the result is complete on return. */
function timeOnce(fn: () => tf.Tensor | tf.Tensor[]): number {
  const t0 = performance.now();
  const out = fn();
  const ms = performance.now() - t0;
  tf.dispose(out);
  return ms;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

interface Case {
  kernel: string;
  label: string;
  forwardLabel: string;
  forward: () => tf.Tensor;
  grad: () => tf.Tensor;
}

function convCases(): Case[] {
  type Shape4 = [number, number, number, number];
  const mk = (label: string, x: Shape4, f: Shape4, s: number) => {
    const xt = tf.randomNormal(x, 0, 1, 'float32', 1) as tf.Tensor4D;
    const wt = tf.randomNormal(f, 0, 0.1, 'float32', 2) as tf.Tensor4D;
    const y = tf.conv2d(xt, wt, s, 'same');
    const dy = tf.randomNormal(y.shape, 0, 1, 'float32', 3) as tf.Tensor4D;
    y.dispose();
    const forward = () => tf.conv2d(xt, wt, s, 'same');
    const attrs = { strides: s, pad: 'same', dataFormat: 'NHWC', dimRoundingMode: undefined };
    return [
      {
        kernel: 'Conv2DBackpropFilter',
        label,
        forwardLabel: 'conv2d',
        forward,
        grad: () =>
          tf.engine().runKernel('Conv2DBackpropFilter', { x: xt, dy }, { ...attrs, filterShape: f } as never) as tf.Tensor,
      },
      {
        kernel: 'Conv2DBackpropInput',
        label,
        forwardLabel: 'conv2d',
        forward,
        grad: () =>
          tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: wt }, { ...attrs, inputShape: x } as never) as tf.Tensor,
      },
    ] satisfies Case[];
  };
  return [
    ...mk('CIFAR conv1 x[32,32,32,3] W[3,3,3,300]', [32, 32, 32, 3], [3, 3, 3, 300], 1),
    ...mk('CIFAR conv2 x[32,16,16,300] W[2,2,300,300]', [32, 16, 16, 300], [2, 2, 300, 300], 1),
    ...mk('CIFAR conv3 x[32,8,8,300] W[3,3,300,300]', [32, 8, 8, 300], [3, 3, 300, 300], 1),
    ...mk('stride 2 x[32,16,16,64] W[3,3,64,64]', [32, 16, 16, 64], [3, 3, 64, 64], 2),
  ];
}

function poolCases(): Case[] {
  const mk = (label: string, x: [number, number, number, number], f: number, s: number, pad: 'same' | 'valid'): Case => {
    const xt = tf.relu(tf.randomNormal(x, 0, 1, 'float32', 4)) as tf.Tensor4D;
    const y = tf.maxPool(xt, f, s, pad);
    const dy = tf.randomNormal(y.shape, 0, 1, 'float32', 5);
    return {
      kernel: 'MaxPoolGrad',
      label,
      forwardLabel: 'maxPool',
      forward: () => tf.maxPool(xt, f, s, pad),
      grad: () =>
        tf.engine().runKernel('MaxPoolGrad', { dy, input: xt, output: y }, {
          filterSize: f,
          strides: s,
          pad,
          dimRoundingMode: undefined,
        } as never) as tf.Tensor,
    };
  };
  return [
    mk('CIFAR pool1 [32,32,32,300] 2x2/2', [32, 32, 32, 300], 2, 2, 'valid'),
    mk('CIFAR pool2 [32,16,16,300] 2x2/2', [32, 16, 16, 300], 2, 2, 'valid'),
    mk('overlapping [32,16,16,64] 3x3/2 same', [32, 16, 16, 64], 3, 2, 'same'),
  ];
}

function matMulCases(): Case[] {
  const mk = (label: string, a: number[], b: number[], tA: boolean, tB: boolean): Case => {
    const at = tf.randomNormal(a, 0, 1, 'float32', 6);
    const bt = tf.randomNormal(b, 0, 1, 'float32', 7);
    // The forward reference is the same product with pre-transposed operands (plain matMul).
    const ap = tA ? tf.transpose(at) : at;
    const bp = tB ? tf.transpose(bt) : bt;
    return {
      kernel: 'BatchMatMul',
      label,
      forwardLabel: 'matMul (no transpose)',
      forward: () => tf.matMul(ap as tf.Tensor2D, bp as tf.Tensor2D),
      grad: () => tf.matMul(at as tf.Tensor2D, bt as tf.Tensor2D, tA, tB),
    };
  };
  return [
    mk('1024³ transposeA', [1024, 1024], [1024, 1024], true, false),
    mk('1024³ transposeB', [1024, 1024], [1024, 1024], false, true),
    mk('1024³ transposeA+B', [1024, 1024], [1024, 1024], true, true),
    mk('MLP dW1 [128,784]ᵀ·[128,300]', [128, 784], [128, 300], true, false),
    mk('MLP dx1 [128,300]·[784,300]ᵀ', [128, 300], [784, 300], false, true),
  ];
}

function sliceCases(): Case[] {
  const mk = (label: string, shape: number[], begin: number[], size: number[]): Case => {
    const x = tf.randomNormal(shape, 0, 1, 'float32', 8);
    const same = tf.randomNormal(size, 0, 1, 'float32', 9);
    return {
      kernel: 'Slice',
      label,
      forwardLabel: 'clone of an output-sized tensor',
      forward: () => tf.clone(same),
      grad: () => tf.slice(x, begin, size),
    };
  };
  return [
    mk('batch of 32 rows from a [10000, 3072] dataset', [10000, 3072], [4096, 0], [32, 3072]),
    mk('crop [32,16,16,300] → [32,15,15,300]', [32, 16, 16, 300], [0, 1, 1, 0], [32, 15, 15, 300]),
  ];
}

async function main(): Promise<void> {
  const info = await initEngine('wasm');
  console.log(`# Replacement wasm kernels vs stock`);
  console.log(
    `machine: ${os.cpus()[0]?.model ?? '?'} (${os.cpus().length} cores, load average ${os.loadavg()[0]!.toFixed(2)}), ` +
      `node ${process.version}, tfjs ${info.tfjsVersion}, wasm simd=${info.simd}; medians of ${REPS} (stock: ${STOCK_REPS})\n`,
  );
  console.log('| kernel | case | reference op ms | stock wasm ms | ours ms | stock / ours | ours / reference |');
  console.log('|---|---|---:|---:|---:|---:|---:|');
  const all = [...convCases(), ...poolCases(), ...matMulCases(), ...sliceCases()];
  for (const c of all.filter((k) => ONLY === undefined || k.kernel === ONLY)) {
    const hasStock = !NO_STOCK && stockWasmKernel(c.kernel) !== undefined;
    const runStock = () => {
      restoreStockWasmKernels();
      try {
        return timeOnce(c.grad);
      } finally {
        registerFastWasmKernels();
      }
    };
    // Warm-up, then interleave the variants round by round so that they share the machine's
    // load conditions (this is a shared 2-core box); results are not read back (no page faults
    // from fresh JS buffers in the timings).
    timeOnce(c.forward);
    timeOnce(c.grad);
    if (hasStock) runStock();
    const fwd: number[] = [];
    const ours: number[] = [];
    const stock: number[] = [];
    for (let r = 0; r < REPS; r++) {
      fwd.push(timeOnce(c.forward));
      ours.push(timeOnce(c.grad));
      if (hasStock && r < STOCK_REPS) stock.push(runStock());
    }
    const f = median(fwd);
    const o = median(ours);
    const st = hasStock ? median(stock) : undefined;
    const stockCell = st === undefined ? (NO_STOCK ? 'skipped' : 'missing') : st.toFixed(1);
    const ratio = st === undefined ? '—' : `${(st / o).toFixed(1)}×`;
    console.log(
      `| ${c.kernel} | ${c.label} | ${f.toFixed(1)} (${c.forwardLabel}) | ${stockCell} | ${o.toFixed(1)} | ${ratio} | ${(o / f).toFixed(2)} |`,
    );
  }
  console.log(`\nload average at end: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
}

void main();
