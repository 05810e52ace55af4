/**
 * Feasibility of a noise-response checkpoint (issue 15, item 4: minimal perturbations — DeepFool, C&W — sit on the
 * victim's decision boundary, where random noise moves the logits back towards the source class far more than it does
 * for clean images): on a `pcl reproduce` run, for every image x with predicted class y, the mean change under m
 * Gaussian noise draws of each logit margin, g_z = E_η[(L_z − L_y)(x + η)] − (L_z − L_y)(x), standardised with the
 * mean and standard deviation of g_z among clean training images predicted y; score = max_z of the standardised g_z
 * (the statistic of Roth et al., "The odds are odd", ICML 2019, fitted on clean data only). Prints AUROC and FP at
 * 90 % detection per attack and σ.
 *
 *   npx tsx bench/noise-response.bench.ts --run runs/imagenet10-v8 --dataset imagenet10:../shared/data/imagenet10 \
 *     --n 1000 --attack-n 300 --sigmas 0.01,0.03,0.1 --draws 32 --fit 2000
 */
import '../src/node.js';
import * as tf from '@tensorflow/tfjs';
import { disposeDataset, loadDataset } from '../src/data/index.js';
import { auc, fprAtTpr } from '../src/eval/roc.js';
import { attackName, benchArg, forEachCachedAttack, openRun } from './lib/run-cache.js';

const sigmas = benchArg('sigmas', '0.01,0.03,0.1').split(',').map(Number);
const draws = Number(benchArg('draws', '32'));
const fitN = Number(benchArg('fit', '2000'));
const { run, dataset: ds, victim, clean, shape, nAttacked } = await openRun((run) => `noise response — ${run}; σ ∈ {${sigmas.join(', ')}}, ${draws} draws`, { run: 'runs/imagenet10-v8', dataset: 'imagenet10:../shared/data/imagenet10' });
const [, h, w, c] = shape;
const k = victim.model.outputs[0]!.shape[1]!;

/** g[s, z] (n × K, row-major) and the predicted classes, for noise σ. */
function response(x: tf.Tensor4D, sigma: number, seed: number): { g: Float32Array; cls: Int32Array } {
  const nx = x.shape[0];
  const g = new Float32Array(nx * k);
  const cls = new Int32Array(nx);
  const bs = 64;
  for (let s0 = 0; s0 < nx; s0 += bs) {
    const b = Math.min(bs, nx - s0);
    const [gb, cb] = tf.tidy(() => {
      const xb = x.slice([s0, 0, 0, 0], [b, h, w, c]);
      const l0 = victim.logits(xb);
      const y = l0.argMax(1);
      const ly0 = tf.sum(tf.mul(l0, tf.oneHot(y, k)), 1, true);
      const m0 = tf.sub(l0, ly0); // [b, K] margins at x
      let acc = tf.zerosLike(m0);
      for (let t = 0; t < draws; t++) {
        const xn = tf.add(xb, tf.randomNormal(xb.shape, 0, sigma, 'float32', seed + s0 * draws + t));
        const l = victim.logits(xn as tf.Tensor4D);
        const ly = tf.sum(tf.mul(l, tf.oneHot(y, k)), 1, true);
        acc = tf.add(acc, tf.sub(l, ly));
      }
      return [tf.sub(tf.div(acc, draws), m0), y];
    });
    g.set(gb.dataSync() as Float32Array, s0 * k);
    cls.set(cb.dataSync() as Int32Array, s0);
    tf.dispose([gb, cb]);
  }
  return { g, cls };
}

const train = await loadDataset(ds, { split: 'train', limit: fitN, seed: 1 });
const tp = train.y.dataSync();
const fitOk = Array.from(victim.predict(train.x).dataSync()).map((v, i) => (v === tp[i] ? i : -1)).filter((i) => i >= 0);
const xfit = tf.gather(train.x, fitOk) as tf.Tensor4D;
disposeDataset(train);
console.log(`statistics from ${fitOk.length} correctly classified training images\n`);

const out = new Map<string, Map<number, string>>();
for (const sigma of sigmas) {
  const t0 = performance.now();
  const fit = response(xfit, sigma, 1000);
  const mu = new Float64Array(k * k);
  const sd = new Float64Array(k * k);
  const cnt = new Float64Array(k);
  for (let s = 0; s < fit.cls.length; s++) {
    const y = fit.cls[s]!;
    cnt[y]++;
    for (let z = 0; z < k; z++) mu[y * k + z] += fit.g[s * k + z]!;
  }
  for (let y = 0; y < k; y++) for (let z = 0; z < k; z++) mu[y * k + z] /= Math.max(cnt[y]!, 1);
  for (let s = 0; s < fit.cls.length; s++) {
    const y = fit.cls[s]!;
    for (let z = 0; z < k; z++) sd[y * k + z] += (fit.g[s * k + z]! - mu[y * k + z]!) ** 2;
  }
  for (let y = 0; y < k; y++) for (let z = 0; z < k; z++) sd[y * k + z] = Math.sqrt(sd[y * k + z]! / Math.max(cnt[y]! - 1, 1)) + 1e-6;
  const score = (r: { g: Float32Array; cls: Int32Array }): Float64Array =>
    Float64Array.from(r.cls, (y, s) => {
      let best = -Infinity;
      for (let z = 0; z < k; z++) if (z !== y) best = Math.max(best, (r.g[s * k + z]! - mu[y * k + z]!) / sd[y * k + z]!);
      return best;
    });
  const sc = score(response(clean, sigma, 2000));
  await forEachCachedAttack(run, shape, nAttacked, async (a) => {
    const sa = score(response(a.x, sigma, 3000));
    const name = `${attackName(a, true)} (${a.x.shape[0]})`;
    if (!out.has(name)) out.set(name, new Map());
    out.get(name)!.set(sigma, `${(100 * fprAtTpr(sc, sa, 0.9)).toFixed(1)} (${auc(sc, sa).toFixed(3)})`);
  });
  console.log(`σ = ${sigma}: ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}
console.log(`\nFP % at 90 % detection (AUROC), noise response alone:\n`);
console.log(`| attack | ${sigmas.map((s) => `σ = ${s}`).join(' | ')} |`);
console.log(`|---|${sigmas.map(() => '---').join('|')}|`);
for (const [a, row] of out) console.log(`| ${a} | ${sigmas.map((s) => row.get(s)).join(' | ')} |`);
