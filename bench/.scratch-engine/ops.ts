import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
function med(fn: () => tf.Tensor, reps = 3) { fn().dispose(); const ts: number[] = []; for (let i = 0; i < reps; i++) { const t = performance.now(); const r = fn(); r.dataSync(); r.dispose(); ts.push(performance.now() - t); } ts.sort((a, b) => a - b); return ts[Math.floor(reps / 2)]!.toFixed(1); }
async function main() {
  await initEngine('wasm');
  const x = tf.randomNormal([32, 16, 16, 300]) as tf.Tensor4D;
  const y = tf.randomNormal([32, 8, 8, 300]) as tf.Tensor4D;
  const m = tf.randomNormal([128, 784]);
  console.log('slice 4d', med(() => tf.slice(x, [0, 1, 1, 0], [32, 15, 15, 300])));
  console.log('stridedSlice 4d', med(() => tf.stridedSlice(x, [0, 0, 1, 0], [32, 16, 16, 300], [1, 2, 2, 1])));
  console.log('transpose 4d 3012', med(() => tf.transpose(x, [3, 0, 1, 2])));
  console.log('transpose 2d 128x784', med(() => tf.transpose(m)));
  const yb = tf.randomNormal([32, 8, 8, 300]);
  console.log('equal', med(() => tf.equal(y, yb)));
  const e = tf.equal(y, yb);
  console.log('logicalNot', med(() => tf.logicalNot(e)));
  console.log('logicalAnd', med(() => tf.logicalAnd(e, e)));
  console.log('where', med(() => tf.where(e, y, yb)));
  console.log('mul', med(() => tf.mul(y, yb)));
  console.log('cast', med(() => tf.cast(e, 'float32')));
  console.log('stack4', med(() => tf.stack([y, y, y, y])));
  const st = tf.reshape(tf.stack([y, y, y, y]), [2, 2, 32, 8, 8, 300]);
  console.log('transpose 6d', med(() => tf.transpose(st, [2, 3, 0, 4, 1, 5])));
  console.log('pad 6d', med(() => tf.pad(tf.reshape(y, [32, 8, 1, 8, 1, 300]), [[0, 0], [0, 0], [0, 1], [0, 0], [0, 1], [0, 0]])));
  console.log('pad 4d', med(() => tf.pad(y, [[0, 0], [1, 1], [1, 1], [0, 0]])));
  console.log('maxpool', med(() => tf.maxPool(x, 2, 2, 'valid')));
  console.log('concat axis3', med(() => tf.concat([y, y, y, y], 3)));
}
main();
