import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { restoreStockWasmKernels, registerFastWasmKernels } from '../../src/engine/kernels/index.js';
async function main() {
  console.log(await initEngine('wasm'));
  const t = (f: () => tf.Tensor, n = 5) => { f().dispose(); const ts: number[] = []; for (let i = 0; i < n; i++) { const s = performance.now(); const r = f(); r.dataSync(); r.dispose(); ts.push(performance.now() - s); } ts.sort((a, b) => a - b); return ts[Math.floor(n / 2)].toFixed(1); };
  const a = tf.randomNormal([1024, 1024]); const b = tf.randomNormal([1024, 1024]);
  for (const mode of ['fast', 'stock']) {
    if (mode === 'stock') restoreStockWasmKernels(); else registerFastWasmKernels();
    console.log(mode, 'plain', t(() => tf.matMul(a, b)), 'tA', t(() => tf.matMul(a, b, true, false)), 'tB', t(() => tf.matMul(a, b, false, true)), 'tAB', t(() => tf.matMul(a, b, true, true)));
  }
  console.log(tf.memory().numTensors);
}
main();
