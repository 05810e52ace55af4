import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
async function main() {
  await initEngine('wasm');
  const m = tf.sequential({ layers: [tf.layers.dense({ inputShape: [784], units: 300, activation: 'relu' }), tf.layers.dense({ units: 100, activation: 'relu' }), tf.layers.dense({ units: 10, activation: 'softmax' })] });
  m.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
  const x = tf.randomUniform([128, 784]); const y = tf.oneHot(tf.randomUniform([128], 0, 10, 'int32') as tf.Tensor1D, 10);
  for (let i = 0; i < 3; i++) await m.trainOnBatch(x, y);
  const ts: number[] = [];
  for (let i = 0; i < 10; i++) { const t = performance.now(); await m.trainOnBatch(x, y); ts.push(performance.now() - t); }
  console.log('steps', ts.map((t) => t.toFixed(1)).join(' '));
  const p = await tf.profile(async () => { await m.trainOnBatch(x, y); });
  const agg = new Map<string, [number, number]>();
  for (const k of p.kernels) { const a = agg.get(k.name) ?? [0, 0]; a[0] += Number(k.kernelTimeMs); a[1]++; agg.set(k.name, a); }
  console.log([...agg].sort((a, b) => b[1][0] - a[1][0]).map(([k, v]) => `${k} ${v[0].toFixed(2)} (${v[1]})`).join('\n'));
  // raw optimizer step without layers
  const ws = [tf.variable(tf.randomNormal([784, 300], 0, 0.05)), tf.variable(tf.randomNormal([300, 100], 0, 0.1)), tf.variable(tf.randomNormal([100, 10], 0, 0.1))];
  const opt = tf.train.adam(1e-3);
  const step = () => tf.tidy(() => { opt.minimize(() => tf.losses.softmaxCrossEntropy(y, tf.matMul(tf.relu(tf.matMul(tf.relu(tf.matMul(x, ws[0]!)), ws[1]!)), ws[2]!)) as tf.Scalar); });
  for (let i = 0; i < 3; i++) step();
  const t2: number[] = [];
  for (let i = 0; i < 10; i++) { const t = performance.now(); step(); t2.push(performance.now() - t); }
  console.log('raw steps', t2.map((t) => t.toFixed(1)).join(' '));
}
main();
