/**
 * The native engine (oneDNN, all cores) against the wasm engine (single-threaded SIMD + this
 * library's kernels) and PyTorch CPU, all in the same run, on the paper's models:
 *
 * - MNIST MLP 784-300-100-10 (ReLU, softmax, Adam) train step, batch 128: `pcl train`'s own step
 *   (`makeTrainStep`: the fused dense chain, log-sum-exp cross-entropy and fused Adam), and through
 *   tfjs-layers' `trainOnBatch` with the library's fused Adam (`fusedAdam`) and with tfjs's
 *   `tf.train.adam` (the stock optimizer);
 * - CIFAR CNN at full width (3×32×32 – 300C3 – MP2 – 300C2 – MP2 – 300C3 – MP2 – 300FC – 100FC –
 *   10FC, 'same' padding, Adam) train step, batch 32;
 * - the CNN's input gradient of the cross-entropy, batch 100 (one attack iteration).
 *
 *   npx tsx bench/native.bench.ts [--reps N] [--cnn-reps N] [--wasm-cnn-reps N] [--no-torch] [--no-wasm] [--profile]
 *
 * PyTorch (bench/native_ref.py) runs with glibc told to keep its heap
 * (GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=2147483647) and channels-last
 * convolutions, its fast configuration here. Medians after two warm-up steps; ratios are against
 * PyTorch with as many threads as the native engine uses. GFLOP/s count the multiply-adds of the
 * convolutions and dense layers (2 flops each; forward, and for training both gradients).
 */
import '../src/node.js'; // the Node platform: native engine loader, fs bundles, worker threads
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../src/engine/backend.js';
import { fusedAdam } from '../src/engine/fused-adam.js';
import { makeOptimizer, makeTrainStep } from '../src/models/train.js';
import { loadNativeAddon } from '../src/engine/native.js';
import { registerNativeKernels, unregisterNativeKernels } from '../src/engine/native-kernels.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const REPS = arg('--reps', 30);
const CNN_REPS = arg('--cnn-reps', 7);
const WASM_CNN_REPS = arg('--wasm-cnn-reps', 3);

function mlp(stockAdam = false): tf.LayersModel {
  const m = tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [784], units: 300, activation: 'relu' }),
      tf.layers.dense({ units: 100, activation: 'relu' }),
      tf.layers.dense({ units: 10, activation: 'softmax' }),
    ],
  });
  m.compile({ optimizer: stockAdam ? tf.train.adam(1e-3) : fusedAdam(1e-3), loss: 'categoricalCrossentropy' });
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
  m.compile({ optimizer: fusedAdam(1e-3), loss: 'categoricalCrossentropy' });
  return m;
}

/** Multiply-adds of one forward pass per sample. */
const MLP_MACS = 784 * 300 + 300 * 100 + 100 * 10;
const CNN_MACS = 32 * 32 * 3 * 9 * 300 + 16 * 16 * 300 * 4 * 300 + 8 * 8 * 300 * 9 * 300 + 4800 * 300 + 300 * 100 + 100 * 10;
/** GFLOP of a train step (forward + two gradients ≈ 3× forward) and of an input gradient (≈ 2× forward). */
const gflop = (macs: number, batch: number, passes: number) => (2 * macs * batch * passes) / 1e9;

