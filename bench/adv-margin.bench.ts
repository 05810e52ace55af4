/**
 * Where adversarial examples land relative to the victim's decision boundary: for each cached attack
 * set of a `pcl reproduce` run, the median L2, the median (and 90th percentile) gap between the top two
 * logits of the victim on the adversarial images, and the median softmax probability of the class
 * they are given. Near 0 / 0.5: on the boundary (minimal-L2 attacks); larger: past it, inside the
 * new class (over-shooting or confident attacks).
 *
 *   npx tsx bench/adv-margin.bench.ts --victim runs/victims/cifar-cnn-v2 --run runs/cifar10-v3 --attack cw-l2
 */
import '../src/node.js';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../src/engine/backend.js';
import { loadClassifier } from '../src/models/io.js';
import { Classifier } from '../src/models/classifier.js';
import { readIdx } from '../src/io/idx.js';
import { benchArg } from './lib/run-cache.js';

const victim = benchArg('victim', 'runs/victims/cifar-cnn-v2');
const run = benchArg('run', 'runs/cifar10-v3');
const attack = benchArg('attack', 'cw-l2');

await initEngine();
const { model } = await loadClassifier(victim);
const clf = new Classifier(model, [0, 1]);
const med = (a: number[]) => a.slice().sort((q, r) => q - r)[a.length >> 1]!;
const q90 = (a: number[]) => a.slice().sort((q, r) => q - r)[Math.floor(0.9 * (a.length - 1))]!;
const cache = path.join(run, 'attack-cache');
console.log(`victim ${victim}, run ${run}\n`);
console.log('| attack set | params | rows | median L2 | median top-2 logit gap | 90th pct gap | median prob of the given class |');
console.log('|---|---|---:|---:|---:|---:|---:|');
for (const d of (await fs.readdir(cache)).filter((n) => n.startsWith(`${attack}-`)).sort()) {
  const key = JSON.parse(await fs.readFile(path.join(cache, d, 'key.json'), 'utf8')) as { params: Record<string, unknown> };
  const x = await readIdx(path.join(cache, d, 'x_adv.idx'));
  const l2 = Array.from((await readIdx(path.join(cache, d, 'l2.idx'))).data as Float32Array);
  const [gaps, probs] = tf.tidy(() => {
    const z = clf.logits(tf.tensor4d(x.data as Float32Array, x.shape as [number, number, number, number]));
    const top = tf.topk(z, 2).values;
    return [tf.sub(top.slice([0, 0], [-1, 1]), top.slice([0, 1], [-1, 1])).dataSync(), tf.max(tf.softmax(z), 1).dataSync()];
  });
  const g = Array.from(gaps!);
  const { binarySteps, iterations, confidence, abortScope } = key.params as Record<string, unknown>;
  const p = attack === 'cw-l2' ? `κ ${confidence}, ${binarySteps} × ${iterations}${abortScope ? `, abort per ${abortScope}` : ''}` : JSON.stringify(key.params);
  console.log(`| ${d} | ${p} | ${g.length} | ${med(l2).toFixed(3)} | ${med(g).toFixed(3)} | ${q90(g).toFixed(3)} | ${med(Array.from(probs!)).toFixed(3)} |`);
}
