/**
 * Does SP mean what it says for the whole detector? The fraction of MNIST test images (never trained
 * on) that a `pcl defend` bundle flags at SP 1 % and 5 %, with its default decision rule (the
 * calibrated fusion) and with the paper's OR rule, from one scoring pass over the test set.
 *
 *   npx pcl train  --dataset mnist --arch mnist-mlp --out runs/mlp
 *   npx pcl defend --model runs/mlp --dataset mnist --out runs/pcl
 *   npx tsx bench/sp-calibration.bench.ts [--detector runs/pcl] [--sps 1,5] [--refit-fusion]
 *
 * Prints a Markdown table: rates on all 10,000 test images and on the correctly classified ones (the
 * paper's FP protocol), plus the rate each rule has on the bundle's own held-out clean images.
 */
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { loadDataset } from '../src/data/index.js';
import { PCLDetector } from '../src/defense/pcl.js';
import { engineInfo, initEngine } from '../src/engine/backend.js';
import { PACKAGE_VERSION } from '../src/version.js';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const dir = arg('detector', 'runs/pcl');
const sps = arg('sps', '1,5').split(',').map(Number);

await initEngine();
const det = await PCLDetector.load(dir);
if (process.argv.includes('--refit-fusion')) det.refitFusion(); // fusion from the stored held-out scores with this version's p-values
const test = await loadDataset('mnist', { split: 'test' });
const t0 = performance.now();
const s = await det.scoreAll(test.x);
const seconds = (performance.now() - t0) / 1000;
const y = await test.y.data();
const correct = Array.from(y.keys()).filter((i) => s.yPred[i] === y[i]);
const rate = (a: Uint8Array, idx?: number[]) => (idx ? idx.reduce((k, i) => k + a[i], 0) / idx.length : a.reduce((k, v) => k + v, 0) / a.length);
const pct = (v: number | undefined) => (v === undefined ? '–' : `${(100 * v).toFixed(2)} %`);

const e = engineInfo();
console.log(`# SP calibration of the whole detector: ${dir}`);
console.log('');
console.log(`pcl-defense ${PACKAGE_VERSION}, tfjs ${e?.tfjsVersion ?? tf.version.tfjs} (${e?.backend ?? tf.getBackend()}), node ${process.version}, ${os.cpus()[0]?.model ?? '?'} × ${os.cpus().length}, load ${os.loadavg()[0].toFixed(1)}`);
console.log(`defenders: ${det.labels.join(', ')}; bundle default rule: ${det.params.fusion} (${det.params.fusionMethod}); victim test accuracy ${((100 * correct.length) / y.length).toFixed(2)} %; scoring 10,000 images took ${seconds.toFixed(1)} s`);
console.log('');
console.log('| SP (nominal) | rule | flagged, all 10,000 test images | flagged, correctly classified test images | flagged, bundle\'s held-out clean images |');
console.log('|---:|---|---:|---:|---:|');
for (const sp of sps) {
  for (const rule of ['calibrated', 'or'] as const) {
    const r = det.decide(s, sp, rule);
    const held = det.cleanFalseAlarmRate(sp, rule);
    const name = rule === 'or' ? "OR (the paper's rule)" : `calibrated fusion${rule === det.params.fusion ? ' (default)' : ''}`;
    console.log(`| ${sp} % | ${name} | ${pct(rate(r.adversarial))} | ${pct(rate(r.adversarial, correct))} (n = ${correct.length}) | ${pct(held?.rate)} (n = ${held?.n ?? 0}) |`);
  }
}
det.dispose();
tf.dispose([test.x, test.y]);
