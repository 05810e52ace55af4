/**
 * Feasibility of a twin-disagreement checkpoint (issue 15, item 4: ImageNet-10 FGS ε = 0.01). An attack crafted on the
 * victim that barely crosses its boundary need not cross the boundary of another network trained on the same clean
 * data, while a clean image near the victim's boundary is ambiguous to both. Score of an image x with victim
 * prediction ŷ: −log p_twin(ŷ | x), the twin's surprise at the victim's label (higher = more suspicious); also the
 * victim's own margin and the sum of the two scores' clean-rank p-values (nothing fitted beyond the clean ranks).
 * Prints FP at 90 % detection (AUROC) per attack.
 *
 *   npx tsx bench/twin-disagreement.bench.ts --run runs/imagenet10-v11 --twin runs/victims/imagenet-alexnet \
 *     [--dataset imagenet10:../shared/data/imagenet10 --n 1000 --attack-n 300] [--quantize yes]
 */
import '../src/node.js';
import * as tf from '@tensorflow/tfjs';
import { quantizeImages } from '../src/attacks/quantize.js';
import { auc, fprAtTpr } from '../src/eval/roc.js';
import { loadClassifier } from '../src/models/io.js';
import { Classifier } from '../src/models/classifier.js';
import { attackName, benchArg, forEachCachedAttack, openRun } from './lib/run-cache.js';

const twinDir = benchArg('twin', 'runs/victims/imagenet-alexnet');
const quantize = benchArg('quantize', 'no') === 'yes';
const { run, victim, clean, shape, nAttacked } = await openRun(
  (r) => `twin disagreement — ${r}; twin ${twinDir}${quantize ? '; adversarial images rounded to the 8-bit grid' : ''}`,
  { run: 'runs/imagenet10-v11', dataset: 'imagenet10:../shared/data/imagenet10' },
);
const twin = new Classifier((await loadClassifier(twinDir)).model);
const k = victim.numClasses;

/** [−margin of the victim, −log p_twin(ŷ)] per image. */
function scores(x: tf.Tensor4D): [Float64Array, Float64Array, number] {
  const nx = x.shape[0];
  const margin = new Float64Array(nx);
  const surprise = new Float64Array(nx);
  let agree = 0;
  const bs = 100;
  for (let s0 = 0; s0 < nx; s0 += bs) {
    const b = Math.min(bs, nx - s0);
    const [m, sp, ag] = tf.tidy(() => {
      const xb = x.slice([s0, 0, 0, 0], [b, -1, -1, -1]);
      const lv = victim.logits(xb);
      const top = tf.topk(lv, 2).values;
      const y = tf.argMax(lv, 1);
      const oh = tf.oneHot(y, k);
      const lt = tf.logSoftmax(twin.logits(xb));
      return [
        tf.sub(top.slice([0, 1], [b, 1]), top.slice([0, 0], [b, 1])).squeeze([1]),
        tf.neg(tf.sum(tf.mul(lt, oh), 1)),
        tf.sum(tf.cast(tf.equal(tf.argMax(lt, 1), y), 'float32')),
      ];
    });
    margin.set(m.dataSync() as Float32Array, s0);
    surprise.set(sp.dataSync() as Float32Array, s0);
    agree += ag.dataSync()[0]!;
    tf.dispose([m, sp, ag]);
  }
  return [margin, surprise, agree / Math.max(nx, 1)];
}

/** Upper-tail p-value of each score among the clean scores (rank based), as −log p (higher = more suspicious). */
function surprisal(cleanScores: Float64Array, v: Float64Array): Float64Array {
  const sorted = Float64Array.from(cleanScores).sort();
  return v.map((u) => {
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sorted[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return -Math.log((sorted.length - lo + 1) / (sorted.length + 1));
  });
}

const [cm, cs, cAgree] = scores(clean);
const cFused = surprisal(cm, cm).map((v, i) => v + surprisal(cs, cs)[i]!);
console.log(`the twin agrees with the victim on ${(100 * cAgree).toFixed(1)} % of the ${clean.shape[0]} clean rows\n`);
const cell = (a: ArrayLike<number>, b: ArrayLike<number>): string => `${(100 * fprAtTpr(a, b, 0.9)).toFixed(1)} (${auc(a, b).toFixed(3)})`;
console.log('FP % at 90 % detection (AUROC)\n');
console.log('| attack | twin agrees with the adversarial label | victim margin | twin surprise −log p_twin(ŷ) | margin + twin (Fisher on clean ranks) |');
console.log('|---|---|---|---|---|');
await forEachCachedAttack(run, shape, nAttacked, async (a) => {
  const xa = quantize ? quantizeImages(a.x, 8) : a.x;
  const [am, as, aAgree] = scores(xa);
  if (quantize) xa.dispose();
  const aFused = surprisal(cm, am).map((v, i) => v + surprisal(cs, as)[i]!);
  console.log(`| ${attackName(a, true)} (${a.x.shape[0]}) | ${(100 * aAgree).toFixed(1)} % | ${cell(cm, am)} | ${cell(cs, as)} | ${cell(cFused, aFused)} |`);
});
