import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
async function main() {
  await initEngine('wasm');
  for (const [shape, f, s, pad] of [[[2, 8, 8, 3], 2, 2, 'valid'], [[2, 7, 5, 2], 2, 2, 'same'], [[2, 9, 8, 3], 3, 2, 'same'], [[1, 6, 7, 2], 3, 1, 'same']] as const) {
    const xv = tf.tidy(() => tf.relu(tf.round(tf.mul(tf.randomNormal([...shape], 0, 1, 'float32', 3), 2))).dataSync());
    const res: Float32Array[] = [];
    for (const be of ['cpu', 'wasm']) {
      await tf.setBackend(be);
      const x = tf.tensor4d(xv, [...shape]);
      const y = tf.maxPool(x, f, s, pad);
      const dy = tf.randomNormal(y.shape, 0, 1, 'float32', 5);
      if (be === 'cpu') res.push(tf.engine().runKernel('MaxPoolGrad', { dy, input: x, output: y }, { filterSize: f, strides: s, pad } as never).dataSync() as Float32Array);
      else {
        const { indexes } = tf.maxPoolWithArgmax(x, f, s, pad, true);
        const n = indexes.size;
        const dx = tf.scatterND(tf.reshape(indexes, [n, 1]), tf.reshape(dy, [n]), [x.size]);
        res.push(dx.dataSync() as Float32Array);
      }
    }
    let m = 0; for (let i = 0; i < res[0]!.length; i++) m = Math.max(m, Math.abs(res[0]![i]! - res[1]![i]!));
    console.log(String(shape), f, s, pad, 'maxdiff', m);
  }
  await tf.setBackend('wasm');
  const x = tf.relu(tf.randomNormal([32, 32, 32, 300])) as tf.Tensor4D;
  const dy = tf.randomNormal([32, 16, 16, 300]);
  const g = () => { const { indexes, result } = tf.maxPoolWithArgmax(x, 2, 2, 'valid', true); const n = indexes.size; const dx = tf.scatterND(tf.reshape(indexes, [n, 1]), tf.reshape(dy, [n]), [x.size]); tf.dispose([indexes, result]); return dx; };
  g().dispose();
  for (let k = 0; k < 3; k++) { let t = performance.now(); const { indexes, result } = tf.maxPoolWithArgmax(x, 2, 2, 'valid', true); const t1 = performance.now() - t; t = performance.now(); const d = tf.scatterND(tf.reshape(indexes, [indexes.size, 1]), tf.reshape(dy, [indexes.size]), [x.size]); const t2 = performance.now() - t; tf.dispose([indexes, result, d]); t = performance.now(); tf.maxPool(x, 2, 2, 'valid').dispose(); console.log('argmax', t1.toFixed(1), 'scatter', t2.toFixed(1), 'fwd', (performance.now() - t).toFixed(1)); }
}
main();
