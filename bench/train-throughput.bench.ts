/**
 * Training throughput on the wasm backend, stock kernels vs this library's replacements, each
 * against PyTorch CPU measured in the same run (bench/torch_ref.py, 2 threads):
 *
 * - MNIST MLP 784-300-100-10 (ReLU, softmax, Adam), batch 128: ms per step and samples/s.
 * - CIFAR CNN at full width, 3×32×32 – 300C3 – MP2 – 300C2 – MP2 – 300C3 – MP2 – 300FC – 100FC –
 *   10FC ('same' padding, Adam), batch 32: ms per step.
 *
 *   nice -n 10 npx tsx bench/train-throughput.bench.ts [--reps N] [--cnn-reps N] [--no-torch]
 *
 * A step is `model.trainOnBatch` (forward, loss, gradients, Adam update), timed after two
 * warm-up steps. Prints where the CNN step's time goes (per-kernel totals from tf.profile).
 */
import '../src/node.js'; // the Node platform: native engine loader, fs bundles, worker threads
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../src/engine/backend.js';
import { registerFastWasmKernels, restoreStockWasmKernels } from '../src/engine/kernels/index.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const REPS = arg('--reps', 20);
const CNN_REPS = arg('--cnn-reps', 5);

function mlp(): tf.LayersModel {
  const m = tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [784], units: 300, activation: 'relu' }),
      tf.layers.dense({ units: 100, activation: 'relu' }),
      tf.layers.dense({ units: 10, activation: 'softmax' }),
    ],
  });
  m.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
  return m;
}

function cnn(): tf.LayersModel {
  const conv = (k: number, first = false) =>
    tf.layers.conv2d({ ...(first ? { inputShape: [32, 32, 3] } : {}), filters: 300, kernelSize: k, padding: 'same', activation: 'relu' });
  const m = tf.sequential({
    layers: [
      conv(3, true),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      conv(2),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      conv(3),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 300, activation: 'relu' }),
      tf.layers.dense({ units: 100, activation: 'relu' }),
      tf.layers.dense({ units: 10, activation: 'softmax' }),
    ],
  });
  m.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
  return m;
}

/** Median ms of `model.trainOnBatch(x, y)` after two warm-up steps; or the error message. */
async function stepMs(make: () => tf.LayersModel, xShape: number[], n: number, reps: number): Promise<number | string> {
  const model = make();
  const x = tf.randomUniform(xShape, 0, 1, 'float32', 1);
  const y = tf.oneHot(tf.randomUniform([n], 0, 10, 'int32', 2) as tf.Tensor1D, 10);
  try {
    for (let i = 0; i < 2; i++) await model.trainOnBatch(x, y);
    const ts: number[] = [];
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      await model.trainOnBatch(x, y);
      ts.push(performance.now() - t0);
    }
    ts.sort((a, b) => a - b);
    return ts[Math.floor(ts.length / 2)]!;
  } catch (e) {
    return `fails: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]!.slice(0, 120)}`;
  } finally {
    tf.dispose([x, y]);
    model.dispose();
  }
}

interface TorchRef {
  torch: string;
  threads: number;
  mlp_step_ms: number;
  cnn_step_ms: number;
}

function torchRef(threads: number): TorchRef | string {
  if (process.argv.includes('--no-torch')) return 'skipped (--no-torch)';
  const res = spawnSync('/usr/bin/python3', ['bench/torch_ref.py', '--threads', String(threads)], {
    encoding: 'utf8',
    timeout: 600_000,
  });
  if (res.error) return `not run: ${res.error.message}`;
  if (res.status !== 0) {
    const msg = res.stderr.trim().split('\n').pop() ?? '';
    return /No module named 'torch'/.test(res.stderr) ? 'skipped: PyTorch is not installed for /usr/bin/python3' : `failed: ${msg}`;
  }
  return JSON.parse(res.stdout.trim().split('\n').pop()!) as TorchRef;
}

