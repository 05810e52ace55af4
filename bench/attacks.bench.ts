/**
 * Success rate, mean L2 / L∞ and time of every attack on the MNIST victim (784-300-100-10) at the
 * paper's Table 3 parameters, on a seeded subset of the MNIST test set (only the correctly
 * classified images are attacked), plus a speed ratio against a straightforward reference measured
 * in the same run: the same attack called one image at a time (the per-image loop of the original
 * reference implementations) on the first `--ref-n` images.
 *
 *   nice -n 10 npx tsx bench/attacks.bench.ts [--model runs/victims/mnist-mlp] [--n 1000]
 *       [--only fgsm,jsma,deepfool,cw-fast,cw-full] [--ref-n 20] [--batch-size 100] [--no-save]
 *
 * Attack sets are kept in runs/attacks/mnist/<name>/ (pcl attack's format) for the evaluation
 * harness; the figures are printed as a markdown table and written to bench/out/attacks.json.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../src/engine/backend.js';
import { loadDataset, disposeDataset } from '../src/data/index.js';
import { Classifier } from '../src/models/classifier.js';
import { loadClassifier } from '../src/models/io.js';
import { generateAttackSet, makeAttack, type AttackSetSummary } from '../src/attacks/index.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
}
const MODEL = arg('--model', 'runs/victims/mnist-mlp');
const N = Number(arg('--n', '1000'));
const REF_N = Number(arg('--ref-n', '20'));
const BATCH = Number(arg('--batch-size', '100'));
const ONLY = arg('--only', 'fgsm,deepfool,jsma,cw-fast,cw-full').split(',');
const SAVE = !process.argv.includes('--no-save');

interface Config {
  group: string;
  name: string;
  attack: string;
  params: Record<string, unknown>;
  /** Reference figure of the issue (independent PyTorch implementation, same architecture). */
  reference: string;
  reps?: number;
}
const CW_FAST = { binarySteps: 6, iterations: 100, lr: 0.1, confidence: 0 };
const CONFIGS: Config[] = [
  ...[0.05, 0.1, 0.2, 0.3].map((eps, i) => ({
    group: 'fgsm',
    name: `fgsm-eps${eps}`,
    attack: 'fgsm',
    params: { eps },
    reference: `≈ ${[43, 80, 96, 99][i]} %`,
    reps: 3,
  })),
  { group: 'deepfool', name: 'deepfool', attack: 'deepfool', params: { maxIter: 50, overshoot: 0.02 }, reference: '100 %, L2 ≈ 0.85' },
  { group: 'jsma', name: 'jsma', attack: 'jsma', params: { gamma: 0.05, theta: 1, target: 'random' }, reference: '≈ 90 %' },
  { group: 'cw-fast', name: 'cw-l2-fast', attack: 'cw-l2', params: CW_FAST, reference: '100 %, L2 ≈ 0.85' },
  { group: 'cw-full', name: 'cw-l2', attack: 'cw-l2', params: { binarySteps: 20, iterations: 500, lr: 0.1, confidence: 0 }, reference: '100 %, L2 ≈ 0.85' },
];

const engine = await initEngine();
const { model: layers, metrics } = await loadClassifier(MODEL);
const clf = new Classifier(layers);
console.log(
  `# attacks on ${MODEL} (test accuracy ${metrics.testAccuracy}); ${os.cpus().length}× ${os.cpus()[0]?.model}, load ${os.loadavg().map((v) => v.toFixed(1)).join('/')}, ` +
    `node ${process.version}, tfjs ${engine.tfjsVersion} ${engine.backend}${engine.simd ? '+simd' : ''}, n=${N}, batch ${BATCH}`,
);

