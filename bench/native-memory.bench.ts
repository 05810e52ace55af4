/**
 * Memory over a long training run on the native engine: a CNN that goes through every native
 * kernel (conv 3×3 'same' + ReLU → max pool → conv 3×3 stride 2 → max pool → dense + ReLU → dense
 * softmax, the fused Adam of `pcl train`) trained for N steps on random 28×28×1 batches of 32; prints `tf.memory()`, the
 * wasm heap size and the process RSS every N/10 steps, and exits 1 if the tensor count or tfjs bytes
 * change after the first interval or RSS grows by more than 10 % after it.
 *
 *   npx tsx bench/native-memory.bench.ts [--steps 1000] [--wasm] [--mlp]
 *
 * `--wasm` runs the same on the wasm kernels (PCL_NATIVE=0) for comparison. `--mlp` trains the MNIST
 * MLP (784-300-100-10, batches of 128) with `pcl train`'s own step instead (`makeTrainStep`: the
 * dense path's `PclDense` and cross-entropy kernels and the fused Adam).
 */
import '../src/node.js'; // the Node platform: native engine loader, fs bundles, worker threads
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../src/engine/backend.js';
import { fusedAdam } from '../src/engine/fused-adam.js';
import { makeOptimizer, makeTrainStep } from '../src/models/train.js';
import { buildModel } from '../src/models/zoo.js';

const argN = (name: string, dflt: number) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const STEPS = argN('--steps', 1000);
const MLP = process.argv.includes('--mlp');
if (process.argv.includes('--wasm')) process.env.PCL_NATIVE = '0';

async function main(): Promise<void> {
  const info = await initEngine('wasm');
  console.log(`# Memory over ${STEPS} training steps; ${info.summary}`);
  console.log(`machine: ${os.cpus()[0]?.model ?? '?'} (${os.availableParallelism()} cores), node ${process.version}; load ${os.loadavg()[0]!.toFixed(2)}`);
  if (MLP) console.log('model: the MNIST MLP through pcl train\'s step (dense path), batches of 128');
  const model = MLP ? buildModel('mnist-mlp', { inputShape: [28, 28, 1], numClasses: 10, width: 1, batchNorm: false }) : tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 32, kernelSize: 3, padding: 'same', activation: 'relu' }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: 32, kernelSize: 3, strides: 2, activation: 'relu' }),
      tf.layers.maxPooling2d({ poolSize: 2, padding: 'same' }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 64, activation: 'relu' }),
      tf.layers.dense({ units: 10, activation: 'softmax' }),
    ],
  });
  const opt = makeOptimizer('adam', 1e-3);
  const pclStep = MLP ? makeTrainStep(model, opt) : undefined;
  if (MLP && pclStep!.path !== 'dense') throw new Error('bench/native-memory: the MLP did not take the dense path');
  if (!MLP) model.compile({ optimizer: fusedAdam(1e-3), loss: 'categoricalCrossentropy' }); // the library's Adam (pcl train)
  const be = tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } };
  const rows: { step: number; tensors: number; bytes: number; heapMB: number; rssMB: number; ms: number }[] = [];
  let t0 = performance.now();
  for (let step = 1; step <= STEPS; step++) {
    const bs = MLP ? 128 : 32;
    const [x, y] = tf.tidy(() => {
      const labels = tf.randomUniform([bs], 0, 10, 'int32', step + 1e6) as tf.Tensor1D;
      return [tf.randomUniform([bs, 28, 28, 1], 0, 1, 'float32', step), MLP ? labels : tf.oneHot(labels, 10)];
    });
    if (pclStep) pclStep.run(x!, y as tf.Tensor1D);
    else await model.trainOnBatch(x!, y!);
    tf.dispose([x!, y!]);
    if (step % Math.max(1, Math.floor(STEPS / 10)) === 0) {
      const m = tf.memory();
      rows.push({
        step,
        tensors: m.numTensors,
        bytes: m.numBytes,
        heapMB: be.wasm.HEAPU8.byteLength / 2 ** 20,
        rssMB: process.memoryUsage().rss / 2 ** 20,
        ms: (performance.now() - t0) / Math.max(1, Math.floor(STEPS / 10)),
      });
      t0 = performance.now();
    }
  }
  console.log('\n| step | tf tensors | tf bytes | wasm heap MB | RSS MB | ms/step |');
  console.log('|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) console.log(`| ${r.step} | ${r.tensors} | ${r.bytes} | ${r.heapMB.toFixed(0)} | ${r.rssMB.toFixed(0)} | ${r.ms.toFixed(1)} |`);
  const first = rows[0]!;
  const last = rows[rows.length - 1]!;
  const ok = last.tensors === first.tensors && last.bytes === first.bytes && last.rssMB <= first.rssMB * 1.1;
  console.log(
    `\nfrom step ${first.step} to ${last.step}: tensors ${first.tensors} → ${last.tensors}, tf bytes ${first.bytes} → ${last.bytes}, ` +
      `RSS ${first.rssMB.toFixed(0)} → ${last.rssMB.toFixed(0)} MB: ${ok ? 'flat' : 'NOT FLAT'}`,
  );
  model.dispose();
  opt.dispose();
  process.exitCode = ok ? 0 : 1;
}

void main();
