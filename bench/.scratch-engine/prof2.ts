import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
async function prof(name: string, f: () => tf.Tensor) {
  f().dispose(); f().dispose();
  const p = await tf.profile(() => { f().dispose(); return tf.scalar(0); });
  const agg = new Map<string, number>();
  for (const k of p.kernels) agg.set(k.name, (agg.get(k.name) ?? 0) + (k.kernelTimeMs as number));
  console.log(name, [...agg].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', '));
}
async function main() {
  await initEngine('wasm');
  const x = tf.relu(tf.randomNormal([32, 32, 32, 300])) as tf.Tensor4D;
  const y = tf.maxPool(x, 2, 2, 'valid');
  const dy = tf.randomNormal(y.shape);
  await prof('pool1', () => tf.engine().runKernel('MaxPoolGrad', { dy, input: x, output: y }, { filterSize: 2, strides: 2, pad: 'valid' } as never) as tf.Tensor);
  await prof('fwd pool1', () => tf.maxPool(x, 2, 2, 'valid'));
  for (const [xs, fs] of [[[32, 16, 16, 300], [2, 2, 300, 300]], [[32, 8, 8, 300], [3, 3, 300, 300]], [[32, 32, 32, 3], [3, 3, 3, 300]]] as const) {
    const xt = tf.randomNormal([...xs]) as tf.Tensor4D; const w = tf.randomNormal([...fs]) as tf.Tensor4D;
    const yy = tf.conv2d(xt, w, 1, 'same'); const d = tf.randomNormal(yy.shape);
    await prof('fwd ' + xs, () => tf.conv2d(xt, w, 1, 'same'));
    await prof('dW ' + xs, () => tf.engine().runKernel('Conv2DBackpropFilter', { x: xt, dy: d }, { strides: 1, pad: 'same', filterShape: fs } as never) as tf.Tensor);
    await prof('dX ' + xs, () => tf.engine().runKernel('Conv2DBackpropInput', { dy: d, filter: w }, { strides: 1, pad: 'same', inputShape: xs } as never) as tf.Tensor);
  }
}
main();
