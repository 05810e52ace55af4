/**
 * The training step of the paper's CIFAR-10 CNN (full width) with batch norm: the fused batch-norm
 * path (`PclBatchNorm`, `makeTrainStep`'s 'batch-norm' path) against tfjs-layers' BatchNormalization
 * (`--no-fast-batch-norm`), with the same CNN without batch norm as the reference measured in the
 * same run (issue 15: a batch-norm victim was ≈ 20 min per epoch on these two cores).
 *
 *   npx tsx bench/bn-step.bench.ts [--batch 64] [--reps 5] [--no-layers]
 *
 * Prints the median step time of each variant over `reps` interleaved rounds (after one warm-up
 * step each), the ratio of each to the no-batch-norm step in the same round, and the kernels of
 * one fused step by time.
 */
import '../src/node.js';
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { engineInfo, initEngine } from '../src/engine/backend.js';
import { makeOptimizer, makeTrainStep, type TrainStep } from '../src/models/train.js';
import { buildModel } from '../src/models/zoo.js';
import { benchArg } from './lib/run-cache.js';

const batch = Number(benchArg('batch', '64'));
const reps = Number(benchArg('reps', '5'));
const withLayers = !process.argv.includes('--no-layers');

await initEngine();
const info = engineInfo()!;
console.log('# CIFAR-10 CNN (300 filters) train step: fused batch norm vs tfjs-layers batch norm');
console.log(
  `machine: ${os.cpus()[0]?.model ?? '?'} (${os.availableParallelism()} cores), node ${process.version}, tfjs ${tf.version.tfjs}, ` +
    `${info.summary}; load average (1 min) at start ${os.loadavg()[0]!.toFixed(2)}`,
);
console.log(`batch ${batch}, ${reps} interleaved rounds, Adam\n`);

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
const x = tf.randomUniform([batch, 32, 32, 3], 0, 1, 'float32', 1);
const y = tf.tensor1d(Array.from({ length: batch }, (_, i) => i % 10), 'int32');

function variant(name: string, batchNorm: boolean, fastBatchNorm: boolean): { name: string; step: TrainStep; times: number[] } {
  const model = buildModel('cifar-cnn', { inputShape: [32, 32, 3], numClasses: 10, width: 1, batchNorm, seed: 0 });
  const step = makeTrainStep(model, makeOptimizer('adam', 1e-3), { fastBatchNorm });
  step.run(x, y); // warm-up: kernels, oneDNN primitives, heap growth
  return { name: `${name} (path ${step.path})`, step, times: [] };
}

const variants = [variant('no batch norm', false, true), variant('batch norm, fused', true, true)];
if (withLayers) variants.push(variant('batch norm, tfjs-layers', true, false));
const ratios = variants.map(() => [] as number[]);
for (let r = 0; r < reps; r++) {
  const round: number[] = [];
  for (const v of variants) {
    const t = performance.now();
    v.step.run(x, y);
    round.push(performance.now() - t);
    v.times.push(round[round.length - 1]!);
  }
  round.forEach((ms, i) => ratios[i]!.push(ms / round[0]!));
}
console.log('| variant | median step (ms) | ms per image | vs no batch norm (median of per-round ratios) |');
console.log('|---|---:|---:|---:|');
variants.forEach((v, i) =>
  console.log(`| ${v.name} | ${median(v.times).toFixed(0)} | ${(median(v.times) / batch).toFixed(2)} | ${median(ratios[i]!).toFixed(2)}× |`),
);

const prof = await tf.profile(() => {
  variants[1]!.step.run(x, y);
});
const byName = new Map<string, number>();
for (const k of prof.kernels) byName.set(k.name, (byName.get(k.name) ?? 0) + (Number(k.kernelTimeMs) || 0));
console.log(`\nfused step: ${prof.kernels.length} kernels; by time (ms):`);
for (const [name, ms] of [...byName].sort((a, b) => b[1] - a[1]).slice(0, 10)) console.log(`  ${name.padEnd(24)} ${ms.toFixed(1)}`);
