/**
 * The input defender's unsupervised levers on a `pcl reproduce` run (issue 15, item 4: "the input defender's patch
 * size and dictionary size"): fits one `InputDefender` per setting on the same clean training images (no
 * adversarial data), scores the run's clean rows (the correctly classified among its seeded `--n` test images) and
 * each cached attack's successful examples, and prints the AUROC of each setting per attack and its fit time.
 *
 *   npx tsx bench/input-levers.bench.ts --run runs/imagenet10-v6 --dataset imagenet10:../shared/data/imagenet10 \
 *     --n 300 --fit 3000 --patches 20000 --settings 4x225,8x225,16x225,8x100,8x450
 *
 * `--settings` lists PATCHxATOMS pairs (patch side in pixels × dictionary atoms); everything else is the library's
 * default (non-overlapping tiles, 5 non-zeros, the defender's `patchesPerClass` lowered to `--patches` for time).
 */
import '../src/node.js';
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { initEngine, engineInfo } from '../src/engine/backend.js';
import { loadDataset, disposeDataset } from '../src/data/index.js';
import { InputDefender } from '../src/defense/input/input-defender.js';
import { PCLDetector } from '../src/defense/pcl.js';
import { auc } from '../src/eval/roc.js';
import { setProgressEnabled } from '../src/util/progress.js';
import { attackName, benchArg, forEachCachedAttack } from './lib/run-cache.js';

const run = benchArg('run', 'runs/imagenet10-v6');
const ds = benchArg('dataset', 'imagenet10:../shared/data/imagenet10');
const nDraw = Number(benchArg('n', '300'));
const nFit = Number(benchArg('fit', '3000'));
const patches = Number(benchArg('patches', '20000'));
const settings = benchArg('settings', '4x225,8x225,16x225,8x100,8x450').split(',').map((s) => s.split('x').map(Number) as [number, number]);
setProgressEnabled(false);

await initEngine();
console.log(`# input defender levers — ${run}`);
console.log(`machine: ${os.cpus()[0]?.model ?? '?'} (${os.availableParallelism()} cores), node ${process.version}, tfjs ${tf.version.tfjs}, ${engineInfo()!.summary}; load average (1 min) at start ${os.loadavg()[0]!.toFixed(2)}`);
const det = await PCLDetector.load(`${run}/detector`);
const victim = det.victim;
const train = await loadDataset(ds, { split: 'train', limit: nFit, seed: 0 });
const test = await loadDataset(ds, { split: 'test', limit: nDraw, seed: 0 });
const yp = victim.predict(test.x).dataSync();
const yt = test.y.dataSync();
const ok = Array.from(yt.keys()).filter((i) => yp[i] === yt[i]);
const clean = tf.gather(test.x, ok) as tf.Tensor4D;
const [n0, h, w, c] = clean.shape;
console.log(`fit on ${nFit} training images (${patches} patches per class); ${n0} clean test rows\n`);

const defenders: { name: string; d: InputDefender; seconds: number }[] = [];
for (const [p, atoms] of settings) {
  const t = performance.now();
  const d = await new InputDefender(victim, { patchSize: p, nAtoms: atoms, patchesPerClass: patches, seed: 0 }).fit(train.x, train.y, { seed: 0 });
  defenders.push({ name: `${p}×${p}, ${atoms} atoms`, d, seconds: (performance.now() - t) / 1000 });
}
disposeDataset(train);
const classesOf = (x: tf.Tensor4D) => Int32Array.from(victim.predict(x).dataSync());
const cleanCls = classesOf(clean);
const cleanScores = await Promise.all(defenders.map((q) => q.d.scoreGiven(clean, cleanCls)));
const rows: string[][] = [];
await forEachCachedAttack(run, [0, h, w, c], n0, async (a) => {
  const cls = classesOf(a.x);
  const row = [`${attackName(a, true)} (n=${a.x.shape[0]}, L2 ${a.meanL2.toFixed(2)})`];
  for (let i = 0; i < defenders.length; i++) row.push(auc(cleanScores[i]!, await defenders[i]!.d.scoreGiven(a.x, cls)).toFixed(3));
  rows.push(row);
});
console.log(`| attack | ${defenders.map((q) => q.name).join(' | ')} |`);
console.log(`|---|${defenders.map(() => '---:').join('|')}|`);
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
console.log(`| fit time (s) | ${defenders.map((q) => q.seconds.toFixed(0)).join(' | ')} |`);
for (const q of defenders) q.d.dispose();
tf.dispose([clean]);
disposeDataset(test);
