/**
 * The calibrated fusion with one calibration stage (pcl-defense 0.1: tail p-values against each
 * defender's own training scores) against two (0.2: those evidences re-expressed against the held-out
 * clean evidence, `recalibrateEvidence`), on a `pcl reproduce` run folder: the same detector, the same
 * held-out scores (stored in the bundle), the same cached attacks. Nothing is fitted on adversarial data.
 *
 *   npx tsx bench/fusion-stages.bench.ts [--run runs/mnist5] [--dataset mnist] [--n 1000] [--seed 0]
 *
 * Prints, per rule: the false-alarm rate on the clean test rows at SP 1 % and 5 % (what SP promises),
 * random-noise images flagged at SP 1 %, and per attack the detection at SP 1 / 5 %, FP at 90 % detection
 * and AUROC (markdown).
 */
import '../src/node.js';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadDataset } from '../src/data/index.js';
import { calibratedFusionScores, calibratedFusionThreshold, fitCalibratedFusion, type CalibratedFusionModel, type DefenderScores } from '../src/defense/fusion/index.js';
import { PCLDetector } from '../src/defense/pcl.js';
import { initEngine } from '../src/engine/backend.js';
import { auc, fprAtTpr } from '../src/eval/roc.js';
import { attackName, benchArg, forEachCachedAttack } from './lib/run-cache.js';

const RUN = benchArg('run', 'runs/mnist5');
const DATASET = benchArg('dataset', 'mnist');
const N = Number(benchArg('n', '1000'));
const SEED = Number(benchArg('seed', '0'));
const log = (m: string) => process.stderr.write(`[fusion-stages ${new Date().toISOString().slice(11, 19)}] ${m}\n`);

const engine = await initEngine();
const t0 = performance.now();
console.log(`# Calibrated fusion: one calibration stage vs two, on ${RUN}`);
console.log(`machine: ${os.cpus()[0]?.model ?? 'cpu'} ×${os.cpus().length} (load ${os.loadavg().map((v) => v.toFixed(1)).join('/')}), node ${process.version}, tfjs ${engine.tfjsVersion} ${engine.backend}, ${new Date().toISOString()}`);
const det = await PCLDetector.load(path.join(RUN, 'detector'));
const heldout = (det as unknown as { state_: { heldout?: DefenderScores } }).state_.heldout;
if (!heldout) throw new Error(`${RUN}/detector keeps no held-out scores`);
const method = det.params.fusionMethod;
const models: { name: string; m: CalibratedFusionModel }[] = [
  { name: `one stage (0.1, ${method})`, m: fitCalibratedFusion(det.calibrations(), heldout, method, undefined, { tail: true }) },
  { name: `two stages (0.2, ${method})`, m: fitCalibratedFusion(det.calibrations(), heldout, method, undefined, { tail: true, recalibrate: true }) },
];

async function score(x: tf.Tensor4D, what: string): Promise<DefenderScores> {
  log(`${what}: ${x.shape[0]} images`);
  const s = await det.scoreAll(x);
  return { scores: s.scores, classes: s.yPred };
}

// clean test rows: the correctly classified among the N seeded test images (the cache's rows)
const test = await loadDataset(DATASET, { split: 'test', limit: N, seed: SEED });
const yTest = Int32Array.from(await test.y.data());
const pt = Int32Array.from(await tf.tidy(() => det.victim.predict(test.x)).data());
const okTest = Array.from(pt.keys()).filter((i) => pt[i] === yTest[i]);
const xClean = tf.gather(test.x, tf.tensor1d(okTest, 'int32')) as tf.Tensor4D;
const shape = xClean.shape;
tf.dispose([test.x, test.y]);
const clean = await score(xClean, 'clean test');
xClean.dispose();
const noiseX = tf.randomUniform([200, ...shape.slice(1)] as [number, number, number, number], 0, 1, 'float32', 7) as tf.Tensor4D;
const noise = await score(noiseX, 'uniform noise');
noiseX.dispose();

const sets: { name: string; n: number; s: DefenderScores }[] = [];
await forEachCachedAttack(RUN, shape, okTest.length, async (c) => {
  const name = attackName(c);
  sets.push({ name, n: c.x.shape[0], s: await score(c.x, name) });
}, log);
sets.sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));

const rate = (v: Float64Array, t: number) => (100 * v.filter((s) => s > t).length) / v.length;
console.log(`\nclean: ${okTest.length} correctly classified of ${N} test images; held-out reference: ${heldout.scores[0]!.length} clean images; noise: 200 uniform images\n`);
console.log('| rule | clean flagged at SP 1 % | at SP 5 % | noise flagged at SP 1 % |');
console.log('|---|---:|---:|---:|');
for (const { name, m } of models) {
  const c = calibratedFusionScores(m, clean);
  const z = calibratedFusionScores(m, noise);
  console.log(`| ${name} | ${rate(c, calibratedFusionThreshold(m, 1)).toFixed(1)} | ${rate(c, calibratedFusionThreshold(m, 5)).toFixed(1)} | ${rate(z, calibratedFusionThreshold(m, 1)).toFixed(1)} |`);
}
console.log('\n| attack (successful n) | rule | detected at SP 1 % | at SP 5 % | FP at 90 % detection | AUROC |');
console.log('|---|---|---:|---:|---:|---:|');
for (const set of sets) {
  for (const { name, m } of models) {
    const c = calibratedFusionScores(m, clean);
    const a = calibratedFusionScores(m, set.s);
    console.log(
      `| ${set.name} (${set.n}) | ${name} | ${rate(a, calibratedFusionThreshold(m, 1)).toFixed(1)} | ${rate(a, calibratedFusionThreshold(m, 5)).toFixed(1)} | ` +
        `${(100 * fprAtTpr(c, a, 0.9)).toFixed(1)} | ${auc(c, a).toFixed(3)} |`,
    );
  }
}
console.log(`\n${((performance.now() - t0) / 1000).toFixed(0)} s`);
det.dispose();
