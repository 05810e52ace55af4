/**
 * Why the input defender sees little on ImageNet-10 (issue 15, item 4): the statistic it scores and
 * the spectrum of the perturbations. For a `pcl reproduce` run (its detector and `attack-cache/`),
 * scores the run's clean rows (the correctly classified among `--n` seeded test images) and every
 * cached attack's successful examples with four unsupervised input-space statistics and prints the
 * AUROC of each: the defender's −PSNR of the sparse reconstruction (mean squared residual), the
 * median absolute residual of the same reconstruction, and Donoho's noise estimate
 * (median |finest Haar HH| / 0.6745) of the image and of the residual. Then, for each FGS ε, the
 * share of ‖δ‖² in the finest Haar detail bands (3/4 for white noise): a perturbation smooth at the
 * pixel scale changes no pixel-level statistic much. Nothing is fitted here.
 *
 *   npx tsx bench/input-statistic.bench.ts --run runs/imagenet10-v3 --dataset imagenet10:../shared/data/imagenet10 --n 300
 *   npx tsx bench/input-statistic.bench.ts --run runs/cifar10-e2e --dataset cifar10:../shared/data/cifar10 --n 150
 */
import '../src/node.js';
import os from 'node:os';
import { promises as fsp } from 'node:fs';
import { readIdx } from '../src/io/idx.js';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../src/engine/backend.js';
import { loadDataset } from '../src/data/index.js';
import { Classifier } from '../src/models/classifier.js';
import { auc } from '../src/eval/roc.js';
import { InputDefender } from '../src/defense/input/input-defender.js';
import { PCLDetector } from '../src/defense/pcl.js';
import { benchArg, forEachCachedAttack } from './lib/run-cache.js';

const run = benchArg('run', 'runs/imagenet10-v3');
const ds = benchArg('dataset', 'imagenet10:../shared/data/imagenet10');
await initEngine();
const det = await PCLDetector.load(`${run}/detector`);
const victim = (det as unknown as { victim: Classifier }).victim;
const input = det.defenders.find((d) => d instanceof InputDefender) as InputDefender;
const nDraw = Number(benchArg('n', '300'));
const test = await loadDataset(ds, { split: 'test', limit: nDraw, seed: 0 });
const yp = victim.predict(test.x as tf.Tensor4D).dataSync();
const yt = test.y.dataSync();
const ok = Array.from(yt.keys()).filter((i) => yp[i] === yt[i]);
const clean = tf.gather(test.x, ok) as tf.Tensor4D;
const [n0, h, w, c] = clean.shape;

function med(a: Float32Array): number { const s = Float32Array.from(a).sort(); return s[s.length >> 1]!; }
/** finest Haar HH of each channel, per image: median|HH|/0.6745 */
function haarSigma(x: Float32Array, n: number): Float32Array {
  const out = new Float32Array(n);
  const hh = new Float32Array((h >> 1) * (w >> 1) * c);
  for (let i = 0; i < n; i++) {
    const o = i * h * w * c; let k = 0;
    for (let r = 0; r + 1 < h; r += 2) for (let q = 0; q + 1 < w; q += 2) for (let ch = 0; ch < c; ch++) {
      const a = x[o + (r * w + q) * c + ch]!, b = x[o + (r * w + q + 1) * c + ch]!, d = x[o + ((r + 1) * w + q) * c + ch]!, e = x[o + ((r + 1) * w + q + 1) * c + ch]!;
      hh[k++] = Math.abs(a - b - d + e) / 2;
    }
    out[i] = med(hh) / 0.6745;
  }
  return out;
}
async function scores(x: tf.Tensor4D) {
  const n = x.shape[0];
  const cls = victim.predict(x).dataSync();
  const psnr = await input.scoreGiven(x, Int32Array.from(cls));
  const rec = await input.reconstruct(x, Int32Array.from(cls));
  const xd = x.dataSync() as Float32Array; const rd = rec.dataSync() as Float32Array; rec.dispose();
  const res = Float32Array.from(xd, (v, i) => v - rd[i]!);
  const mad = new Float32Array(n); const per = h * w * c;
  for (let i = 0; i < n; i++) mad[i] = med(Float32Array.from(res.subarray(i * per, (i + 1) * per), Math.abs));
  return { psnr, mad, haar: haarSigma(xd, n), haarRes: haarSigma(res, n) };
}
console.log(`# input-space statistics — ${run}\nmachine: ${os.cpus()[0]?.model ?? '?'} (${os.availableParallelism()} cores), node ${process.version}, tfjs ${tf.version.tfjs}\n`);
const sc = await scores(clean);
console.log(`clean ${n0}; medians: psnr ${med(sc.psnr).toFixed(2)} mad ${med(sc.mad).toFixed(4)} haar ${med(sc.haar).toFixed(4)}`);
await forEachCachedAttack(run, [0, h, w, c], n0, async (a) => {
  const s = await scores(a.x);
  const r = (k: keyof typeof sc) => auc(sc[k], s[k]).toFixed(3);
  console.log(`${a.entry} ${JSON.stringify(a.params).slice(0, 60)} n=${a.x.shape[0]} AUROC psnr ${r('psnr')} mad ${r('mad')} haar ${r('haar')} haarRes ${r('haarRes')}`);
}, (m) => console.log(m));
// the perturbation's spectrum: share of ‖δ‖² in the finest Haar detail bands (HL+LH+HH) — 3/4 for white noise
for (const e of (await fsp.readdir(`${run}/attack-cache`)).filter((d) => d.startsWith('fgsm-'))) {
  const xa = await readIdx(`${run}/attack-cache/${e}/x_adv.idx`);
  const cd = clean.dataSync();
  if (xa.shape[0] !== n0) { console.log('row mismatch'); continue; }
  let fine = 0, tot = 0;
  for (let i = 0; i < n0; i++) {
    const o = i * h * w * c;
    for (let r = 0; r + 1 < h; r += 2) for (let q = 0; q + 1 < w; q += 2) for (let ch = 0; ch < c; ch++) {
      const at = (rr: number, qq: number) => (xa.data as Float32Array)[o + (rr * w + qq) * c + ch]! - cd[o + (rr * w + qq) * c + ch]!;
      const a = at(r, q), b = at(r, q + 1), d = at(r + 1, q), f = at(r + 1, q + 1);
      const ll = (a + b + d + f) / 2;
      tot += a * a + b * b + d * d + f * f;
      fine += a * a + b * b + d * d + f * f - ll * ll;
    }
  }
  console.log(`${e}: share of the perturbation's energy in the finest detail bands ${(fine / tot).toFixed(3)} (white noise 0.750)`);
}
