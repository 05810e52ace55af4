import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
async function main() {
  await initEngine('wasm');
  const x = tf.randomNormal([32, 32, 32, 3]) as tf.Tensor4D; const w = tf.randomNormal([3, 3, 3, 300]) as tf.Tensor4D;
  const dy = tf.randomNormal([32, 32, 32, 300]);
  const f = () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: 1, pad: 'same', filterShape: [3, 3, 3, 300] } as never) as tf.Tensor;
  for (let k = 0; k < 5; k++) { let t = performance.now(); tf.conv2d(x, w, 1, 'same').dispose(); const a = performance.now() - t; t = performance.now(); f().dispose(); console.log('fwd', a.toFixed(1), 'dW', (performance.now() - t).toFixed(1)); }
}
main();
