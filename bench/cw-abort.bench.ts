/**
 * C&W L2's early abort per row versus per batch (issue 11, item 5: what makes the paper's 20 × 500
 * budget affordable on the CNNs). Both scopes attack the same correctly classified test images with
 * the same schedule, one after the other in this process; the table gives wall and CPU seconds,
 * success rate and mean L2 of each, and the ratio row / batch.
 *
 *   npx tsx bench/cw-abort.bench.ts --model runs/victims/cifar-cnn-v2 --dataset cifar10:../shared/data/cifar10 --n 60 --cw 10x100
 *   npx tsx bench/cw-abort.bench.ts --model runs/quick/victim --dataset mnist --n 200 --cw 20x500
 *
 * Options: --batch 100 (rows per attack call)  --seed 0  --scopes batch,row
 */
import '../src/node.js';
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { generateAttackSet, type AttackSetSummary } from '../src/attacks/attack-set.js';
import { engineInfo, initEngine } from '../src/engine/backend.js';
import { benchArg } from './lib/run-cache.js';

const model = benchArg('model', 'runs/quick/victim');
const dataset = benchArg('dataset', 'mnist');
const n = Number(benchArg('n', '200'));
const [binarySteps, iterations] = benchArg('cw', '20x500').split('x').map(Number) as [number, number];
const batchSize = Number(benchArg('batch', '100'));
const seed = Number(benchArg('seed', '0'));
const scopes = benchArg('scopes', 'batch,row').split(',') as ('row' | 'batch')[];

await initEngine();
const info = engineInfo()!;
console.log('# C&W L2: early abort per row vs per batch');
console.log(
  `machine: ${os.cpus()[0]?.model ?? '?'} (${os.availableParallelism()} cores), node ${process.version}, tfjs ${tf.version.tfjs}, ` +
    `${info.summary}; load average (1 min) at start ${os.loadavg()[0]!.toFixed(2)}`,
);
console.log(`model ${model}, dataset ${dataset}, ${n} test images drawn (seed ${seed}), C&W ${binarySteps} × ${iterations}, batches of ${batchSize}\n`);

const rows: { scope: string; s: AttackSetSummary }[] = [];
for (const scope of scopes) {
  const s = await generateAttackSet({
    model,
    dataset,
    attack: 'cw-l2',
    params: { binarySteps, iterations, abortScope: scope },
    n,
    batchSize,
    seed,
  });
  rows.push({ scope, s });
  console.error(`${scope}: ${s.seconds.toFixed(1)} s`);
}
console.log('| abort scope | rows | wall s | CPU s | success | mean L2 |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const { scope, s } of rows) {
  console.log(`| ${scope} | ${s.n} | ${s.seconds.toFixed(1)} | ${s.cpuSeconds.toFixed(1)} | ${(100 * s.successRate).toFixed(1)} % | ${s.meanL2.toFixed(4)} |`);
}
const b = rows.find((r) => r.scope === 'batch')?.s;
const r = rows.find((x) => x.scope === 'row')?.s;
if (b && r) {
  console.log(
    `\nrow / batch: wall ${(r.seconds / b.seconds).toFixed(2)}×, CPU ${(r.cpuSeconds / b.cpuSeconds).toFixed(2)}×, ` +
      `mean L2 ${(r.meanL2 / b.meanL2).toFixed(3)}×, success ${(100 * r.successRate).toFixed(1)} vs ${(100 * b.successRate).toFixed(1)} %; ` +
      `load average (1 min) at end ${os.loadavg()[0]!.toFixed(2)}`,
  );
}
