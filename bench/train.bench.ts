/**
 * Training speed of the victim models (src/models/zoo.ts + train.ts) on the active backend: median
 * ms per training mini-batch (forward + backward + Adam update, exactly the `trainClassifier` step)
 * against a reference measured in the same run, the inference forward pass of the same batch; then
 * the per-epoch time extrapolated from the median batch time (epoch = ceil(n / batch) batches).
 *
 *   nice -n 10 npx tsx bench/train.bench.ts [--reps N] [--widths 1,0.5,0.25] [--batch 64] [--no-mnist]
 *                                          [--no-cifar] [--imagenet-widths 1,0.125]
 *
 * Inputs are random images of the real shapes (MNIST 28×28×1, CIFAR-10 32×32×3, ImageNet-10 64×64×3);
 * timing does not depend on pixel values. `--imagenet-widths` adds imagenet-alexnet at 64×64 (9,469
 * training images), with and without batch norm.
 */
import '../src/node.js'; // the Node platform: native engine loader, fs bundles, worker threads
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../src/engine/backend.js';
import { buildModel, type Arch } from '../src/models/zoo.js';
import { crossEntropy } from '../src/models/train.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : dflt;
}
const REPS = Number(arg('--reps', '5'));
const WIDTHS = arg('--widths', '1,0.5,0.25').split(',').map(Number);
const CIFAR_BATCH = Number(arg('--batch', '64'));
const IMAGENET_WIDTHS = process.argv.includes('--imagenet-widths') ? arg('--imagenet-widths', '1').split(',').map(Number) : [];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Median ms of `fn` over REPS runs after one warm-up. */
function time(fn: () => void): number {
  fn();
  const ts: number[] = [];
  for (let i = 0; i < REPS; i++) {
    const t0 = performance.now();
    fn();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

interface Row {
  model: string;
  params: number;
  batch: number;
  forwardMs: number;
  trainMs: number;
  epochS: number;
  trainN: number;
}

function measure(arch: Arch, width: number, shape: [number, number, number], batch: number, trainN: number, batchNorm = false): Row {
  const model = buildModel(arch, { inputShape: shape, numClasses: 10, width, seed: 0, batchNorm });
  const opt = tf.train.adam(1e-3);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const x = tf.randomUniform([batch, ...shape], 0, 1, 'float32', 1) as tf.Tensor4D;
  const y = tf.tidy(() => tf.randomUniform([batch], 0, 10, 'float32', 2).floor().toInt()) as tf.Tensor1D;
  try {
    const forwardMs = time(() =>
      tf.tidy(() => {
        (model.apply(x, { training: false }) as tf.Tensor).dataSync();
      }),
    );
    const trainMs = time(() =>
      tf.tidy(() => {
        opt.minimize(() => crossEntropy(model.apply(x, { training: true }) as tf.Tensor2D, y), true, vars)!.dataSync();
      }),
    );
    return {
      model: `${arch} width ${width}${batchNorm ? ' + batch norm' : ''}`,
      params: model.countParams(),
      batch,
      forwardMs,
      trainMs,
      epochS: (Math.ceil(trainN / batch) * trainMs) / 1000,
      trainN,
    };
  } finally {
    tf.dispose([x, y]);
    opt.dispose();
    model.dispose();
  }
}

const engine = await initEngine();
console.log(`# Victim training speed (bench/train.bench.ts)\n`);
console.log(
  `machine: ${os.cpus()[0]?.model ?? 'unknown CPU'} × ${os.cpus().length} (load avg ${os.loadavg()[0].toFixed(1)}), ` +
    `node ${process.version}, tfjs ${engine.tfjsVersion}, backend ${engine.backend}` +
    `${engine.simd ? ' (SIMD)' : ''}, fast kernels: ${engine.fastKernels.join(', ') || 'none'}; median of ${REPS} after 1 warm-up\n`,
);
const rows: Row[] = [];
if (!process.argv.includes('--no-mnist')) rows.push(measure('mnist-mlp', 1, [28, 28, 1], 128, 60000));
if (!process.argv.includes('--no-cifar')) for (const w of WIDTHS) rows.push(measure('cifar-cnn', w, [32, 32, 3], CIFAR_BATCH, 50000));
for (const w of IMAGENET_WIDTHS) {
  for (const bn of [false, true]) rows.push(measure('imagenet-alexnet', w, [64, 64, 3], CIFAR_BATCH, 9469, bn));
}
console.log('| model | params | batch | forward ms/batch (reference) | train ms/batch | train / forward | epoch (extrapolated) |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(
    `| ${r.model} | ${r.params.toLocaleString('en-US')} | ${r.batch} | ${r.forwardMs.toFixed(1)} | ${r.trainMs.toFixed(1)} | ` +
      `${(r.trainMs / r.forwardMs).toFixed(2)}× | ${r.epochS.toFixed(0)} s (${Math.ceil(r.trainN / r.batch)} batches of ${r.trainN}) |`,
  );
}
