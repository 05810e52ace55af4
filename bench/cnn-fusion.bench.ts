/**
 * A lever for the CNN victims (issues 12 and 15): does a shared-covariance Mahalanobis score, fitted on
 * the same clean images, complete PCL's defenders where they are blind (PGD, confident C&W)?
 *
 *   npx tsx bench/cnn-fusion.bench.ts [--run runs/cifar10-cwhigh] [--dataset cifar10:../shared/data/cifar10]
 *       [--n 150] [--fit-limit 10000] [--seed 0]
 *
 * Reads a `pcl reproduce` run folder (its `detector/` bundle and its `attack-cache/`; the cached rows are the
 * correctly classified images among the `--n` seeded test images, in order), refits the Mahalanobis
 * baseline at the main checkpoint on the bundle's own fitting split, scores the bundle's held-out
 * clean split (the reference for p-values), the clean test rows and every cached attack's successful
 * examples, and compares fusions of per-class p-values: PCL's defenders alone vs PCL + Mahalanobis,
 * by Fisher (sum of −log p) and by min-p (max of −log p). Nothing is fitted on adversarial examples.
 * Prints AUROC, FP at 90 % detection and detection at clean FP ≤ 5 % per attack (markdown).
 */
import '../src/node.js';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadDataset } from '../src/data/index.js';
import { MahalanobisDetector } from '../src/defense/baselines/mahalanobis.js';
import { negLogTailPValue } from '../src/defense/latent/scoring.js';
import { PCLDetector, splitHoldout } from '../src/defense/pcl.js';
import type { Detector } from '../src/defense/types.js';
import { initEngine } from '../src/engine/backend.js';
import { auc, fprAtTpr } from '../src/eval/roc.js';
import { attackName, benchArg, forEachCachedAttack } from './lib/run-cache.js';

const RUN = benchArg('run', 'runs/cifar10-cwhigh');
const DATASET = benchArg('dataset', 'cifar10:../shared/data/cifar10');
const N = Number(benchArg('n', '150'));
const FIT_LIMIT = Number(benchArg('fit-limit', '10000'));
const SEED = Number(benchArg('seed', '0'));
const log = (m: string) => process.stderr.write(`[cnn-fusion ${new Date().toISOString().slice(11, 19)}] ${m}\n`);

const engine = await initEngine();
console.log(`# PCL + Mahalanobis fusion on ${RUN}`);
console.log(`machine: ${os.cpus()[0]?.model ?? 'cpu'} ×${os.cpus().length} (load ${os.loadavg().map((v) => v.toFixed(1)).join('/')}), node ${process.version}, tfjs ${engine.tfjsVersion} ${engine.backend}, ${new Date().toISOString()}`);
const det = await PCLDetector.load(path.join(RUN, 'detector'));
const victim = det.victim;
const names = victim.layerNames();
const main = names[names.length - 2];

/** Victim predictions in batches. */
async function predict(x: tf.Tensor4D): Promise<Int32Array> {
  const out = new Int32Array(x.shape[0]);
  for (let s = 0; s < x.shape[0]; s += 200) {
    const m = Math.min(200, x.shape[0] - s);
    const p = tf.tidy(() => victim.predict(x.slice([s, 0, 0, 0], [m, -1, -1, -1])));
    out.set(await p.data(), s);
    p.dispose();
  }
  return out;
}

// 1. the bundle's fitting / held-out split (as `reproduce` makes it), the Mahalanobis baseline on the fitting part
const train = await loadDataset(DATASET, { split: 'train', limit: FIT_LIMIT, seed: SEED });
const yTrain = Int32Array.from(await train.y.data());
const { fitIdx, calIdx } = splitHoldout(yTrain, det.params.calibrationFraction, SEED);
const maha = new MahalanobisDetector(victim, { layer: main });
{
  const xi = tf.tensor1d(fitIdx, 'int32');
  const xFit = tf.gather(train.x, xi) as tf.Tensor4D;
  const yFit = tf.gather(train.y, xi) as tf.Tensor1D;
  log(`fitting Mahalanobis at ${main} on ${fitIdx.length} clean training images`);
  await maha.fit(xFit, yFit);
  tf.dispose([xi, xFit, yFit]);
}
const defenders: { label: string; d: Detector }[] = [...det.defenders.map((d) => ({ label: d.label, d: d as Detector })), { label: `mahalanobis:${main}`, d: maha }];

interface Scored {
  yPred: Int32Array;
  scores: Float32Array[]; // per defender
}
async function scoreAll(x: tf.Tensor4D, what: string): Promise<Scored> {
  const yPred = await predict(x);
  const scores: Float32Array[] = [];
  for (const { label, d } of defenders) {
    log(`${what}: ${label} on ${x.shape[0]}`);
    scores.push(await d.score(x, yPred));
  }
  return { yPred, scores };
}

