/**
 * MNIST input defender: dictionary-learning time (ours vs scikit-learn, same patches, same run),
 * the full 10-class fit at the default sizes, mean clean-test PSNR per class, and FGSM detection
 * (the paper's Fig. 6 behaviour for the input defender alone). Saves the fitted bundle to
 * runs/defenders/mnist-input/ for the evaluation harness.
 *
 *   nice -n 10 npx tsx bench/dictionary.bench.ts [--stage all|fit|compare|figures] [--sk-patches 20000]
 *        [--patches 150000] [--workers 2] [--fgsm-n 1000]
 *
 * Stages: `fit` fits all 10 classes at the default sizes (150,000 patches/class, 225 atoms, LARS
 * Lasso codes, β = 0.1) with the worker pool and saves the bundle; `compare` times our learner and
 * scikit-learn's MiniBatchDictionaryLearning (LARS) on the same `--sk-patches` patches of class 0
 * and compares the PSNR their dictionaries give on the class-0 test images; `figures` loads the
 * bundle and measures clean PSNR per class and FGSM detection (needs runs/victims/mnist-mlp/READY).
 * Results: markdown on stdout, JSON in bench/out/dictionary-*.json.
 */
import '../src/node.js'; // the Node platform: native engine loader, fs bundles, worker threads
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../src/engine/backend.js';
import { loadDataset } from '../src/data/index.js';
import { InputDefender } from '../src/defense/input/input-defender.js';
import { learnDictionary } from '../src/defense/input/dictionary-learning.js';
import { gramMatrix } from '../src/defense/input/omp.js';
import { reconstructImages } from '../src/defense/input/input-defender.js';
import { patchGrid, samplePatches } from '../src/defense/input/patches.js';
import { psnr } from '../src/defense/input/psnr.js';
import { Classifier } from '../src/models/classifier.js';
import { loadClassifier } from '../src/models/io.js';
import { fgsmStep } from '../src/attacks/fgsm.js';
import { Rng } from '../src/util/rng.js';
import { setProgressEnabled } from '../src/util/progress.js';

const BUNDLE = 'runs/defenders/mnist-input';
const VICTIM = 'runs/victims/mnist-mlp';

function argStr(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
}
const argNum = (name: string, dflt: number) => Number(argStr(name, String(dflt)));
const machine = () => `${os.cpus()[0]?.model} ×${os.cpus().length}, load ${os.loadavg().map((v) => v.toFixed(1)).join('/')}, node ${process.version}`;

async function loadVictim(): Promise<Classifier | undefined> {
  if (!existsSync(path.join(VICTIM, 'READY'))) return undefined;
  const { model } = await loadClassifier(VICTIM);
  return new Classifier(model);
}

async function stageFit(): Promise<void> {
  const train = await loadDataset('mnist', { split: 'train' });
  const victim = await loadVictim();
  const patchesPerClass = argNum('patches', 150_000);
  const workers = argNum('workers', 2);
  const det = new InputDefender(victim, { patchesPerClass, workers, seed: 0 });
  const t0 = performance.now();
  await det.fit(train.x, train.y, { seed: 0, progress: true, log: (m) => console.error(m) });
  const total = (performance.now() - t0) / 1000;
  await det.save(BUNDLE);
  const info = det.fitInfo!;
  const out = {
    machine: machine(),
    params: det.params,
    victimUsedForThresholds: victim !== undefined,
    totalFitSeconds: total,
    dictionaryWallSeconds: info.dictionaryWallSeconds,
    parallelism: info.parallelism,
    perClassSeconds: info.dictionarySeconds,
    reseeded: info.reseeded,
    trainCounts: info.trainCounts,
  };
  mkdirSync('bench/out', { recursive: true });
  writeFileSync('bench/out/dictionary-fit.json', JSON.stringify(out, null, 2));
  console.log('## Dictionary learning, all 10 MNIST classes at the default sizes');
  console.log(`machine: ${out.machine}; ${info.parallelism}`);
  console.log(`${patchesPerClass.toLocaleString('en-US')} patches/class, ${det.params.nAtoms} atoms, β = ${det.params.alpha}, codes ${det.params.codes}, ${det.params.epochs} epoch(s)`);
  console.log(`dictionaries: ${info.dictionaryWallSeconds.toFixed(1)} s wall (per class: ${info.dictionarySeconds.map((s) => s.toFixed(1)).join(', ')} s); whole fit incl. sampling and clean-score profiles: ${total.toFixed(1)} s`);
  console.log(`bundle saved to ${BUNDLE}`);
  tf.dispose([train.x, train.y]);
  victim?.model.dispose();
}

