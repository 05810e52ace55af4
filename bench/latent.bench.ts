/**
 * Latent defender on the MNIST victim: fit time, replica accuracy vs the victim, the ratio of
 * mean intra- to inter-class feature distance before/after fine-tuning, and scoring throughput
 * next to the victim's own inference throughput (same run, same machine). Fits and saves
 * the PCL latent defender and both baselines to runs/defenders/.
 *
 *   nice -n 10 npx tsx bench/latent.bench.ts [--victim runs/victims/mnist-mlp] [--epochs 3]
 *        [--train N] [--out runs/defenders] [--no-save]
 */
import '../src/node.js'; // the Node platform: native engine loader, fs bundles, worker threads
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../src/engine/backend.js';
import { loadClassifier } from '../src/models/io.js';
import { Classifier } from '../src/models/classifier.js';
import { loadDataset, disposeDataset, type Dataset } from '../src/data/index.js';
import { LatentDefender, fineTuneSettingsFromMetrics, type LatentDefenderParams } from '../src/defense/latent/latent-defender.js';
import { MahalanobisDetector } from '../src/defense/baselines/mahalanobis.js';
import { PcaCentreDetector } from '../src/defense/baselines/pca-centre.js';
import { Rng } from '../src/util/rng.js';

export function arg(name: string, def?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
}
export const flag = (name: string): boolean => process.argv.includes(`--${name}`);

export function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export async function timeMedian(runs: number, fn: () => Promise<unknown> | unknown): Promise<number> {
  const t: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    await fn();
    t.push((performance.now() - t0) / 1000);
  }
  return median(t);
}

export async function machineLine(): Promise<string> {
  const info = await initEngine();
  return `node ${process.version}, tfjs ${info.tfjsVersion} (${info.backend}${info.simd ? ' SIMD' : ''}), ${os.cpus()[0]?.model ?? 'cpu'} ×${os.cpus().length}, ${new Date().toISOString()}`;
}

/** Loads the victim and its metrics (optimizer, lr). */
export async function loadVictim(dir: string): Promise<{ victim: Classifier; optimizer: LatentDefenderParams['optimizer']; lr: number }> {
  const { model, metrics } = await loadClassifier(dir);
  const ft = fineTuneSettingsFromMetrics(metrics as { optimizer?: string; lr?: number });
  return { victim: new Classifier(model), ...ft };
}

export function accuracyOf(pred: ArrayLike<number>, y: ArrayLike<number>): number {
  let c = 0;
  for (let i = 0; i < y.length; i++) c += pred[i] === y[i] ? 1 : 0;
  return c / y.length;
}

/** Mean Euclidean distance over same-class pairs divided by that over different-class pairs. */
export function intraInterRatio(phi: Float32Array, dim: number, labels: ArrayLike<number>): { intra: number; inter: number; ratio: number } {
  const n = labels.length;
  let si = 0;
  let ni = 0;
  let so = 0;
  let no = 0;
  for (let a = 0; a < n; a++) {
    for (let b = a + 1; b < n; b++) {
      let q = 0;
      for (let j = 0; j < dim; j++) q += (phi[a * dim + j] - phi[b * dim + j]) ** 2;
      const d = Math.sqrt(q);
      if (labels[a] === labels[b]) {
        si += d;
        ni++;
      } else {
        so += d;
        no++;
      }
    }
  }
  return { intra: si / ni, inter: so / no, ratio: si / ni / (so / no) };
}

/** L2-normalised victim activations at `layer` ([n·p]). */
export function normalisedVictimFeatures(victim: Classifier, x: tf.Tensor4D, layer: string): { data: Float32Array; dim: number } {
  const a = tf.tidy(() => {
    const h = victim.activations(x, layer).reshape([x.shape[0], -1]);
    return tf.div(h, tf.maximum(tf.norm(h, 2, 1, true), 1e-6));
  });
  const data = a.dataSync() as Float32Array;
  const dim = a.shape[1]!;
  a.dispose();
  return { data, dim };
}

function subset(ds: Dataset, k: number, seed: number): { x: tf.Tensor4D; y: Int32Array } {
  const idx = new Rng(seed).sample(ds.x.shape[0], k);
  const it = tf.tensor1d(idx, 'int32');
  const x = tf.gather(ds.x, it) as tf.Tensor4D;
  const yAll = ds.y.dataSync();
  it.dispose();
  return { x, y: Int32Array.from(idx, (i) => yAll[i]) };
}

