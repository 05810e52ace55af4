/**
 * Fine-tuning a latent replica (PCL-METHOD §2: CE + γ·L+) of the paper's CIFAR-10 CNN (full width) with
 * batch norm: the fused batch-norm chain (`layerChain`, the default of `fineTuneReplica`) against
 * tfjs-layers' BatchNormalization (`fastBatchNorm: false`), with the same CNN without batch norm as the
 * reference measured in the same run. Before session 9 the replica of a batch-normalised victim always took
 * the tfjs-layers path, which made `pcl reproduce` without `--fold-batch-norm` too slow on CIFAR-10.
 *
 *   npx tsx bench/replica-finetune.bench.ts [--batch 128] [--steps 3] [--reps 3] [--checkpoint fc2]
 *
 * Prints, per variant, the median time per fine-tuning batch over `reps` interleaved rounds (each round
 * one epoch of `steps` batches on random images, after a warm-up round) and the ratio to the no-batch-norm
 * replica in the same round.
 */
import '../src/node.js';
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { engineInfo, initEngine } from '../src/engine/backend.js';
import { fineTuneReplica } from '../src/defense/latent/fine-tune.js';
import { LATENT_DEFAULTS } from '../src/defense/latent/params.js';
import { buildReplica, disposeReplica, type Replica } from '../src/defense/latent/replica.js';
import { layerChain } from '../src/models/bn-chain.js';
import { buildModel } from '../src/models/zoo.js';
import { setProgressEnabled } from '../src/util/progress.js';
import { benchArg } from './lib/run-cache.js';

const batch = Number(benchArg('batch', '128'));
const steps = Number(benchArg('steps', '3'));
const reps = Number(benchArg('reps', '3'));
const checkpoint = benchArg('checkpoint', 'fc2');
setProgressEnabled(false);

await initEngine();
const info = engineInfo()!;
console.log('# Latent replica fine-tuning, CIFAR-10 CNN (300 filters): fused batch norm vs tfjs-layers batch norm');
console.log(
  `machine: ${os.cpus()[0]?.model ?? '?'} (${os.availableParallelism()} cores), node ${process.version}, tfjs ${tf.version.tfjs}, ` +
    `${info.summary}; load average (1 min) at start ${os.loadavg()[0]!.toFixed(2)}`,
);
console.log(`checkpoint ${checkpoint}, batch ${batch}, ${steps} batches per round, ${reps} interleaved rounds after a warm-up, Adam\n`);

const n = batch * steps;
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
const x = tf.randomUniform([n, 32, 32, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
const yTrue = Int32Array.from({ length: n }, (_, i) => i % 10);
const y = tf.tensor1d(yTrue, 'int32');
const params = { ...LATENT_DEFAULTS, checkpointLayer: checkpoint, epochs: 1, batchSize: batch, scoreBatchSize: 500 };

interface Variant { name: string; replica: Replica; fast: boolean; times: number[] }
async function variant(name: string, batchNorm: boolean, fast: boolean): Promise<Variant> {
  const victim = buildModel('cifar-cnn', { inputShape: [32, 32, 3], numClasses: 10, width: 1, batchNorm, seed: 0 });
  const replica = await buildReplica(victim, checkpoint);
  const path = fast && layerChain(replica.chain, { tap: replica.normalizeLayer }) ? 'fused chain' : 'tfjs-layers';
  return { name: `${name} (${path})`, replica, fast, times: [] };
}
const variants = [await variant('no batch norm', false, true), await variant('batch norm, fused', true, true), await variant('batch norm, tfjs-layers', true, false)];

async function round(v: Variant): Promise<number> {
  const t = performance.now();
  await fineTuneReplica(v.replica, x, y, yTrue, 10, params, { fastBatchNorm: v.fast, progress: false });
  // one epoch also runs one forward pass over the n images for the initial centres: charge it to the batches as it is
  return (performance.now() - t) / steps;
}
for (const v of variants) await round(v); // warm-up
const ratios = variants.map(() => [] as number[]);
for (let r = 0; r < reps; r++) {
  const ms: number[] = [];
  for (const v of variants) {
    ms.push(await round(v));
    v.times.push(ms[ms.length - 1]!);
  }
  ms.forEach((m, i) => ratios[i]!.push(m / ms[0]!));
}
console.log('| variant | median per batch (ms) | vs no batch norm (median of per-round ratios) |');
console.log('|---|---:|---:|');
variants.forEach((v, i) => console.log(`| ${v.name} | ${median(v.times).toFixed(0)} | ${median(ratios[i]!).toFixed(2)}× |`));
for (const v of variants) disposeReplica(v.replica);
tf.dispose([x, y]);