async function stageCompare(): Promise<void> {
  const nPatches = argNum('sk-patches', 20000);
  const cls = 0;
  const train = await loadDataset('mnist', { split: 'train' });
  const test = await loadDataset('mnist', { split: 'test' });
  const [n, h, w, c] = train.x.shape;
  const images = (await train.x.data()) as Float32Array;
  const labels = await train.y.data();
  const idx: number[] = [];
  for (let i = 0; i < n; i++) if (labels[i] === cls) idx.push(i);
  const patches = samplePatches(images, [n, h, w, c], 7, nPatches, new Rng(1), idx);
  const t0 = performance.now();
  const ours = learnDictionary(patches, 49, { nAtoms: 225, alpha: 0.1, batchSize: 256, epochs: 1, codes: 'lars', seed: 0 });
  const oursSec = (performance.now() - t0) / 1000;
  mkdirSync('bench/out', { recursive: true });
  const fX = 'bench/out/dl-patches.f32';
  const fD = 'bench/out/dl-sk-dict.f32';
  writeFileSync(fX, Buffer.from(patches.buffer, patches.byteOffset, patches.byteLength));
  const sk = JSON.parse(
    execFileSync('/usr/bin/python3', ['bench/sklearn_ref.py', 'dl', '--patches', fX, '--features', '49', '--atoms', '225', '--alpha', '0.1', '--batch-size', '256', '--epochs', '1', '--algorithm', 'lars', '--out', fD], { encoding: 'utf8', maxBuffer: 1 << 26 }),
  );
  const skBuf = readFileSync(fD);
  const skDict = new Float32Array(skBuf.buffer.slice(skBuf.byteOffset, skBuf.byteOffset + skBuf.byteLength));
  // quality: PSNR of the class-0 test images rebuilt (OMP, k = 5) with each dictionary
  const timgs = (await test.x.data()) as Float32Array;
  const tl = await test.y.data();
  const tIdx: number[] = [];
  for (let i = 0; i < test.x.shape[0]; i++) if (tl[i] === cls) tIdx.push(i);
  const sub = new Float32Array(tIdx.length * 784);
  tIdx.forEach((j, i) => sub.set(timgs.subarray(j * 784, (j + 1) * 784), i * 784));
  const grid = patchGrid(28, 28, 1, 7);
  const meanPsnr = async (dict: Float32Array) => {
    const dT = tf.tensor2d(dict, [225, 49]);
    try {
      const rec = await reconstructImages(sub, tIdx.length, grid, dict, dT, gramMatrix(dict, 225, 49), 5);
      const p = psnr(sub, rec, tIdx.length);
      return p.reduce((a, v) => a + v, 0) / p.length;
    } finally {
      dT.dispose();
    }
  };
  const out = {
    machine: machine(),
    patches: nPatches,
    class: cls,
    oursSeconds: oursSec,
    oursPatchesPerSecond: nPatches / oursSec,
    sklearn: sk,
    speedup: sk.seconds / oursSec,
    testPsnrOurs: await meanPsnr(ours.dictionary),
    testPsnrSklearn: await meanPsnr(skDict),
  };
  writeFileSync('bench/out/dictionary-compare.json', JSON.stringify(out, null, 2));
  console.log(`## Dictionary learning vs scikit-learn (class ${cls}, ${nPatches.toLocaleString('en-US')} patches 7×7, 225 atoms, β = 0.1, LARS, batch 256, 1 epoch)`);
  console.log(`machine: ${out.machine}; scikit-learn ${sk.sklearn}, numpy ${sk.numpy}\n`);
  console.log('| implementation | seconds | patches/s | class-0 test PSNR (OMP k = 5) |');
  console.log('|---|---|---|---|');
  console.log(`| ours (learnDictionary, one thread) | ${oursSec.toFixed(1)} | ${Math.round(nPatches / oursSec)} | ${out.testPsnrOurs.toFixed(2)} dB |`);
  console.log(`| scikit-learn MiniBatchDictionaryLearning | ${sk.seconds.toFixed(1)} | ${Math.round(sk.patches_per_s)} | ${out.testPsnrSklearn.toFixed(2)} dB |`);
  console.log(`\nspeed-up: ${out.speedup.toFixed(1)}×`);
  tf.dispose([train.x, train.y, test.x, test.y]);
}

