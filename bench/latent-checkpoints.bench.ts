/**
 * Which latent checkpoints, and how many (issue 15, item 4: "checkpoint choice across layers"; the paper's Fig. 10):
 * on a `pcl reproduce` run, takes the bundle's fitted latent defenders (fc1, fc2 on the CNNs) and fits one more
 * `LatentDefender` (the bundle's settings) at each layer of `--layers` (e.g. the last pooling layer, whose flattened
 * features are the dense layers' input) on the run's clean fit split. Scores the run's clean test rows (every
 * correctly classified image of `--n`) and the cached attacks (the correctly classified of the seeded `--attack-n`).
 * Prints FP at 90 % detection (AUROC) of each checkpoint alone and of OR rules over sets of checkpoints (flag when
 * any checkpoint's empirical p-value among the clean training scores of the predicted class is below SP; the sweep
 * over SP gives the curve: score = 1 − min p). Nothing is fitted on adversarial data.
 *
 *   npx tsx bench/latent-checkpoints.bench.ts --run runs/imagenet10-v8 --dataset imagenet10:../shared/data/imagenet10 \
 *     --n 1000 --attack-n 300 --layers pool3 --sets fc2,fc1+fc2,pool3,pool3+fc2,pool3+fc1+fc2
 */
import '../src/node.js';
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { engineInfo, initEngine } from '../src/engine/backend.js';
import { disposeDataset, loadDataset } from '../src/data/index.js';
import { LatentDefender } from '../src/defense/latent/latent-defender.js';
import { PCLDetector, splitHoldout } from '../src/defense/pcl.js';
import { empiricalPValue } from '../src/defense/types.js';
import { auc, fprAtTpr } from '../src/eval/roc.js';
import { loadClassifier } from '../src/models/io.js';
import { Classifier } from '../src/models/classifier.js';
import { setProgressEnabled } from '../src/util/progress.js';
import { attackName, benchArg, forEachCachedAttack, runCleanRows } from './lib/run-cache.js';

const run = benchArg('run', 'runs/imagenet10-v8');
const ds = benchArg('dataset', 'imagenet10:../shared/data/imagenet10');
const n = Number(benchArg('n', '1000'));
const attackN = Number(benchArg('attack-n', '300'));
const fitLimit = Number(benchArg('fit-limit', '0')) || undefined;
const newLayers = benchArg('layers', 'pool3').split(',').filter(Boolean);
const sets = benchArg('sets', 'fc2,fc1+fc2,pool3,pool3+fc2,pool3+fc1+fc2').split(',').map((s) => s.split('+'));
setProgressEnabled(false);

await initEngine();
console.log(`# latent checkpoints — ${run}`);
console.log(`machine: ${os.cpus()[0]?.model ?? '?'} (${os.availableParallelism()} cores), node ${process.version}, tfjs ${tf.version.tfjs}, ${engineInfo()!.summary}; load average (1 min) at start ${os.loadavg()[0]!.toFixed(2)}`);
const det = await PCLDetector.load(`${run}/detector`);
const victim = new Classifier((await loadClassifier(`${run}/victim`)).model);
const latentParams = (det.params as unknown as { latent: Record<string, unknown> }).latent;
const defenders = new Map<string, LatentDefender>();
for (const d of det.defenders) if (d instanceof LatentDefender) defenders.set(d.params.checkpointLayer!, d);
console.log(`bundle checkpoints: ${[...defenders.keys()].join(', ')}`);

const { clean, shape, nAttacked } = await runCleanRows(ds, victim, n, attackN);

if (newLayers.some((l) => !defenders.has(l))) {
  const train = await loadDataset(ds, { split: 'train', limit: fitLimit, seed: 0 });
  const { fitIdx } = splitHoldout(await train.y.data(), det.params.calibrationFraction, 0);
  const xf = tf.gather(train.x, tf.tensor1d(fitIdx, 'int32')) as tf.Tensor4D;
  const yf = tf.gather(train.y, tf.tensor1d(fitIdx, 'int32')) as tf.Tensor1D;
  disposeDataset(train);
  for (const layer of newLayers) {
    if (defenders.has(layer)) continue;
    const t = performance.now();
    const d = new LatentDefender(victim, { ...latentParams, checkpointLayer: layer });
    await d.fit(xf, yf, { seed: 0 });
    console.log(`${layer}: fitted on ${fitIdx.length} images in ${((performance.now() - t) / 1000).toFixed(0)} s (feature dim ${d.replica.featureDim})`);
    defenders.set(layer, d);
  }
  tf.dispose([xf, yf]);
}

/** 1 − empirical p-value of each checkpoint's score among the clean training scores of the predicted class. */
async function pScores(x: tf.Tensor4D): Promise<Map<string, Float64Array>> {
  const cls = Int32Array.from(victim.predict(x).dataSync());
  const out = new Map<string, Float64Array>();
  for (const [layer, d] of defenders) {
    const s = await d.scoreGiven(x, cls);
    out.set(layer, Float64Array.from(s as ArrayLike<number>, (v, i) => 1 - empiricalPValue(d.trainScores(cls[i]!), v)));
  }
  return out;
}
function orScore(m: Map<string, Float64Array>, set: string[]): Float64Array {
  const cols = set.map((l) => m.get(l)!);
  return Float64Array.from(cols[0]!, (_, i) => Math.max(...cols.map((col) => col[i]!)));
}
const valid = sets.filter((s) => s.every((l) => defenders.has(l)));
const pc = await pScores(clean);
const cells = new Map<string, Map<string, string>>();
await forEachCachedAttack(run, shape, nAttacked, async (a) => {
  const pa = await pScores(a.x);
  const row = new Map<string, string>();
  for (const s of valid) {
    const sc = orScore(pc, s);
    const sa = orScore(pa, s);
    row.set(s.join('+'), `${(100 * fprAtTpr(sc, sa, 0.9)).toFixed(1)} (${auc(sc, sa).toFixed(3)})`);
  }
  cells.set(`${attackName(a, true)} (${a.x.shape[0]})`, row);
});
console.log(`\nFP % at 90 % detection (AUROC); '+' = OR rule over those checkpoints:\n`);
console.log(`| attack | ${valid.map((s) => s.join(' + ')).join(' | ')} |`);
console.log(`|---|${valid.map(() => '---').join('|')}|`);
for (const [a, row] of cells) console.log(`| ${a} | ${valid.map((s) => row.get(s.join('+'))).join(' | ')} |`);
