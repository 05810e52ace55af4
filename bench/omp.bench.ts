/**
 * Batch-OMP throughput on MNIST patches vs scikit-learn's `orthogonal_mp_gram`, same data, same run.
 *
 *   nice -n 10 npx tsx bench/omp.bench.ts [--k 5] [--repeat 5] [--images 10000]
 *
 * Dictionaries: the fitted MNIST input defender in runs/defenders/mnist-input/ when present (see
 * bench/dictionary.bench.ts), else a small one fitted here (noted in the output). Patches: the
 * 7×7 grid patches (centred) of the MNIST test images, all coded on the class-0 dictionary.
 * Prints a markdown table (medians) and writes bench/out/omp.json.
 */
import '../src/node.js'; // the Node platform: native engine loader, fs bundles, worker threads
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../src/engine/backend.js';
import { withFloat32View } from '../src/engine/host-view.js';
import { loadDataset } from '../src/data/index.js';
import { InputDefender, reconstructImages, reconstructPatches } from '../src/defense/input/input-defender.js';
import { correlations, gramMatrix, ompGram, reconstructSignals } from '../src/defense/input/omp.js';
import { extractGridPatches } from '../src/defense/input/patches.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const median = (a: number[]) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];
function timeIt(repeat: number, fn: () => void): number {
  fn(); // warm-up (JIT, wasm kernels)
  const t: number[] = [];
  for (let r = 0; r < repeat; r++) {
    const t0 = performance.now();
    fn();
    t.push((performance.now() - t0) / 1000);
  }
  return median(t);
}
async function timeAsync(repeat: number, fn: () => Promise<void>): Promise<number> {
  await fn();
  const t: number[] = [];
  for (let r = 0; r < repeat; r++) {
    const t0 = performance.now();
    await fn();
    t.push((performance.now() - t0) / 1000);
  }
  return median(t);
}

