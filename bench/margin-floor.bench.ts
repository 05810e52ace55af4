/**
 * How far a confidence signal alone goes (issue 15, item 4: why the minimal-perturbation cells stay above the paper):
 * on a `pcl reproduce` run, scores the run's clean rows (every correctly classified image of `--n`) and the cached
 * attacks with the victim's own top-2 logit gap and its maximum softmax probability (lower = more suspicious; no
 * fitting at all), and prints FP at 90 % detection (AUROC) beside the run's best PCL rule from its results.json.
 * Where PCL's figure sits at the margin's, the detector is finding "close to the decision boundary", and the false
 * positives are the correctly classified clean images that are themselves close to it.
 *
 *   npx tsx bench/margin-floor.bench.ts --run runs/imagenet10-v8 --dataset imagenet10:../shared/data/imagenet10 --n 1000 --attack-n 300
 */
import '../src/node.js';
import { promises as fs } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { auc, fprAtTpr } from '../src/eval/roc.js';
import { attackName, forEachCachedAttack, openRun } from './lib/run-cache.js';

const { run, victim, clean, shape, nAttacked } = await openRun((run) => `confidence floor — ${run}`, { run: 'runs/imagenet10-v8', dataset: 'imagenet10:../shared/data/imagenet10' });
console.log();

/** Suspicion scores (higher = more suspicious): minus the top-2 logit gap, minus the top softmax probability. */
function scores(x: tf.Tensor4D): { gap: Float64Array; prob: Float64Array } {
  const [l, p] = tf.tidy(() => {
    const logits = victim.logits(x);
    return [tf.topk(logits, 2).values, tf.max(tf.softmax(logits), 1)];
  });
  const lv = l.dataSync() as Float32Array;
  const pv = p.dataSync() as Float32Array;
  tf.dispose([l, p]);
  return { gap: Float64Array.from(pv, (_, i) => -(lv[2 * i]! - lv[2 * i + 1]!)), prob: Float64Array.from(pv, (v) => -v) };
}

interface Row { detector: string; fprAt: number[]; auroc: number }
interface Group { group: string; detectors: Row[]; perPlan?: { label: string; detectors: Row[] }[] }
const res = JSON.parse(await fs.readFile(`${run}/results.json`, 'utf8')) as { groups: Group[] };
const best = (ds: Row[]) => ds.filter((d) => d.detector.startsWith('PCL')).sort((a, b) => a.fprAt[0]! - b.fprAt[0]!)[0];
const bestOf = new Map<string, Row | undefined>();
for (const g of res.groups) {
  bestOf.set(g.group, best(g.detectors));
  for (const p of g.perPlan ?? []) bestOf.set(`${g.group} ${p.label}`, best(p.detectors));
}

const sc = scores(clean);
const cell = (a: Float64Array, b: Float64Array) => `${(100 * fprAtTpr(a, b, 0.9)).toFixed(1)} (${auc(a, b).toFixed(3)})`;
console.log('FP % at 90 % detection (AUROC)\n');
console.log('| attack | top-2 logit gap | max softmax probability | best PCL rule in results.json |');
console.log('|---|---|---|---|');
await forEachCachedAttack(run, shape, nAttacked, async (a) => {
  const s = scores(a.x);
  const name = attackName(a, true);
  const key = ({ deepfool: 'DeepFool', jsma: 'JSMA', 'cw-l2': 'C&W L2' } as Record<string, string>)[a.attack] ?? name;
  const b = a.attack === 'cw-l2' && Number(a.params.confidence ?? 0) !== 0 ? undefined : bestOf.get(key);
  console.log(`| ${name} (${a.x.shape[0]}, L2 ${a.meanL2.toFixed(2)}) | ${cell(sc.gap, s.gap)} | ${cell(sc.prob, s.prob)} | ${b ? `${(100 * b.fprAt[0]!).toFixed(1)} (${b.auroc.toFixed(3)}) ${b.detector}` : '–'} |`);
});