async function stageFigures(): Promise<void> {
  const victim = await loadVictim();
  const det = await InputDefender.load(BUNDLE, { victim });
  const test = await loadDataset('mnist', { split: 'test' });
  const yTrue = Int32Array.from(await test.y.data());
  // 1. mean clean-test PSNR per class (true label's dictionary)
  const s = await det.score(test.x, test.y);
  const perClass = Array.from({ length: 10 }, (_, k) => {
    let sum = 0;
    let m = 0;
    for (let i = 0; i < s.length; i++) if (yTrue[i] === k) { sum += det.rawFromScore(s[i]); m++; }
    return sum / m;
  });
  const thr1 = det.thresholds(1);
  const out: Record<string, unknown> = { machine: machine(), meanCleanTestPsnrPerClass: perClass, thresholdPsnrAtSp1: Array.from(thr1, (t) => det.rawFromScore(t)) };
  console.log('## MNIST input defender: mean clean-test PSNR per class (dB, own-class dictionary, OMP k = 5)\n');
  console.log(`| class | ${perClass.map((_, k) => k).join(' | ')} |`);
  console.log(`|---|${perClass.map(() => '---').join('|')}|`);
  console.log(`| mean PSNR | ${perClass.map((v) => v.toFixed(2)).join(' | ')} |`);
  console.log(`| threshold at SP = 1 % | ${Array.from(thr1, (t) => det.rawFromScore(t).toFixed(2)).join(' | ')} |`);
  if (!victim) {
    console.log('\n(no victim at runs/victims/mnist-mlp/READY: FGSM figure skipped)');
  } else {
    // 2. FGSM detection on correctly classified test images (victim's predicted class selects the dictionary)
    const nF = argNum('fgsm-n', 1000);
    const pred = victim.predict(test.x);
    const pv = await pred.data();
    pred.dispose();
    const correct: number[] = [];
    for (let i = 0; i < yTrue.length; i++) if (pv[i] === yTrue[i]) correct.push(i);
    const pick = correct.slice(0, nF);
    const xs = tf.gather(test.x, pick) as tf.Tensor4D;
    const ys = tf.tensor1d(pick.map((i) => yTrue[i]), 'int32');
    const sps = [0.1, 1, 5];
    const fp = await Promise.all(sps.map(async (sp) => (await det.detect(xs, undefined, sp)).reduce((a, v) => a + v, 0) / pick.length));
    const rows: { eps: number; success: number; detect: number[] }[] = [];
    for (const eps of [0.05, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5]) {
      const adv = tf.tidy(() => tf.clipByValue(fgsmStep(victim, xs, ys, eps), 0, 1) as tf.Tensor4D);
      const pa = victim.predict(adv);
      const pav = await pa.data();
      let succ = 0;
      for (let i = 0; i < pick.length; i++) if (pav[i] !== yTrue[pick[i]]) succ++;
      const detect: number[] = [];
      for (const sp of sps) detect.push((await det.detect(adv, pa, sp)).reduce((a, v) => a + v, 0) / pick.length);
      rows.push({ eps, success: succ / pick.length, detect });
      tf.dispose([adv, pa]);
    }
    tf.dispose([xs, ys]);
    out.fgsm = { n: pick.length, falsePositiveRate: Object.fromEntries(sps.map((sp, i) => [sp, fp[i]])), rows };
    console.log(`\n## FGSM detection by the input defender alone (${pick.length} correctly classified MNIST test images; all adversarial images counted)\n`);
    console.log('| ε | attack success | detected @ SP 0.1 % | @ SP 1 % | @ SP 5 % |');
    console.log('|---|---|---|---|---|');
    console.log(`| 0 (clean: false positives) | – | ${fp.map((v) => (100 * v).toFixed(1) + ' %').join(' | ')} |`);
    for (const r of rows) console.log(`| ${r.eps} | ${(100 * r.success).toFixed(1)} % | ${r.detect.map((v) => (100 * v).toFixed(1) + ' %').join(' | ')} |`);
    victim.model.dispose();
  }
  writeFileSync('bench/out/dictionary-figures.json', JSON.stringify(out, null, 2));
  tf.dispose([test.x, test.y]);
}

async function main(): Promise<void> {
  await initEngine();
  setProgressEnabled(true);
  const stage = argStr('stage', 'all');
  if (stage === 'all' || stage === 'fit') await stageFit();
  if (stage === 'all' || stage === 'compare') await stageCompare();
  if (stage === 'all' || stage === 'figures') await stageFigures();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
