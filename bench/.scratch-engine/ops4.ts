import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { registerFastWasmKernels, restoreStockWasmKernels } from '../../src/engine/kernels/index.js';
function best(name: string, fn: () => tf.Tensor, reps = 5) { fn().dispose(); let b = 1e9; for (let i = 0; i < reps; i++) { const t = performance.now(); const r = fn(); r.dispose(); b = Math.min(b, performance.now() - t); } console.log(name, b.toFixed(1)); }
async function main() {
  await initEngine('wasm');
  const x = tf.relu(tf.randomNormal([32, 32, 32, 300])) as tf.Tensor4D;
  const y = tf.maxPool(x, 2, 2, 'valid');
  const dy = tf.randomNormal(y.shape);
  best('maxpool', () => tf.maxPool(x, 2, 2, 'valid'));
  best('slice fast', () => tf.slice(x, [0, 0, 1, 0], [32, 16, 31, 300]));
  restoreStockWasmKernels();
  best('slice stock', () => tf.slice(x, [0, 0, 1, 0], [32, 16, 31, 300]));
  registerFastWasmKernels();
  best('stridedSlice s2', () => tf.stridedSlice(x, [0, 0, 1, 0], [32, 32, 32, 300], [1, 2, 2, 1]));
  const w = tf.stridedSlice(x, [0, 0, 1, 0], [32, 32, 32, 300], [1, 2, 2, 1]);
  best('equal', () => tf.equal(w, y));
  const e = tf.equal(w, y);
  best('where', () => tf.where(e, dy, tf.zerosLike(dy)));
  best('mul', () => tf.mul(w, dy));
  best('add', () => tf.add(w, dy));
  best('cast', () => tf.cast(e, 'float32'));
  best('stack4', () => tf.stack([w, w, w, w]));
  const st = tf.reshape(tf.stack([w, w, w, w]), [2, 2, 32, 16, 16, 300]);
  best('transpose 6d', () => tf.transpose(st, [2, 3, 0, 4, 1, 5]));
  best('transpose 4d 3012', () => tf.transpose(x, [3, 0, 1, 2]));
  best('transpose 4d 1203', () => tf.transpose(x, [1, 2, 0, 3]));
  best('pad 6d', () => tf.pad(tf.reshape(w, [32, 16, 1, 16, 1, 300]), [[0, 0], [0, 0], [0, 1], [0, 0], [0, 1], [0, 0]]));
  best('pad 4d', () => tf.pad(w, [[0, 0], [1, 1], [1, 1], [0, 0]]));
  const xr = tf.reshape(x, [32, 16, 2, 16, 2, 300]);
  best('equal bcast 6d', () => tf.equal(xr, tf.reshape(y, [32, 16, 1, 16, 1, 300])));
  best('concat axis 3', () => tf.concat([tf.reshape(w, [32,16,16,1,300]), tf.reshape(w, [32,16,16,1,300])], 3));
  best('conv 1x1 identity 300', () => tf.conv2d(w, tf.ones([1,1,300,300]) as tf.Tensor4D, 1, 'valid'));
}
main();
