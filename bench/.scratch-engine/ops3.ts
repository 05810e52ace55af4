import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
function best(name: string, fn: () => tf.Tensor, reps = 3) { fn().dispose(); let b = 1e9; for (let i = 0; i < reps; i++) { const t = performance.now(); const r = fn(); r.dataSync(); r.dispose(); b = Math.min(b, performance.now() - t); } console.log(name, b.toFixed(1)); }
async function main() {
  await initEngine('wasm');
  const x = tf.relu(tf.randomNormal([32, 32, 32, 300])) as tf.Tensor4D;
  const y = tf.maxPool(x, 2, 2, 'valid');
  const dy = tf.randomNormal(y.shape);
  best('maxpool', () => tf.maxPool(x, 2, 2, 'valid'));
  best('slice contiguous', () => tf.slice(x, [0, 0, 0, 0], [32, 16, 32, 300]));
  best('stridedSlice', () => tf.stridedSlice(x, [0, 0, 1, 0], [32, 32, 32, 300], [1, 2, 2, 1]));
  const w = tf.stridedSlice(x, [0, 0, 1, 0], [32, 32, 32, 300], [1, 2, 2, 1]);
  best('equal', () => tf.equal(w, y));
  const xr = tf.reshape(x, [32, 16, 2, 16, 2, 300]);
  const yr = tf.reshape(y, [32, 16, 1, 16, 1, 300]);
  best('equal bcast 6d', () => tf.equal(xr, yr));
  const xr5 = tf.reshape(x, [32 * 16, 2, 16, 2, 300]);
  const yr5 = tf.reshape(y, [32 * 16, 1, 16, 1, 300]);
  best('equal bcast 5d', () => tf.equal(xr5, yr5));
  best('where', () => tf.where(tf.equal(w, y), dy, tf.zerosLike(dy)));
  best('mul', () => tf.mul(w, dy));
  const st = tf.reshape(tf.stack([w, w, w, w]), [2, 2, 32, 16, 16, 300]);
  best('stack4', () => tf.stack([w, w, w, w]));
  best('transpose 6d', () => tf.transpose(st, [2, 3, 0, 4, 1, 5]));
  best('transpose 4d', () => tf.transpose(x, [3, 0, 1, 2]));
  best('pad 6d', () => tf.pad(tf.reshape(w, [32, 16, 1, 16, 1, 300]), [[0, 0], [0, 0], [0, 1], [0, 0], [0, 1], [0, 0]]));
  best('pad 4d', () => tf.pad(w, [[0, 0], [1, 1], [1, 1], [0, 0]]));
  best('mul bcast 6d', () => tf.mul(xr, tf.reshape(dy, [32, 16, 1, 16, 1, 300])));
  best('concat axis -1', () => tf.concat([tf.reshape(w, [32,16,16,1,300]), tf.reshape(w, [32,16,16,1,300])], 3));
  best('tile', () => tf.tile(tf.reshape(dy, [32, 16, 1, 16, 1, 300]), [1,1,2,1,2,1]));
}
main();
