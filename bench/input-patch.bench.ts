/**
 * Issue 12's remaining input-defender lever: the patch size (and the scoring stride), measured on MNIST
 * against every attack of a `pcl reproduce --dataset mnist` run (its `attack-cache/`; rows = the
 * correctly classified images among the run's `--n` seeded test images, in order).
 *
 *   npx tsx bench/input-patch.bench.ts [--run runs/mnist5] [--n 1000] [--sizes 5,7,9] [--stride 2]
 *       [--patches 50000] [--seed 0]
 *
 * For each patch size p, fits an `InputDefender` (LARS dictionaries, 225 atoms, `--patches` random
 * training patches per class, 10 OMP atoms at scoring, stride `--stride` or 'tile') on the MNIST
 * training split, scores the clean rows and each attack's successful examples under the victim's
 * predicted class, and prints AUROC and detection at clean FP ≤ 5 % of the input defender alone.
 * Nothing is fitted on adversarial examples.
 */
import '../src/node.js';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs';
import { loadDataset } from '../src/data/index.js';
import { InputDefender } from '../src/defense/input/input-defender.js';
import { initEngine } from '../src/engine/backend.js';
import { readIdx } from '../src/io/idx.js';
import { auc } from '../src/eval/roc.js';
import { loadClassifier } from '../src/models/io.js';
import { Classifier } from '../src/models/classifier.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}
const RUN = arg('run', 'runs/mnist5');
const N = Number(arg('n', '1000'));
const SIZES = arg('sizes', '5,7,9').split(',').map(Number);
const STRIDE = arg('stride', '2') === 'tile' ? 'tile' : Number(arg('stride', '2'));
const PATCHES = Number(arg('patches', '50000'));
const SEED = Number(arg('seed', '0'));
const log = (m: string) => process.stderr.write(`[input-patch ${new Date().toISOString().slice(11, 19)}] ${m}\n`);

const engine = await initEngine();
console.log(`# input defender patch size on ${RUN} (stride ${STRIDE}, 10 atoms at scoring, ${PATCHES} patches per class)`);
console.log(`machine: ${os.cpus()[0]?.model ?? 'cpu'} ×${os.cpus().length} (load ${os.loadavg().map((v) => v.toFixed(1)).join('/')}), node ${process.version}, tfjs ${engine.tfjsVersion} ${engine.backend}, ${new Date().toISOString()}`);
const { model } = await loadClassifier(path.join(RUN, 'victim'));
const victim = new Classifier(model);
const train = await loadDataset('mnist', { split: 'train' });
const test = await loadDataset('mnist', { split: 'test', limit: N, seed: SEED });
const yTest = Int32Array.from(await test.y.data());
const predT = victim.predict(test.x);
const pred = Int32Array.from(await predT.data());
predT.dispose();
const ok = Array.from(pred.keys()).filter((i) => pred[i] === yTest[i]);
const okT = tf.tensor1d(ok, 'int32');
const xClean = tf.gather(test.x, okT) as tf.Tensor4D;
okT.dispose();
const yClean = Int32Array.from(ok, (i) => pred[i]);

// the cached attack sets: successful examples and the victim's class on them
const cacheDir = path.join(RUN, 'attack-cache');
const sets: { name: string; x: tf.Tensor4D; yPred: Int32Array }[] = [];
for (const entry of (await fs.readdir(cacheDir)).sort()) {
  const dir = path.join(cacheDir, entry);
  const key = JSON.parse(await fs.readFile(path.join(dir, 'key.json'), 'utf8')) as { attack: string; params: Record<string, number> };
  const xa = await readIdx(path.join(dir, 'x_adv.idx'));
  const sa = await readIdx(path.join(dir, 'success.idx'));
  if (xa.shape[0] !== ok.length) continue;
  const rows = Array.from(sa.data.keys()).filter((i) => sa.data[i]);
  if (rows.length < 10) continue;
  const all = tf.tensor4d(Float32Array.from(xa.data), xa.shape as [number, number, number, number]);
  const ri = tf.tensor1d(rows, 'int32');
  const x = tf.gather(all, ri) as tf.Tensor4D;
  tf.dispose([all, ri]);
  const pt = victim.predict(x);
  const yPred = Int32Array.from(await pt.data());
  pt.dispose();
  const p = key.params;
  const name =
    key.attack === 'cw-l2' ? `C&W κ=${p.confidence ?? 0}` :
    key.attack === 'bim' ? `PGD L∞ ${p.eps}` :
    key.attack === 'pgd-l2' ? `PGD L2 ${p.eps}` :
    key.attack === 'fgsm' ? `FGSM ${p.eps}` : key.attack;
  sets.push({ name, x, yPred });
}
sets.sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));

const detAtFp = (c: Float32Array, a: Float32Array, fp: number) => {
  const sorted = Float32Array.from(c).sort();
  const thr = sorted[Math.min(sorted.length - 1, Math.ceil((1 - fp) * sorted.length) - 1)];
  return a.filter((v) => v > thr).length / a.length;
};
const rows: { p: number; fit: number; score: number; auc: number[]; det: number[] }[] = [];
for (const p of SIZES) {
  const det = new InputDefender(victim, { patchSize: p, stride: STRIDE === 'tile' ? 'tile' : Math.min(STRIDE, p), nNonzero: 10, patchesPerClass: PATCHES, seed: SEED });
  let t0 = performance.now();
  log(`p = ${p}: fitting`);
  await det.fit(train.x, train.y, { seed: SEED });
  const fit = (performance.now() - t0) / 1000;
  t0 = performance.now();
  const c = await det.score(xClean, yClean);
  const aucs: number[] = [];
  const dets: number[] = [];
  for (const s of sets) {
    const a = await det.score(s.x, s.yPred);
    aucs.push(auc(c, a));
    dets.push(detAtFp(c, a, 0.05));
  }
  rows.push({ p, fit, score: (performance.now() - t0) / 1000, auc: aucs, det: dets });
  log(`p = ${p}: fit ${fit.toFixed(0)} s`);
  det.dispose();
}
console.log(`\nclean: ${ok.length} correctly classified of ${N} test images\n`);
for (const [title, key] of [['AUROC (input defender alone)', 'auc'], ['detection at clean FP ≤ 5 % (%)', 'det']] as const) {
  console.log(`### ${title}\n`);
  console.log(`| patch | fit (s) | ${sets.map((s) => `${s.name} (n ${s.x.shape[0]})`).join(' | ')} |`);
  console.log(`|---|---:|${sets.map(() => '---:').join('|')}|`);
  for (const r of rows) console.log(`| ${r.p}×${r.p} | ${r.fit.toFixed(0)} | ${r[key].map((v) => (key === 'auc' ? v.toFixed(3) : (100 * v).toFixed(1))).join(' | ')} |`);
  console.log('');
}
