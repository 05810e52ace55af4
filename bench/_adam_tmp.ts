import '../src/node.js';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../src/engine/backend.js';
import { buildModel } from '../src/models/zoo.js';
import { crossEntropy } from '../src/models/train.js';
import { fusedAdam } from '../src/engine/fused-adam.js';
await initEngine();
const x = tf.randomUniform([128, 28, 28, 1]) as tf.Tensor4D;
const y = tf.tensor1d(Array.from({ length: 128 }, (_, i) => i % 10), 'int32');
for (const round of [0, 1, 2]) for (const kind of ['tf', 'fused']) {
  const model = buildModel('mnist-mlp', { inputShape: [28, 28, 1], numClasses: 10 });
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const opt = kind === 'tf' ? tf.train.adam(1e-3) : fusedAdam(1e-3);
  const step = () => tf.tidy(() => { opt.minimize(() => crossEntropy(model.apply(x, { training: true }) as tf.Tensor2D, y as tf.Tensor1D), true, vars)!.dataSync(); });
  for (let i = 0; i < 10; i++) step();
  const ts: number[] = [];
  for (let i = 0; i < 60; i++) { const t = performance.now(); step(); ts.push(performance.now() - t); }
  ts.sort((a, b) => a - b);
  console.log(round, kind, 'median', ts[30].toFixed(2), 'p10', ts[6].toFixed(2), 'mem', tf.memory().numTensors);
  opt.dispose(); model.dispose();
}