async function cnnProfile(): Promise<string> {
  const model = cnn();
  const x = tf.randomUniform([32, 32, 32, 3], 0, 1, 'float32', 1);
  const y = tf.oneHot(tf.randomUniform([32], 0, 10, 'int32', 2) as tf.Tensor1D, 10);
  try {
    await model.trainOnBatch(x, y);
    const t0 = performance.now();
    const prof = await tf.profile(async () => {
      await model.trainOnBatch(x, y);
    });
    const wall = performance.now() - t0;
    const agg = new Map<string, number>();
    for (const k of prof.kernels) agg.set(k.name, (agg.get(k.name) ?? 0) + Number(k.kernelTimeMs));
    const top = [...agg].sort((a, b) => b[1] - a[1]).slice(0, 12);
    return (
      `CNN step under tf.profile: ${wall.toFixed(0)} ms wall. Per-kernel totals (ms; a replacement kernel's ` +
      `total includes the ops it runs, which are also listed under their own names):\n` +
      top.map(([k, v]) => `  ${k.padEnd(22)} ${v.toFixed(1)}`).join('\n')
    );
  } finally {
    tf.dispose([x, y]);
    model.dispose();
  }
}

const fmt = (v: number | string) => (typeof v === 'number' ? v.toFixed(1) : v);
const ratio = (v: number | string, ref: TorchRef | string, key: 'mlp_step_ms' | 'cnn_step_ms') =>
  typeof v === 'number' && typeof ref !== 'string' ? `${(v / ref[key]).toFixed(1)}×` : '—';

async function main(): Promise<void> {
  const info = await initEngine('wasm');
  const load0 = os.loadavg()[0]!;
  const ref = torchRef(2);
  // Also 1 thread: on a loaded machine PyTorch's spinning OpenMP threads degrade far more than a
  // single thread does, so the 1-thread figure is the steadier reference there.
  const ref1 = torchRef(1);
  const rows: { mode: string; mlp: number | string; cnn: number | string }[] = [];
  for (const mode of ['stock wasm', 'wasm + pcl kernels'] as const) {
    if (mode === 'stock wasm') restoreStockWasmKernels();
    else registerFastWasmKernels();
    const mlpMs = await stepMs(mlp, [128, 784], 128, REPS);
    const cnnMs = await stepMs(cnn, [32, 32, 32, 3], 32, CNN_REPS);
    rows.push({ mode, mlp: mlpMs, cnn: cnnMs });
  }
  registerFastWasmKernels();
  console.log('# Training throughput: tfjs wasm vs PyTorch CPU');
  console.log(
    `machine: ${os.cpus()[0]?.model ?? '?'} (${os.availableParallelism()} cores), node ${process.version}, tfjs ${info.tfjsVersion} ` +
      `wasm simd=${info.simd} (single-threaded); medians of ${REPS} MLP / ${CNN_REPS} CNN steps; load average ${load0.toFixed(2)} → ${os.loadavg()[0]!.toFixed(2)}`,
  );
  for (const t of [ref, ref1]) {
    console.log(
      typeof t === 'string'
        ? `PyTorch reference: ${t}`
        : `PyTorch ${t.torch} CPU, ${t.threads} thread(s): MLP step ${t.mlp_step_ms.toFixed(1)} ms @128 ` +
            `(${((128 / t.mlp_step_ms) * 1000).toFixed(0)} samples/s), CNN step ${t.cnn_step_ms.toFixed(1)} ms @32`,
    );
  }
  console.log('\nRatios are tfjs time / PyTorch time (lower is better), against 2 threads and [1 thread].\n');
  console.log('| backend | MLP ms/step @128 | MLP samples/s | MLP vs torch | CNN ms/step @32 | CNN vs torch |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const sps = typeof r.mlp === 'number' ? ((128 / r.mlp) * 1000).toFixed(0) : '—';
    console.log(
      `| ${r.mode} | ${fmt(r.mlp)} | ${sps} | ${ratio(r.mlp, ref, 'mlp_step_ms')} [${ratio(r.mlp, ref1, 'mlp_step_ms')}] | ` +
        `${fmt(r.cnn)} | ${ratio(r.cnn, ref, 'cnn_step_ms')} [${ratio(r.cnn, ref1, 'cnn_step_ms')}] |`,
    );
  }
  console.log('\n' + (await cnnProfile()));
}

void main();
