/**
 * Per-kernel profile of one training step of a zoo model (tf.profile), to find where a step's time goes.
 *
 *   npx tsx bench/train-profile.ts [--arch cifar-cnn] [--width 1] [--batch-norm] [--batch 64] [--side N] [--steps 3]
 *
 * Prints the step's wall time (median of --steps after one warm-up) and the kernels that take the most time.
 */
import '../src/node.js';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../src/engine/backend.js';
import { buildModel, type Arch } from '../src/models/zoo.js';
import { crossEntropy, makeOptimizer } from '../src/models/train.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
}
const arch = arg('--arch', 'cifar-cnn') as Arch;
const width = Number(arg('--width', '1'));
const batch = Number(arg('--batch', '64'));
const steps = Number(arg('--steps', '3'));
const bn = process.argv.includes('--batch-norm');
const side = Number(arg('--side', arch === 'cifar-cnn' ? '32' : arch === 'mnist-mlp' ? '28' : '64'));
const ch = arch === 'mnist-mlp' ? 1 : 3;

const info = await initEngine();
console.log(`engine: ${info.backend}${info.native ? ' + native' : ''}; ${arch} width ${width} batchNorm ${bn} batch ${batch}`);
const model = buildModel(arch, { inputShape: [side, side, ch], numClasses: 10, width, batchNorm: bn });
const opt = makeOptimizer('adam', 1e-3);
const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
const x = tf.randomUniform([batch, side, side, ch]) as tf.Tensor4D;
const y = tf.tensor1d(Array.from({ length: batch }, (_, i) => i % 10), 'int32');
const step = () => {
  tf.tidy(() => {
    const c = opt.minimize(() => crossEntropy(model.apply(x, { training: true }) as tf.Tensor2D, y as tf.Tensor1D), true, vars)!;
    c.dataSync();
  });
};
step();
const times: number[] = [];
for (let i = 0; i < steps; i++) {
  const t = performance.now();
  step();
  times.push(performance.now() - t);
}
times.sort((a, b) => a - b);
console.log(`step median ${times[Math.floor(times.length / 2)].toFixed(1)} ms (${times.map((t) => t.toFixed(0)).join(', ')})`);
const prof = await tf.profile(async () => {
  step();
});
const byName = new Map<string, { ms: number; n: number }>();
for (const k of prof.kernels) {
  const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
  const key = `${k.name} ${JSON.stringify(k.inputShapes)}`;
  const e = byName.get(key) ?? { ms: 0, n: 0 };
  e.ms += ms;
  e.n++;
  byName.set(key, e);
}
const total = [...byName.values()].reduce((s, e) => s + e.ms, 0);
console.log(`profiled kernel total ${total.toFixed(0)} ms over ${prof.kernels.length} kernels`);
for (const [k, e] of [...byName.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 30)) {
  console.log(`${e.ms.toFixed(1).padStart(8)} ms  ×${e.n}  ${k}`);
}