async function main(): Promise<void> {
  const k = arg('k', 5);
  const repeat = arg('repeat', 5);
  const nImages = arg('images', 10000);
  const engine = await initEngine();
  const bundle = 'runs/defenders/mnist-input';
  const test = await loadDataset('mnist', { split: 'test', limit: nImages < 10000 ? nImages : undefined });
  let det: InputDefender;
  let source: string;
  if (existsSync(path.join(bundle, 'manifest.json'))) {
    det = await InputDefender.load(bundle);
    source = `${bundle} (bench/dictionary.bench.ts)`;
  } else {
    const train = await loadDataset('mnist', { split: 'train', limit: 10000 });
    det = await new InputDefender(undefined, { patchesPerClass: 10000, workers: 0 }).fit(train.x, train.y, { seed: 0 });
    tf.dispose([train.x, train.y]);
    source = 'fitted here: 10,000 patches per class from 10,000 training images (no saved bundle found)';
  }
  const grid = det.grid;
  const nAtoms = det.params.nAtoms;
  const dict = det.dictionary(0);
  const gram = gramMatrix(dict, nAtoms, grid.dim);
  const images = (await test.x.data()) as Float32Array;
  const n = test.x.shape[0];
  const { patches } = extractGridPatches(images, n, grid);
  const nP = n * grid.patchesPerImage;
  const dictT = tf.tensor2d(dict, [nAtoms, grid.dim]);

  mkdirSync('bench/out', { recursive: true });
  const fD = 'bench/out/omp-dict.f32';
  const fX = 'bench/out/omp-patches.f32';
  writeFileSync(fD, Buffer.from(dict.buffer, dict.byteOffset, dict.byteLength));
  writeFileSync(fX, Buffer.from(patches.buffer, patches.byteOffset, patches.byteLength));
  const runSklearn = () =>
    JSON.parse(
      execFileSync('/usr/bin/python3', ['bench/sklearn_ref.py', 'omp', '--dict', fD, '--atoms', String(nAtoms), '--features', String(grid.dim), '--patches', fX, '--k', String(k), '--repeat', '1'], { encoding: 'utf8', maxBuffer: 1 << 26 }),
    );

  // Interleaved rounds (ours, end to end, scikit-learn, …) so that the varying load of a shared
  // machine hits all three alike; the ratio is the median of the per-round ratios.
  // A. what InputDefender does: flat patches skipped, tfjs matMul per 4096-patch chunk, Batch-OMP in typed arrays
  const work = new Float32Array(patches.length);
  const runA = async () => {
    work.set(patches);
    await reconstructPatches(work, grid.dim, dict, dictT, gram, k);
  };
  // C. end to end: InputDefender.score with given labels (patching, OMP, reassembly, PSNR)
  const runC = async () => {
    await det.score(test.x, test.y);
  };
  // C2. the same with the sparse coding split over 2 worker threads (only with a saved bundle)
  const det2 = existsSync(path.join(bundle, 'manifest.json')) ? await InputDefender.load(bundle, {}, { scoreWorkers: 2 }) : undefined;
  const runC2 = async () => {
    await det2?.score(test.x, test.y);
  };
  await runA();
  await runC();
  await runC2(); // starts the workers
  const tAs: number[] = [];
  const tCs: number[] = [];
  const tC2s: number[] = [];
  const skRates: number[] = [];
  let sk: any;
  for (let r = 0; r < repeat; r++) {
    let t0 = performance.now();
    await runA();
    tAs.push((performance.now() - t0) / 1000);
    t0 = performance.now();
    await runC();
    tCs.push((performance.now() - t0) / 1000);
    if (det2) {
      t0 = performance.now();
      await runC2();
      tC2s.push((performance.now() - t0) / 1000);
    }
    sk = runSklearn();
    skRates.push(sk.patches_per_s);
  }
  const tA = median(tAs);
  const tC = median(tCs);
  const ratioA = median(tAs.map((t, r) => nP / t / skRates[r]));
  const ratioC = median(tCs.map((t, r) => nP / t / skRates[r]));
  const tC2 = det2 ? median(tC2s) : NaN;
  const ratioC2 = det2 ? median(tC2s.map((t, r) => nP / t / skRates[r])) : NaN;
  det2?.dispose();
  const skRate = median(skRates);
  let nFlat = 0;
  for (let i = 0; i < nP; i++) if (patches.subarray(i * grid.dim, (i + 1) * grid.dim).every((v) => v === 0)) nFlat++;

  // Informational variants (not interleaved)
  // A'. no flat-patch skipping: one matMul over every patch, then Batch-OMP on every patch
  const patchT = tf.tensor2d(patches, [nP, grid.dim]);
  let codesA = ompGram(gram, nAtoms, new Float32Array(nP * nAtoms), { nNonzero: k });
  const tMatmul = timeIt(2, () => {
    const c = tf.tidy(() => tf.matMul(patchT, dictT, false, true));
    c.dataSync();
    c.dispose();
  });
  const tA2 = timeIt(2, () => {
    const c = tf.tidy(() => tf.matMul(patchT, dictT, false, true));
    codesA = withFloat32View(c, (dtx) => ompGram(gram, nAtoms, dtx, { nNonzero: k }));
    c.dispose();
  });
  // B. everything in plain JS loops
  const tB = timeIt(1, () => {
    ompGram(gram, nAtoms, correlations(dict, nAtoms, grid.dim, patches, nP), { nNonzero: k });
  });
  // C'. the same reconstruction path on one dictionary, without grouping by class
  const tC1 = await timeAsync(1, async () => {
    await reconstructImages(images, n, grid, dict, dictT, gram, k);
  });
  tf.dispose([dictT, patchT]);

  // agreement: residual norms of our codes vs scikit-learn's
  const skBuf = readFileSync(fX + '.sk-res');
  const skRes = new Float32Array(skBuf.buffer.slice(skBuf.byteOffset, skBuf.byteOffset + skBuf.byteLength));
  const rec = reconstructSignals(dict, grid.dim, codesA);
  let agree = 0;
  for (let i = 0; i < nP; i++) {
    let r = 0;
    for (let f = 0; f < grid.dim; f++) r += (patches[i * grid.dim + f] - rec[i * grid.dim + f]) ** 2;
    if (Math.abs(Math.sqrt(r) - skRes[i]) <= 1e-4 * Math.max(1, skRes[i])) agree++;
  }

  const ours = nP / tA;
  const out = {
    machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, loadavg: os.loadavg(), node: process.version, tfjs: engine.tfjsVersion, backend: engine.backend, simd: engine.simd },
    dictionary: source,
    nAtoms,
    patchDim: grid.dim,
    k,
    images: n,
    patches: nP,
    flatPatches: nFlat,
    seconds: { matmulOnlyAllPatches: tMatmul, pipeline: tA, matmulPlusOmpAllPatches: tA2, jsOnly: tB, inputDefenderScore: tC, reconstructOneDict: tC1 },
    patchesPerSecond: { pipeline: ours, matmulPlusOmpAllPatches: nP / tA2, jsOnly: nP / tB, inputDefenderScore: nP / tC, sklearn: skRate, sklearnPerRound: skRates },
    perRound: { pipelineSeconds: tAs, scoreSeconds: tCs, score2WorkersSeconds: tC2s },
    score2Workers: { patchesPerSecond: nP / tC2, imagesPerSecond: n / tC2, ratioVsSklearn: ratioC2 },
    imagesPerSecond: { inputDefenderScore: n / tC, reconstructOneDict: n / tC1, sklearnEquivalent: skRate / grid.patchesPerImage },
    ratioVsSklearn: { pipeline: ratioA, inputDefenderScore: ratioC },
    residualAgreementWithSklearn: agree / nP,
    sklearn: sk,
  };
  writeFileSync('bench/out/omp.json', JSON.stringify(out, null, 2));
  const f = (v: number) => Math.round(v).toLocaleString('en-US');
  console.log(`## Batch-OMP throughput (MNIST ${grid.p}×${grid.p} patches, ${nAtoms} atoms, k = ${k})`);
  console.log(`machine: ${out.machine.cpu} ×${out.machine.cores}, load ${out.machine.loadavg.map((v) => v.toFixed(1)).join('/')}; node ${process.version}, tfjs ${engine.tfjsVersion} (${engine.backend}${engine.simd ? ', SIMD' : ''}); scikit-learn ${sk.sklearn}, numpy ${sk.numpy}`);
  console.log(`dictionary: ${source}; ${f(nP)} patches from ${n} test images; ${repeat} interleaved rounds of (ours, score, scikit-learn): medians, ratio = median of per-round ratios; other rows: not interleaved\n`);
  console.log('| implementation | patches/s | images/s | vs scikit-learn |');
  console.log('|---|---|---|---|');
  console.log(`| ours: reconstructPatches (flat patches skipped, tfjs matMul per chunk + Batch-OMP in typed arrays) | ${f(ours)} | ${f(ours / grid.patchesPerImage)} | ${ratioA.toFixed(1)}× |`);
  console.log(`| ours: InputDefender.score end to end (patching, OMP, PSNR; labels given) | ${f(nP / tC)} | ${f(n / tC)} | ${ratioC.toFixed(1)}× |`);
  if (det2) console.log(`| ours: InputDefender.score, sparse coding on 2 worker threads (scoreWorkers = 2) | ${f(nP / tC2)} | ${f(n / tC2)} | ${ratioC2.toFixed(1)}× |`);
  console.log(`| scikit-learn orthogonal_mp_gram (+ D·X in numpy) | ${f(skRate)} | ${f(skRate / grid.patchesPerImage)} | 1× |`);
  console.log(`| (not interleaved) ours: one tfjs matMul over all patches + Batch-OMP on every patch | ${f(nP / tA2)} | ${f(nP / tA2 / grid.patchesPerImage)} | ~${(nP / tA2 / skRate).toFixed(1)}× |`);
  console.log(`| (not interleaved) ours: all plain JS | ${f(nP / tB)} | ${f(nP / tB / grid.patchesPerImage)} | ~${(nP / tB / skRate).toFixed(1)}× |`);
  console.log(`\n${f(nFlat)} of ${f(nP)} patches are flat (zero after centring). One matMul over all patches alone: ${(tMatmul * 1000).toFixed(0)} ms of ${(tA2 * 1000).toFixed(0)} ms. Residual norms agree with scikit-learn's (1e-4 rel.) on ${(100 * agree / nP).toFixed(2)} % of patches.`);
  tf.dispose([test.x, test.y]);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
