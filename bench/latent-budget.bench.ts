/**
 * The latent defender's fitting budget on a `pcl reproduce` run (issue 15, item 4: "the fine-tuning budget"): refits
 * the main checkpoint's `LatentDefender` (default scoring) on the run's clean fit split with several (fit images ×
 * fine-tuning epochs) settings and scores the run's clean test rows (every correctly classified image of `--n`) and the
 * cached attacks (the correctly classified of the seeded `--attack-n`, as `reproduce --attack-n` attacks them).
 * Prints AUROC and FP at 90 % detection of the latent defender alone under the paper's SP sweep (flagged when the
 * score's empirical p-value among the clean training scores of the predicted class is below SP). Nothing is fitted on
 * adversarial data.
 *
 *   npx tsx bench/latent-budget.bench.ts --run runs/cifar10-v5 --dataset cifar10:../shared/data/cifar10 --n 1000 \
 *     --attack-n 150 --layer fc2 --settings 10000x3,10000x6,20000x3
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

const run = benchArg('run', 'runs/cifar10-v5');
const ds = benchArg('dataset', 'cifar10:../shared/data/cifar10');
const n = Number(benchArg('n', '1000'));
const attackN = Number(benchArg('attack-n', '150'));
const layer = benchArg('layer', 'fc2');
const settings = benchArg('settings', '10000x3,10000x6,20000x3').split(',').map((s) => s.split('x').map(Number) as [number, number]);
setProgressEnabled(false);

await initEngine();
console.log(`# latent defender budget — ${run}, checkpoint ${layer}`);
console.log(`machine: ${os.cpus()[0]?.model ?? '?'} (${os.availableParallelism()} cores), node ${process.version}, tfjs ${tf.version.tfjs}, ${engineInfo()!.summary}; load average (1 min) at start ${os.loadavg()[0]!.toFixed(2)}`);
const det = await PCLDetector.load(`${run}/detector`);
const victim = new Classifier((await loadClassifier(`${run}/victim`)).model);
const latentParams = (det.params as unknown as { latent: Record<string, unknown> }).latent;
const { clean, shape, nAttacked } = await runCleanRows(ds, victim, n, attackN);
console.log();

/** The paper's SP sweep as a score: 1 − empirical p-value of the score among the clean training scores of the predicted class. */
async function sweepScores(d: LatentDefender, x: tf.Tensor4D): Promise<Float64Array> {
  const cls = Int32Array.from(victim.predict(x).dataSync());
  const s = await d.scoreGiven(x, cls);
  return Float64Array.from(s as ArrayLike<number>, (v, i) => 1 - empiricalPValue(d.trainScores(cls[i]!), v));
}
const results: { name: string; seconds: number; cells: Map<string, string> }[] = [];
for (const [fit, epochs] of settings) {
  const train = await loadDataset(ds, { split: 'train', limit: fit, seed: 0 });
  const { fitIdx } = splitHoldout(await train.y.data(), det.params.calibrationFraction, 0);
  const xf = tf.gather(train.x, tf.tensor1d(fitIdx, 'int32')) as tf.Tensor4D;
  const yf = tf.gather(train.y, tf.tensor1d(fitIdx, 'int32')) as tf.Tensor1D;
  disposeDataset(train);
  const t = performance.now();
  const d = new LatentDefender(victim, { ...latentParams, checkpointLayer: layer, epochs });
  await d.fit(xf, yf, { seed: 0 });
  const seconds = (performance.now() - t) / 1000;
  tf.dispose([xf, yf]);
  const sc = await sweepScores(d, clean);
  const cells = new Map<string, string>();
  await forEachCachedAttack(run, shape, nAttacked, async (a) => {
    const sa = await sweepScores(d, a.x);
    cells.set(attackName(a, true), `${(100 * fprAtTpr(sc, sa, 0.9)).toFixed(1)} (${auc(sc, sa).toFixed(3)})`);
  });
  results.push({ name: `${fitIdx.length} fit images × ${epochs} epochs`, seconds, cells });
  d.dispose();
  console.log(`${results[results.length - 1]!.name}: fitted in ${seconds.toFixed(0)} s`);
}
const attacks = [...results[0]!.cells.keys()];
console.log(`\nFP % at 90 % detection (AUROC), latent:${layer} alone:\n`);
console.log(`| setting | fit (s) | ${attacks.join(' | ')} |`);
console.log(`|---|---:|${attacks.map(() => '---').join('|')}|`);
for (const r of results) console.log(`| ${r.name} | ${r.seconds.toFixed(0)} | ${attacks.map((a) => r.cells.get(a) ?? '–').join(' | ')} |`);
