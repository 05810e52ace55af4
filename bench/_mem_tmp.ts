import '../src/node.js';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../src/engine/backend.js';
import { loadDataset } from '../src/data/index.js';
import { loadClassifier } from '../src/models/io.js';
import { Classifier } from '../src/models/classifier.js';
import { LatentDefender } from '../src/defense/latent/latent-defender.js';
await initEngine();
const heap = () => ((tf.backend() as any).wasm.HEAPU8.length / 2 ** 20).toFixed(0);
const train = await loadDataset('cifar10:../shared/data/cifar10', { split: 'train', limit: Number(process.argv[2] ?? 2000), seed: 0 });
const { model } = await loadClassifier('runs/victims/cifar-cnn-v2');
const victim = new Classifier(model);
console.log('start heap MB', heap(), tf.memory().numTensors, (tf.memory().numBytes / 2 ** 20).toFixed(0));
for (const layer of ['fc1', 'fc2']) {
  const d = new LatentDefender(victim, { checkpointLayer: layer, epochs: Number(process.argv[3] ?? 1) });
  await d.fit(train.x, train.y, { seed: 0 });
  console.log(layer, 'heap MB', heap(), 'tensors', tf.memory().numTensors, 'MB', (tf.memory().numBytes / 2 ** 20).toFixed(0));
}