// 2. reference = the held-out split, correctly classified
let ref: Scored;
{
  const ci = tf.tensor1d(calIdx, 'int32');
  const xCal = tf.gather(train.x, ci) as tf.Tensor4D;
  const all = await scoreAll(xCal, 'reference (held-out clean)');
  const ok = Array.from(all.yPred.keys()).filter((i) => all.yPred[i] === yTrain[calIdx[i]]);
  ref = { yPred: Int32Array.from(ok, (i) => all.yPred[i]), scores: all.scores.map((s) => Float32Array.from(ok, (i) => s[i])) };
  tf.dispose([ci, xCal]);
}
tf.dispose([train.x, train.y]);
const K = victim.numClasses;
const sortedRef = defenders.map((_, j) => Array.from({ length: K }, (_, k) => Float32Array.from(ref.scores[j].filter((_, i) => ref.yPred[i] === k)).sort()));
const nlp = (s: Scored): Float64Array[] => defenders.map((_, j) => Float64Array.from(s.scores[j], (v, i) => negLogTailPValue(sortedRef[j][s.yPred[i]], v)));

// 3. clean test rows (the correctly classified among the N seeded test images, as the cache)
const test = await loadDataset(DATASET, { split: 'test', limit: N, seed: SEED });
const yTest = Int32Array.from(await test.y.data());
const pt = await predict(test.x);
const okTest = Array.from(pt.keys()).filter((i) => pt[i] === yTest[i]);
const xClean = tf.gather(test.x, tf.tensor1d(okTest, 'int32')) as tf.Tensor4D;
tf.dispose([test.x, test.y]);
const clean = nlp(await scoreAll(xClean, 'clean test'));
const shape = xClean.shape;
xClean.dispose();

// 4. every cached attack: successful examples
const sets: { name: string; l2: number; n: number; nlp: Float64Array[] }[] = [];
await forEachCachedAttack(RUN, shape as [number, number, number, number], okTest.length, async (c) => {
  const name = attackName(c, true);
  sets.push({ name, l2: c.meanL2, n: c.x.shape[0], nlp: nlp(await scoreAll(c.x, name)) });
}, log);

sets.sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));

// 5. rules
const pclIdx = det.defenders.map((_, j) => j);
const allIdx = defenders.map((_, j) => j);
const fisher = (idx: number[]) => (v: Float64Array[]) => Float64Array.from(v[0], (_, i) => idx.reduce((a, j) => a + v[j][i], 0));
const minP = (idx: number[]) => (v: Float64Array[]) => Float64Array.from(v[0], (_, i) => Math.max(...idx.map((j) => v[j][i])));
const rules: { name: string; f: (v: Float64Array[]) => Float64Array }[] = [
  ...defenders.map(({ label }, j) => ({ name: label, f: (v: Float64Array[]) => v[j] })),
  { name: `PCL Fisher (${det.labels.join(' + ')})`, f: fisher(pclIdx) },
  { name: 'PCL + Mahalanobis, Fisher', f: fisher(allIdx) },
  { name: 'PCL min-p', f: minP(pclIdx) },
  { name: 'PCL + Mahalanobis, min-p', f: minP(allIdx) },
];
const detAtFp = (c: Float64Array, a: Float64Array, fp: number) => {
  const sorted = Float64Array.from(c).sort();
  const thr = sorted[Math.min(sorted.length - 1, Math.ceil((1 - fp) * sorted.length) - 1)];
  return a.filter((v) => v > thr).length / a.length;
};
console.log(`\nclean: ${okTest.length} correctly classified of ${N} test images; reference: ${ref.yPred.length} held-out clean training images\n`);
for (const metric of ['AUROC', 'FP at 90 % detection (%)', 'detection at clean FP ≤ 5 % (%)'] as const) {
  console.log(`### ${metric}\n`);
  console.log(`| rule | ${sets.map((s) => `${s.name} (n ${s.n}, L2 ${s.l2.toFixed(2)})`).join(' | ')} |`);
  console.log(`|---|${sets.map(() => '---:').join('|')}|`);
  for (const r of rules) {
    const c = r.f(clean);
    const cells = sets.map((s) => {
      const a = r.f(s.nlp);
      if (metric === 'AUROC') return auc(c, a).toFixed(3);
      if (metric === 'FP at 90 % detection (%)') return (100 * fprAtTpr(c, a, 0.9)).toFixed(1);
      return (100 * detAtFp(c, a, 0.05)).toFixed(1);
    });
    console.log(`| ${r.name} | ${cells.join(' | ')} |`);
  }
  console.log('');
}
det.dispose();
maha.dispose();
