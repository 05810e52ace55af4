/**
 * Feasibility of a squeeze-response checkpoint (issue 15, item 4: ImageNet-10 FGS ε = 0.01). A one-step sign
 * perturbation that barely crosses the boundary lands where clean images close to a boundary also sit, so every
 * distance-to-boundary statistic (the logit margin, the latent densities, random-noise response) confuses the two.
 * A denoiser ("squeezer", Xu et al., NDSS 2018) moves an adversarial image back along the perturbation, i.e. across
 * the boundary it just crossed, while it moves a clean image in a direction unrelated to its boundary. For each image
 * x (predicted class y) and squeezer S: margin drop d = m_y(x) − m_y(S(x)), m_y = L_y − max_{z≠y} L_z, and the L1
 * distance of the softmax outputs (Xu's score). Nothing fitted: AUROC and FP at 90 % detection per attack.
 *
 *   npx tsx bench/squeeze-response.bench.ts --run runs/imagenet10-v11 --dataset imagenet10:../shared/data/imagenet10 \
 *     --n 1000 --attack-n 300 [--squeezers median2,median3,blur0.5,blur1,bits6,bits5,bits4,bits3,bits2,bits1] [--quantize yes]
 */
import '../src/node.js';
import * as tf from '@tensorflow/tfjs';
import { auc, fprAtTpr } from '../src/eval/roc.js';
import { attackName, benchArg, forEachCachedAttack, openRun } from './lib/run-cache.js';

const quantize = benchArg('quantize', 'no') === 'yes';
const { run, victim, clean, shape, nAttacked } = await openRun((run) => `squeeze response — ${run}${quantize ? '; adversarial images rounded to the 8-bit grid' : ''}`, { run: 'runs/imagenet10-v11', dataset: 'imagenet10:../shared/data/imagenet10' });

/** Median over a size × size window (edge-replicated), per channel; for even sizes the mean of the two middle values. */
function median(x: tf.Tensor4D, size: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, h, w, c] = x.shape;
    const lo = Math.floor((size - 1) / 2);
    const hi = size - 1 - lo;
    // edge padding by concatenating border rows/cols
    let p: tf.Tensor4D = x;
    for (let i = 0; i < lo; i++) p = tf.concat([p.slice([0, 0, 0, 0], [b, 1, -1, c]), p], 1);
    for (let i = 0; i < hi; i++) p = tf.concat([p, p.slice([0, p.shape[1] - 1, 0, 0], [b, 1, -1, c])], 1);
    for (let i = 0; i < lo; i++) p = tf.concat([p.slice([0, 0, 0, 0], [b, -1, 1, c]), p], 2);
    for (let i = 0; i < hi; i++) p = tf.concat([p, p.slice([0, 0, p.shape[2] - 1, 0], [b, -1, 1, c])], 2);
    const shifts: tf.Tensor4D[] = [];
    for (let di = 0; di < size; di++) for (let dj = 0; dj < size; dj++) shifts.push(p.slice([0, di, dj, 0], [b, h, w, c]));
    const st = tf.stack(shifts, 4); // [b,h,w,c,size²]
    const m = size * size;
    const top = tf.topk(st, Math.floor(m / 2) + 1).values; // descending
    if (m % 2 === 1) return top.slice([0, 0, 0, 0, Math.floor(m / 2)], [b, h, w, c, 1]).squeeze([4]) as tf.Tensor4D;
    return top.slice([0, 0, 0, 0, m / 2 - 1], [b, h, w, c, 2]).mean(4) as tf.Tensor4D;
  });
}

function blur(x: tf.Tensor4D, sigma: number): tf.Tensor4D {
  return tf.tidy(() => {
    const r = Math.max(1, Math.ceil(2 * sigma));
    const k1 = Array.from({ length: 2 * r + 1 }, (_, i) => Math.exp(-((i - r) ** 2) / (2 * sigma * sigma)));
    const s = k1.reduce((a, v) => a + v, 0);
    const c = x.shape[3];
    const kk: number[] = [];
    for (let i = 0; i < 2 * r + 1; i++) for (let j = 0; j < 2 * r + 1; j++) for (let ch = 0; ch < c; ch++) kk.push((k1[i]! * k1[j]!) / (s * s));
    const filt = tf.tensor4d(kk, [2 * r + 1, 2 * r + 1, c, 1]);
    return tf.depthwiseConv2d(x, filt, 1, 'same') as tf.Tensor4D;
  });
}

const bits = (x: tf.Tensor4D, b: number): tf.Tensor4D => tf.tidy(() => tf.div(tf.round(tf.mul(x, 2 ** b - 1)), 2 ** b - 1));

