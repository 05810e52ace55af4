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
 *
 * Several twins (`--twin A,B`): each twin's surprise, and their ensemble (the sum of the twins' clean-rank surprisals).
 */
import '../src/node.js';
import * as tf from '@tensorflow/tfjs';
import { quantizeImages } from '../src/attacks/quantize.js';
import { empiricalPValue } from '../src/defense/types.js';
import { auc, fprAtTpr } from '../src/eval/roc.js';
import { loadClassifier } from '../src/models/io.js';
import { Classifier } from '../src/models/classifier.js';
import { attackName, benchArg, forEachCachedAttack, openRun } from './lib/run-cache.js';

const twinDirs = benchArg('twin', 'runs/victims/imagenet-alexnet').split(',').filter(Boolean);
const quantize = benchArg('quantize', 'no') === 'yes';
const { run, victim, clean, shape, nAttacked } = await openRun(
  (r) => `twin disagreement — ${r}; twin ${twinDirs.join(' + ')}${quantize ? '; adversarial images rounded to the 8-bit grid' : ''}`,
  { run: 'runs/imagenet10-v11', dataset: 'imagenet10:../shared/data/imagenet10' },
);
const twins = await Promise.all(twinDirs.map(async (d) => new Classifier((await loadClassifier(d)).model)));
const k = victim.numClasses;

/** [−margin of the victim, −log p_twin(ŷ), agreement] per image, for one twin. */
function scores(x: tf.Tensor4D, twin: Classifier): [Float64Array, Float64Array, number] {
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

/** −log of each score's empirical upper-tail p-value among the clean scores (higher = more suspicious). */
function surprisal(cleanScores: Float64Array, v: Float64Array): Float64Array {
  const sorted = Float64Array.from(cleanScores).sort();
  return v.map((u) => -Math.log(empiricalPValue(sorted, u)));
}

const cleanRuns = twins.map((t) => scores(clean, t));
const cm = cleanRuns[0]![0];
/** Sum over twins of the clean-rank surprisal of each twin's score (higher = more suspicious). */
const ensemble = (runs: [Float64Array, Float64Array, number][]): Float64Array =>
  runs.reduce((acc, r, j) => {
    const sj = surprisal(cleanRuns[j]![1], r[1]);
    return acc.map((v, i) => v + sj[i]!);
  }, new Float64Array(runs[0]![1].length));
const cEns = ensemble(cleanRuns);
cleanRuns.forEach((r, j) => console.log(`twin ${twinDirs[j]} agrees with the victim on ${(100 * r[2]).toFixed(1)} % of the ${clean.shape[0]} clean rows`));
const cell = (a: ArrayLike<number>, b: ArrayLike<number>): string => `${(100 * fprAtTpr(a, b, 0.9)).toFixed(1)} (${auc(a, b).toFixed(3)})`;
const twinCols = twinDirs.map((d) => `surprise of ${d.split('/').pop()}`);
console.log('\nFP % at 90 % detection (AUROC)\n');
console.log(`| attack | victim margin | ${twinCols.join(' | ')}${twins.length > 1 ? ' | ensemble of the twins' : ''} |`);
console.log(`|---|---|${twinCols.map(() => '---').join('|')}${twins.length > 1 ? '|---' : ''}|`);
await forEachCachedAttack(run, shape, nAttacked, async (a) => {
  const xa = quantize ? quantizeImages(a.x, 8) : a.x;
  const runs = twins.map((t) => scores(xa, t));
  if (quantize) xa.dispose();
  const cols = runs.map((r, j) => `${cell(cleanRuns[j]![1], r[1])} agrees ${(100 * r[2]).toFixed(0)} %`);
  const ens = twins.length > 1 ? ` | ${cell(cEns, ensemble(runs))}` : '';
  console.log(`| ${attackName(a, true)} (${a.x.shape[0]}) | ${cell(cm, runs[0]![0])} | ${cols.join(' | ')}${ens} |`);
});