function median(ts: number[]): number {
  const s = ts.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function timeIt(fn: () => Promise<void> | void, reps: number): Promise<number> {
  for (let i = 0; i < 2; i++) await fn();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

async function trainStep(make: () => tf.LayersModel, xShape: number[], n: number, reps: number): Promise<number> {
  const model = make();
  const x = tf.randomUniform(xShape, 0, 1, 'float32', 1);
  const y = tf.oneHot(tf.randomUniform([n], 0, 10, 'int32', 2) as tf.Tensor1D, 10);
  try {
    return await timeIt(async () => {
      await model.trainOnBatch(x, y);
    }, reps);
  } finally {
    tf.dispose([x, y]);
    model.optimizer.dispose(); // a compiled-in optimizer instance is not the model's to dispose
    model.dispose();
  }
}

/** Input gradient of the summed cross-entropy of the CNN's logits at batch `n`, read back to JS. */
async function inputGrad(n: number, reps: number): Promise<number> {
  const model = cnn();
  const x = tf.randomUniform([n, 32, 32, 3], 0, 1, 'float32', 3);
  const y = tf.oneHot(tf.randomUniform([n], 0, 10, 'int32', 4) as tf.Tensor1D, 10);
  const g = tf.grad((xx: tf.Tensor) => tf.losses.softmaxCrossEntropy(y, model.predict(xx) as tf.Tensor, undefined, tf.Reduction.SUM));
  try {
    return await timeIt(() => {
      const d = g(x);
      d.dataSync();
      d.dispose();
    }, reps);
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
  cnn_input_grad_ms: number;
  blas: string;
}

function torchRef(threads: number): TorchRef | string {
  if (process.argv.includes('--no-torch')) return 'skipped (--no-torch)';
  const res = spawnSync('/usr/bin/python3', ['bench/native_ref.py', '--threads', String(threads), '--cnn-reps', String(CNN_REPS)], {
    encoding: 'utf8',
    timeout: 900_000,
    env: { ...process.env, GLIBC_TUNABLES: 'glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=2147483647' },
  });
  if (res.error) return `not run: ${res.error.message}`;
  if (res.status !== 0) {
    const msg = res.stderr.trim().split('\n').pop() ?? '';
    return /No module named 'torch'/.test(res.stderr) ? 'skipped: PyTorch is not installed for /usr/bin/python3' : `failed: ${msg}`;
  }
  return JSON.parse(res.stdout.trim().split('\n').pop()!) as TorchRef;
}

type Row = { mlpPcl: number; mlp: number; mlpStock: number; cnn: number | string; grad: number | string };

/** `pcl train`'s step (makeTrainStep, dense path) on the MLP at batch n. */
async function pclTrainStep(n: number, reps: number): Promise<number> {
  const model = mlp(false);
  const opt = makeOptimizer('adam', 1e-3);
  const step = makeTrainStep(model, opt);
  if (step.path !== 'dense') throw new Error(`bench/native: pcl train's step took the ${step.path} path on the MLP`);
  const x = tf.randomUniform([n, 784], 0, 1, 'float32', 1);
  const y = tf.randomUniform([n], 0, 10, 'int32', 2) as tf.Tensor1D;
  try {
    return await timeIt(() => {
      step.run(x, y);
    }, reps);
  } finally {
    tf.dispose([x, y]);
    opt.dispose();
    model.optimizer?.dispose();
    model.dispose();
  }
}

async function measure(withWasmCnn: boolean, cnnReps: number): Promise<Row> {
  // alternated, so that a change of machine load hits both optimizers alike
  const pcl: number[] = [];
  const fused: number[] = [];
  const stock: number[] = [];
  for (let round = 0; round < 3; round++) {
    pcl.push(await pclTrainStep(128, REPS));
    fused.push(await trainStep(() => mlp(false), [128, 784], 128, REPS));
    stock.push(await trainStep(() => mlp(true), [128, 784], 128, REPS));
  }
  const mlpMs = median(fused);
  const mlpStock = median(stock);
  const cnnMs = withWasmCnn ? await trainStep(cnn, [32, 32, 32, 3], 32, cnnReps) : 'skipped';
  const gradMs = withWasmCnn ? await inputGrad(100, cnnReps) : 'skipped';
  return { mlpPcl: median(pcl), mlp: mlpMs, mlpStock, cnn: cnnMs, grad: gradMs };
}

/** GFLOP/s of a 1024×1024×1024 matMul on the native engine, best of 5 (the practical peak now). */
async function measureGemmPeak(): Promise<number> {
  const a = tf.randomNormal([1024, 1024]);
  const b = tf.randomNormal([1024, 1024]);
  let best = Infinity;
  for (let i = 0; i < 6; i++) {
    const t0 = performance.now();
    const c = tf.matMul(a, b);
    c.dataSync();
    const t = performance.now() - t0;
    c.dispose();
    if (i > 0) best = Math.min(best, t);
  }
  tf.dispose([a, b]);
  return (2 * 1024 ** 3) / (best / 1000) / 1e9;
}

/** Per-kernel totals of one native CNN train step (tf.profile), largest first. */
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
    const top = [...agg].sort((a, b) => b[1] - a[1]).slice(0, 14);
    return `native CNN step under tf.profile: ${wall.toFixed(0)} ms wall; per-kernel totals (ms):\n` + top.map(([k, v]) => `  ${k.padEnd(22)} ${v.toFixed(1)}`).join('\n');
  } finally {
    tf.dispose([x, y]);
    model.dispose();
  }
}

async function main(): Promise<void> {
  const info = await initEngine('wasm');
  const load = loadNativeAddon();
  if (!load.addon) throw new Error(`bench/native: the native engine is not available (${load.reason})`);
  if (process.argv.includes('--profile')) {
    console.log(await cnnProfile());
    return;
  }
  const threads = load.addon.info().threads;
  const load0 = os.loadavg();
  const t0 = performance.now();
  registerNativeKernels(load.addon);
  const gemmPeak = await measureGemmPeak();
  const native = await measure(true, CNN_REPS);
  const loadNative = os.loadavg()[0]!;
  unregisterNativeKernels();
  const wasm = await measure(!process.argv.includes('--no-wasm'), WASM_CNN_REPS);
  registerNativeKernels(load.addon);
  const loadWasm = os.loadavg()[0]!;
  const ref = torchRef(threads);
  const loadTorch = os.loadavg()[0]!;
  const wall = (performance.now() - t0) / 1000;

  const cpu = os.cpus()[0]?.model ?? '?';
  const mhz = os.cpus()[0]?.speed ?? 0;
  const peak = gemmPeak;
  console.log('# Native engine vs wasm engine vs PyTorch CPU');
  console.log(
    `machine: ${cpu} (${os.availableParallelism()} cores, ${mhz} MHz), node ${process.version}, tfjs ${info.tfjsVersion}, ` +
      `oneDNN ${load.addon.info().onednn} (${threads} threads), ${typeof ref === 'string' ? ref : `PyTorch ${ref.torch} (${ref.threads} threads, BLAS: ${ref.blas})`}`,
  );
  console.log(
    `load average (1 min): ${load0[0]!.toFixed(2)} at start; ${loadNative.toFixed(2)} after native, ${loadWasm.toFixed(2)} after wasm, ` +
      `${loadTorch.toFixed(2)} after PyTorch; ${wall.toFixed(0)} s in all. Medians of ${REPS} MLP / ${CNN_REPS} CNN ` +
      `(${WASM_CNN_REPS} on wasm) steps. "% peak" is against the native engine's own large-GEMM rate measured in this run ` +
      `(1024³ sgemm, best of 5: ${peak.toFixed(0)} GFLOP/s; ≈ 196 GFLOP/s idle per the issue).`,
  );
  const cases: { name: string; key: keyof Row; tkey: keyof TorchRef; flop: number }[] = [
    { name: "MLP train step @128 (pcl train's step)", key: 'mlpPcl', tkey: 'mlp_step_ms', flop: gflop(MLP_MACS, 128, 3) },
    { name: 'MLP train step @128 (trainOnBatch, fused Adam)', key: 'mlp', tkey: 'mlp_step_ms', flop: gflop(MLP_MACS, 128, 3) },
    { name: 'MLP train step @128 (trainOnBatch, tf.train.adam)', key: 'mlpStock', tkey: 'mlp_step_ms', flop: gflop(MLP_MACS, 128, 3) },
    { name: 'CIFAR CNN (300 filters) train step @32', key: 'cnn', tkey: 'cnn_step_ms', flop: gflop(CNN_MACS, 32, 3) },
    { name: 'CIFAR CNN input gradient @100', key: 'grad', tkey: 'cnn_input_grad_ms', flop: gflop(CNN_MACS, 100, 2) },
  ];
  console.log('\n| step | native ms | wasm ms | PyTorch ms | native / PyTorch | wasm / native | native GFLOP/s (% peak) | PyTorch GFLOP/s |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const c of cases) {
    const nv = native[c.key];
    const wv = wasm[c.key];
    const tv = typeof ref === 'string' ? undefined : (ref[c.tkey] as number);
    const f = (v: number | string | undefined) => (typeof v === 'number' ? v.toFixed(1) : (v ?? '—'));
    const gf = (v: number | string | undefined) => (typeof v === 'number' ? (c.flop / (v / 1000)).toFixed(0) : '—');
    const nGf = typeof nv === 'number' ? c.flop / (nv / 1000) : undefined;
    console.log(
      `| ${c.name} | ${f(nv)} | ${f(wv)} | ${f(tv)} | ${typeof nv === 'number' && tv ? (nv / tv).toFixed(2) + '×' : '—'} | ` +
        `${typeof nv === 'number' && typeof wv === 'number' ? (wv / nv).toFixed(1) + '×' : '—'} | ` +
        `${nGf !== undefined ? `${nGf.toFixed(0)} (${((100 * nGf) / peak).toFixed(0)} %)` : '—'} | ${gf(tv)} |`,
    );
  }
  console.log(`\ntf.memory() after: ${JSON.stringify(tf.memory())}`);
}

void main();
