/**
 * Feasibility of input-gradient statistics (issue 15, item 4: ImageNet-10 FGS ε = 0.01). For each image x with
 * predicted class y and runner-up r, the logit margin m = L_y − L_r and its input gradient g = ∇ₓ m. Scores (higher =
 * more adversarial): −m (the margin floor), ‖g‖₁ and ‖g‖₂ (local sensitivity: one-step attacks move images to where
 * the network is steep?), and the first-order distances to the boundary, −m / ‖g‖₁ (L∞, what an FGS step needs) and
 * −m / ‖g‖₂ (L2, DeepFool's step). Nothing fitted: AUROC and FP at 90 % detection per attack.
 *
 *   npx tsx bench/gradient-response.bench.ts --run runs/imagenet10-v11 --dataset imagenet10:../shared/data/imagenet10 \
 *     --n 1000 --attack-n 300 [--quantize yes]
 */
import '../src/node.js';
import * as tf from '@tensorflow/tfjs';
import { quantizeImages } from '../src/attacks/quantize.js';
import { auc, fprAtTpr } from '../src/eval/roc.js';
import { attackName, benchArg, forEachCachedAttack, openRun } from './lib/run-cache.js';

const quantize = benchArg('quantize', 'no') === 'yes';
const { run, victim, clean, shape, nAttacked } = await openRun((run) => `input-gradient statistics — ${run}${quantize ? '; adversarial images rounded to the 8-bit grid' : ''}`, { run: 'runs/imagenet10-v11', dataset: 'imagenet10:../shared/data/imagenet10' });
const k = victim.numClasses;

const STATS = ['−margin', '‖∇m‖₁', '‖∇m‖₂', '−m/‖∇m‖₁ (L∞ dist.)', '−m/‖∇m‖₂ (L2 dist.)'] as const;

function stats(x: tf.Tensor4D): Float64Array[] {
  const nx = x.shape[0];
  const out = STATS.map(() => new Float64Array(nx));
  const bs = 32;
  for (let s0 = 0; s0 < nx; s0 += bs) {
    const b = Math.min(bs, nx - s0);
    const res = tf.tidy(() => {
      const xb = x.slice([s0, 0, 0, 0], [b, -1, -1, -1]);
      const top = tf.topk(victim.logits(xb), 2).indices;
      const oy = tf.oneHot(top.slice([0, 0], [b, 1]).squeeze([1]) as tf.Tensor1D, k);
      const or = tf.oneHot(top.slice([0, 1], [b, 1]).squeeze([1]) as tf.Tensor1D, k);
      const marginOf = (xi: tf.Tensor4D): tf.Tensor1D => tf.sum(tf.mul(victim.logits(xi), tf.sub(oy, or)), 1) as tf.Tensor1D;
      const { value, grad } = tf.valueAndGrad((xi: tf.Tensor) => tf.sum(marginOf(xi as tf.Tensor4D)))(xb);
      void value;
      const m = marginOf(xb);
      const g = tf.reshape(grad, [b, -1]);
      const l1 = tf.sum(tf.abs(g), 1);
      const l2 = tf.sqrt(tf.sum(tf.square(g), 1));
      return [tf.neg(m), l1, l2, tf.neg(tf.div(m, l1)), tf.neg(tf.div(m, l2))];
    });
    res.forEach((t, i) => out[i]!.set(t.dataSync() as Float32Array, s0));
    tf.dispose(res);
  }
  return out;
}

const t0 = performance.now();
const sc = stats(clean);
console.log(`clean: ${clean.shape[0]} images, ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
const cell = (a: ArrayLike<number>, b: ArrayLike<number>): string => `${(100 * fprAtTpr(a, b, 0.9)).toFixed(1)} (${auc(a, b).toFixed(3)})`;
console.log('FP % at 90 % detection (AUROC)\n');
console.log(`| attack | ${STATS.join(' | ')} |`);
console.log(`|---|${STATS.map(() => '---').join('|')}|`);
await forEachCachedAttack(run, shape, nAttacked, async (a) => {
  const xa = quantize ? quantizeImages(a.x, 8) : a.x;
  const sa = stats(xa);
  if (quantize) xa.dispose();
  console.log(`| ${attackName(a, true)} (${a.x.shape[0]}) | ${STATS.map((_, i) => cell(sc[i]!, sa[i]!)).join(' | ')} |`);
});
console.log(`\n${((performance.now() - t0) / 1000).toFixed(0)} s in all`);
