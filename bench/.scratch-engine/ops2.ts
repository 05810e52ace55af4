import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
async function main() {
  await initEngine('wasm');
  const y = tf.randomNormal([32, 8, 8, 300]);
  const yb = tf.randomNormal([32, 8, 8, 300]);
  for (let k = 0; k < 3; k++) {
    let t = performance.now(); const r = tf.mul(y, yb); const t1 = performance.now() - t;
    t = performance.now(); r.dataSync(); const t2 = performance.now() - t;
    t = performance.now(); r.dispose(); const t3 = performance.now() - t;
    console.log('mul', t1.toFixed(2), 'dataSync', t2.toFixed(2), 'dispose', t3.toFixed(2));
  }
  for (let k = 0; k < 3; k++) {
    let t = performance.now(); const r = tf.add(y, yb); const t1 = performance.now() - t;
    t = performance.now(); r.dispose(); const t3 = performance.now() - t;
    console.log('add', t1.toFixed(2), 'dispose', t3.toFixed(2));
  }
  const big = tf.randomNormal([32,16,16,300]);
  for (let k = 0; k < 3; k++) {
    let t = performance.now(); const r = tf.slice(big, [0, 1, 1, 0], [32, 15, 15, 300]); const t1 = performance.now() - t;
    t = performance.now(); r.dispose(); const t3 = performance.now() - t;
    console.log('slice', t1.toFixed(2), 'dispose', t3.toFixed(2));
  }
}
main();