async function main(): Promise<void> {
  const machine = await machineLine();
  const victimDir = arg('victim', 'runs/victims/mnist-mlp')!;
  const epochs = Number(arg('epochs', '3'));
  const outDir = arg('out', 'runs/defenders')!;
  const nTrain = arg('train') ? Number(arg('train')) : undefined;
  const { victim, optimizer, lr } = await loadVictim(victimDir);
  const train = await loadDataset('mnist', { split: 'train', limit: nTrain });
  const test = await loadDataset('mnist', { split: 'test' });
  const layer = new LatentDefender(victim).params.checkpointLayer;
  const yTest = test.y.dataSync();
  const pv = victim.predict(test.x);
  const victimPred = Int32Array.from(pv.dataSync());
  pv.dispose();
  const victimAcc = accuracyOf(victimPred, yTest);

  const log = (m: string) => process.stderr.write(`${m}\n`);
  const t0 = performance.now();
  const det = await new LatentDefender(victim, { epochs, optimizer, lr }).fit(train.x, train.y, { log });
  const fitSeconds = (performance.now() - t0) / 1000;
  const replicaAcc = accuracyOf(det.replicaPredict(test.x), yTest);

  const sub = subset(test, 2000, 7);
  const before = normalisedVictimFeatures(victim, sub.x, layer);
  const after = det.features(sub.x);
  const rb = intraInterRatio(before.data, before.dim, sub.y);
  const ra = intraInterRatio(after.data, after.dim, sub.y);
  sub.x.dispose();

  // calibration sanity: flagged fraction of correctly classified clean test images at SP = 1, 5
  const testScores = await det.score(test.x);
  const calib = [1, 5].map((sp) => {
    const thr = det.thresholds(sp);
    let f = 0;
    let t = 0;
    for (let i = 0; i < yTest.length; i++) {
      if (victimPred[i] !== yTest[i]) continue;
      t++;
      if (testScores[i] > thr[victimPred[i]]) f++;
    }
    return { sp, rate: f / t };
  });

  const n = test.x.shape[0];
  const runs = 3;
  const tVictim = await timeMedian(runs, () => victim.predict(test.x).dispose());
  const tLatent = await timeMedian(runs, () => det.score(test.x));
  const tLatentGiven = await timeMedian(runs, () => det.scoreUnder(test.x, victimPred));

  const t1 = performance.now();
  const maha = await new MahalanobisDetector(victim, { layer }).fit(train.x, train.y);
  const mahaFit = (performance.now() - t1) / 1000;
  const t2 = performance.now();
  const pca = await new PcaCentreDetector(victim, { layer }).fit(train.x, train.y);
  const pcaFit = (performance.now() - t2) / 1000;
  const tMaha = await timeMedian(runs, () => maha.score(test.x));
  const tPca = await timeMedian(runs, () => pca.score(test.x));

  if (!flag('no-save')) {
    await det.save(`${outDir}/mnist-latent-${layer}`);
    await maha.save(`${outDir}/mnist-mahalanobis`);
    await pca.save(`${outDir}/mnist-pca`);
  }

  const info = det.fitInfo;
  const ips = (s: number) => Math.round(n / s);
  const lines = [
    `## Latent defender on the MNIST victim (\`${victimDir}\`, checkpoint \`${layer}\`)`,
    '',
    `Machine: ${machine}. Command: \`nice -n 10 npx tsx bench/latent.bench.ts --epochs ${epochs}${nTrain ? ` --train ${nTrain}` : ''}\`.`,
    `Fine-tuning: ${optimizer}, lr ${lr} (victim's / 10), γ = ${det.params.gamma}, ${epochs} epochs, batch ${det.params.batchSize}, ${train.x.shape[0]} training images.`,
    '',
    '| epoch | CE | condense ‖C_y−φ‖² | spread Σ_{i≠y}‖C_i−φ‖² | sphere Σ(‖C_i‖²−1)² | train acc |',
    '|---|---|---|---|---|---|',
    ...info.epochs.map((e) => `| ${e.epoch} | ${e.ce.toFixed(4)} | ${e.condense.toFixed(4)} | ${e.spread.toFixed(3)} | ${e.sphere.toExponential(2)} | ${(100 * e.accuracy).toFixed(2)} % |`),
    '',
    '| measure | value |',
    '|---|---|',
    `| victim test accuracy | ${(100 * victimAcc).toFixed(2)} % |`,
    `| replica test accuracy (after fine-tuning) | ${(100 * replicaAcc).toFixed(2)} % (Δ = ${(100 * (replicaAcc - victimAcc)).toFixed(2)} points) |`,
    `| intra/inter mean distance, before fine-tuning (normalised victim ${layer}) | ${rb.ratio.toFixed(4)} (intra ${rb.intra.toFixed(4)}, inter ${rb.inter.toFixed(4)}) |`,
    `| intra/inter mean distance, after fine-tuning | ${ra.ratio.toFixed(4)} (intra ${ra.intra.toFixed(4)}, inter ${ra.inter.toFixed(4)}) |`,
    `| HDDA intrinsic dims per class (Cattell 0.2) | ${info.dims.join(', ')} |`,
    `| fit time: fine-tuning / HDDA + calibration / total | ${info.fineTuneSeconds.toFixed(1)} s / ${info.densitySeconds.toFixed(1)} s / ${fitSeconds.toFixed(1)} s |`,
    `| clean test flagged (correctly classified) at SP = 1 % / 5 % | ${(100 * calib[0].rate).toFixed(2)} % / ${(100 * calib[1].rate).toFixed(2)} % |`,
    `| victim inference (predict, ${n} images, median of ${runs}) | ${tVictim.toFixed(3)} s = ${ips(tVictim)} images/s |`,
    `| latent defender score incl. victim prediction | ${tLatent.toFixed(3)} s = ${ips(tLatent)} images/s (${(tLatent / tVictim).toFixed(2)}× the victim's time) |`,
    `| latent defender score, victim labels given | ${tLatentGiven.toFixed(3)} s = ${ips(tLatentGiven)} images/s (${(tLatentGiven / tVictim).toFixed(2)}×) |`,
    `| Mahalanobis baseline: fit / score | ${mahaFit.toFixed(1)} s / ${ips(tMaha)} images/s (${(tMaha / tVictim).toFixed(2)}×) |`,
    `| PCA-centre baseline (${pca.numComponents} components): fit / score | ${pcaFit.toFixed(1)} s / ${ips(tPca)} images/s (${(tPca / tVictim).toFixed(2)}×) |`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  det.dispose();
  disposeDataset(train);
  disposeDataset(test);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e) => {
    process.stderr.write(`${(e as Error).stack ?? e}\n`);
    process.exit(1);
  });
}