/** Per-image reference: the same attack, one call per image, on the first REF_N attacked images. */
async function perImageSeconds(attackName: string, params: Record<string, unknown>): Promise<number> {
  const ds = await loadDataset('mnist', { split: 'test', limit: N, seed: 0 });
  try {
    const y = await ds.y.data();
    const p = clf.predict(ds.x);
    const pred = await p.data();
    p.dispose();
    const rows: number[] = [];
    for (let i = 0; i < y.length && rows.length < REF_N; i++) if (pred[i] === y[i]) rows.push(i);
    const attack = makeAttack(attackName, params);
    const t0 = performance.now();
    for (const i of rows) {
      const xi = ds.x.slice([i, 0, 0, 0], [1, -1, -1, -1]);
      const r = await attack.run(clf, xi, [y[i]], { seed: i });
      r.adversarial.dispose();
      xi.dispose();
    }
    return (performance.now() - t0) / 1000 / rows.length;
  } finally {
    disposeDataset(ds);
  }
}

const rows: Array<Record<string, unknown>> = [];
console.log('| attack | params | n attacked | success | mean L2 | mean L∞ | mean L0 | time (batched) | per-image loop, extrapolated (speed-up) | issue reference |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const c of CONFIGS) {
  if (!ONLY.includes(c.group)) continue;
  const times: number[] = [];
  const cpuTimes: number[] = [];
  let s: AttackSetSummary | undefined;
  for (let r = 0; r < (c.reps ?? 1); r++) {
    const cpu0 = process.cpuUsage();
    s = await generateAttackSet({
      model: clf,
      dataset: 'mnist',
      attack: c.attack,
      params: c.params,
      n: N,
      batchSize: BATCH,
      seed: 0,
      out: SAVE && r === 0 ? path.join('runs/attacks/mnist', c.name) : undefined,
    });
    times.push(s.seconds);
    const cpu = process.cpuUsage(cpu0);
    cpuTimes.push((cpu.user + cpu.system) / 1e6);
  }
  times.sort((a, b) => a - b);
  cpuTimes.sort((a, b) => a - b);
  const seconds = times[Math.floor(times.length / 2)];
  const cpuSeconds = cpuTimes[Math.floor(cpuTimes.length / 2)];
  // the per-image reference is run at the cheap C&W schedule only (the full one would take hours one image at a time)
  const refParams = c.group === 'cw-full' ? undefined : c.params;
  const perImage = refParams && REF_N > 0 ? await perImageSeconds(c.attack, refParams) : NaN;
  const row = {
    name: c.name,
    params: c.params,
    n: s!.n,
    successRate: s!.successRate,
    meanL2: s!.meanL2,
    meanLinf: s!.meanLinf,
    meanL0: s!.meanL0,
    seconds,
    cpuSeconds,
    perImageReferenceSeconds: perImage,
    speedup: (perImage * s!.n) / seconds,
    reference: c.reference,
    targetPolicy: s!.targetPolicy,
  };
  rows.push(row);
  console.log(
    `| ${c.name} | ${JSON.stringify(c.params)} | ${s!.n} | ${(100 * s!.successRate).toFixed(1)} % | ${s!.meanL2.toFixed(3)} | ${s!.meanLinf.toFixed(3)} | ` +
      `${s!.meanL0.toFixed(1)} | ${seconds.toFixed(1)} s wall, ${cpuSeconds.toFixed(1)} s CPU${c.reps ? ` (median of ${c.reps})` : ''} | ` +
      `${Number.isFinite(perImage) ? `${(perImage * s!.n).toFixed(1)} s (${row.speedup.toFixed(1)}×)` : '—'} | ${c.reference} |`,
  );
}
await fs.mkdir('bench/out', { recursive: true });
const outFile = `bench/out/attacks-${ONLY.join('_')}.json`;
await fs.writeFile(outFile, `${JSON.stringify({ model: MODEL, n: N, batchSize: BATCH, engine, load: os.loadavg(), rows }, null, 2)}\n`);
console.log(`wrote ${outFile}`);
layers.dispose();
tf.disposeVariables();
