import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
async function main() {
  await initEngine('wasm');
  const x = tf.relu(tf.randomNormal([32, 32, 32, 300])) as tf.Tensor4D;
  const y = tf.maxPool(x, 2, 2, 'valid');
  const dy = tf.randomNormal(y.shape);
  const f = () => tf.engine().runKernel('MaxPoolGrad', { dy, input: x, output: y }, { filterSize: 2, strides: 2, pad: 'valid' } as never) as tf.Tensor;
  f().dispose(); f().dispose();
  const prof = await tf.profile(() => { f().dispose(); return tf.scalar(0); });
  const agg = new Map<string, number>();
  for (const k of prof.kernels) agg.set(k.name, (agg.get(k.name) ?? 0) + (k.kernelTimeMs as number));
  console.log([...agg].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toFixed(1)}`).join('\n'));
  let t = performance.now(); f().dispose(); console.log('total', performance.now() - t);
}
main();