const allSqueezers: Record<string, (x: tf.Tensor4D) => tf.Tensor4D> = {
  'median2': (x) => median(x, 2),
  'median3': (x) => median(x, 3),
  'blur0.5': (x) => blur(x, 0.5),
  'blur1': (x) => blur(x, 1),
  'bits6': (x) => bits(x, 6),
  'bits5': (x) => bits(x, 5),
  'bits4': (x) => bits(x, 4),
  'bits3': (x) => bits(x, 3),
  'bits2': (x) => bits(x, 2),
  'bits1': (x) => bits(x, 1),
};
const squeezers = Object.fromEntries(
  benchArg('squeezers', 'median2,median3,blur0.5,blur1,bits5,bits4').split(',').map((s) => {
    if (!allSqueezers[s]) throw new Error(`unknown squeezer ${s}; one of ${Object.keys(allSqueezers).join(', ')}`);
    return [s, allSqueezers[s]!];
  }),
);

/** Per image: [margin drop, softmax L1] for each squeezer, and the margin itself. */
function respond(x: tf.Tensor4D): { drop: Map<string, Float64Array>; l1: Map<string, Float64Array>; margin: Float64Array } {
  const nx = x.shape[0];
  const k = victim.model.outputs[0]!.shape[1]!;
  const drop = new Map<string, Float64Array>();
  const l1 = new Map<string, Float64Array>();
  for (const s of Object.keys(squeezers)) {
    drop.set(s, new Float64Array(nx));
    l1.set(s, new Float64Array(nx));
  }
  const margin = new Float64Array(nx);
  const bs = 50;
  for (let s0 = 0; s0 < nx; s0 += bs) {
    const b = Math.min(bs, nx - s0);
    const xb = x.slice([s0, 0, 0, 0], [b, -1, -1, -1]);
    const l0 = victim.logits(xb);
    const y = l0.argMax(1);
    const oh = tf.oneHot(y, k);
    const mOf = (l: tf.Tensor): tf.Tensor =>
      tf.tidy(() => tf.sub(tf.sum(tf.mul(l, oh), 1), tf.max(tf.sub(l, tf.mul(oh, 1e9)), 1)));
    const m0 = mOf(l0);
    const p0 = tf.softmax(l0);
    margin.set(m0.dataSync() as Float32Array, s0);
    for (const [name, sq] of Object.entries(squeezers)) {
      const [d, a] = tf.tidy(() => {
        const l = victim.logits(sq(xb));
        return [tf.sub(m0, mOf(l)), tf.sum(tf.abs(tf.sub(tf.softmax(l), p0)), 1)];
      });
      drop.get(name)!.set(d.dataSync() as Float32Array, s0);
      l1.get(name)!.set(a.dataSync() as Float32Array, s0);
      tf.dispose([d, a]);
    }
    tf.dispose([xb, l0, y, oh, m0, p0]);
  }
  return { drop, l1, margin };
}

const t0 = performance.now();
const rc = respond(clean);
console.log(`clean: ${clean.shape[0]} images, ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
const cell = (a: ArrayLike<number>, b: ArrayLike<number>): string => `${(100 * fprAtTpr(a, b, 0.9)).toFixed(1)} (${auc(a, b).toFixed(3)})`;
const names = Object.keys(squeezers);
console.log('FP % at 90 % detection (AUROC); per squeezer: margin drop | softmax L1; "−margin" = the victim margin alone\n');
console.log(`| attack | −margin | ${names.map((s) => `${s} drop | ${s} L1`).join(' | ')} |`);
console.log(`|---|---|${names.map(() => '---|---').join('|')}|`);
await forEachCachedAttack(run, shape, nAttacked, async (a) => {
  const xa = quantize ? tf.tidy(() => tf.div(tf.round(tf.mul(a.x, 255)), 255) as tf.Tensor4D) : a.x;
  const ra = respond(xa);
  if (quantize) xa.dispose();
  const neg = (v: Float64Array): Float64Array => v.map((u) => -u);
  const cells = names.map((s) => `${cell(rc.drop.get(s)!, ra.drop.get(s)!)} | ${cell(rc.l1.get(s)!, ra.l1.get(s)!)}`);
  console.log(`| ${attackName(a, true)} (${a.x.shape[0]}) | ${cell(neg(rc.margin), neg(ra.margin))} | ${cells.join(' | ')} |`);
});
console.log(`\n${((performance.now() - t0) / 1000).toFixed(0)} s in all`);
