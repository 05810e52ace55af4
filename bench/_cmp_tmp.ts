import '../src/node.js';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../src/engine/backend.js';
import { buildModel } from '../src/models/zoo.js';
import { crossEntropy } from '../src/models/train.js';
import { fusedAdam } from '../src/engine/fused-adam.js';
import { loadDataset } from '../src/data/index.js';
await initEngine();
const train = await loadDataset('mnist', { split: 'train', limit: 640, seed: 1 });
const res: Record<string, number[][]> = {};
for (const kind of ['tf', 'fused']) {
  const model = buildModel('mnist-mlp', { inputShape: [28, 28, 1], numClasses: 10, seed: 3 });
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const opt = kind === 'tf' ? tf.train.adam(2e-3) : fusedAdam(2e-3);
  for (let b = 0; b < 10; b++) {
    tf.tidy(() => {
      const xb = train.x.slice([b * 64, 0, 0, 0], [64, -1, -1, -1]);
      const yb = train.y.slice([b * 64], [64]);
      opt.minimize(() => crossEntropy(model.apply(xb, { training: true }) as tf.Tensor2D, yb as tf.Tensor1D), true, vars);
    });
  }
  res[kind] = model.getWeights().map((w) => Array.from(w.dataSync()));
  console.log(kind, vars.map((v) => v.name).join(' '));
}
for (let i = 0; i < res.tf.length; i++) {
  let m = 0; for (let j = 0; j < res.tf[i].length; j++) m = Math.max(m, Math.abs(res.tf[i][j] - res.fused[i][j]));
  console.log('weight', i, 'max diff', m);
}
