import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
function best(name: string, fn: () => tf.Tensor, reps = 7) { fn().dispose(); let b = 1e9; for (let i = 0; i < reps; i++) { const t = performance.now(); const r = fn(); r.dispose(); b = Math.min(b, performance.now() - t); } console.log(name.padEnd(20), b.toFixed(2)); }
async function main() {
  await initEngine('wasm');
  const a = tf.randomNormal([32, 16, 16, 300]);
  const b = tf.randomNormal([32, 16, 16, 300]);
  const e = tf.equal(a, b);
  for (let k = 0; k < 2; k++) {
  best('add', () => tf.add(a, b));
  best('sub', () => tf.sub(a, b));
  best('mul', () => tf.mul(a, b));
  best('minimum', () => tf.minimum(a, b));
  best('maximum', () => tf.maximum(a, b));
  best('mul scalar', () => tf.mul(a, 3));
  best('equal', () => tf.equal(a, b));
  best('greaterEqual', () => tf.greaterEqual(a, b));
  best('cast bool->f32', () => tf.cast(e, 'float32'));
  best('sign', () => tf.sign(a));
  best('step', () => tf.step(a));
  best('relu', () => tf.relu(a));
  best('neg', () => tf.neg(a));
  best('logicalAnd', () => tf.logicalAnd(e, e));
  best('where', () => tf.where(e, a, b));
  best('concat 2 axis3', () => tf.concat([a, b], 3));
  best('slice', () => tf.slice(a, [0, 0, 0, 1], [32, 16, 16, 299]));
  }
}
main();
