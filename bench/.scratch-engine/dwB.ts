import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { conv2dBackpropFilterComposite } from '../../src/engine/kernels/index.js';
function dwB(x: tf.Tensor4D, dy: tf.Tensor4D, f: [number, number, number, number], s: number, pad: 'same' | 'valid') {
  return tf.tidy(() => {
    const info = tf.backend_util.computeConv2DInfo(x.shape, f, s, 1, pad);
    const { top, bottom, left, right } = info.padInfo;
    const xp = tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]]);
    const xt = tf.transpose(xp, [3, 1, 2, 0]) as tf.Tensor4D; // [ci, hp, wp, b]
    const dyt = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D; // [oh, ow, b, co]
    const r = tf.conv2d(xt, dyt, 1, 'valid', 'NHWC', s); // [ci, hp-(oh-1)s, .., co]
    const c = tf.slice(r, [0, 0, 0, 0], [f[2], f[0], f[1], f[3]]);
    return tf.transpose(c, [1, 2, 0, 3]);
  });
}
function best(name: string, fn: () => tf.Tensor, reps = 5) { fn().dispose(); let b = 1e9; for (let i = 0; i < reps; i++) { const t = performance.now(); const r = fn(); r.dispose(); b = Math.min(b, performance.now() - t); } return b; }
async function main() {
  await initEngine('wasm');
  for (const [xs, fs] of [[[32, 16, 16, 300], [2, 2, 300, 300]], [[32, 8, 8, 300], [3, 3, 300, 300]], [[32, 32, 32, 3], [3, 3, 3, 300]]] as const) {
    const xt = tf.randomNormal([...xs]) as tf.Tensor4D; const w = tf.randomNormal([...fs]) as tf.Tensor4D;
    const yy = tf.conv2d(xt, w, 1, 'same'); const d = tf.randomNormal(yy.shape) as tf.Tensor4D;
    const a = dwB(xt, d, [...fs] as never, 1, 'same'); const b = conv2dBackpropFilterComposite(xt, d, { strides: 1, pad: 'same', filterShape: [...fs] as never });
    console.log('maxdiff', tf.max(tf.abs(tf.sub(a, b))).dataSync()[0], 'scale', tf.max(tf.abs(b)).dataSync()[0]);
    for (let k = 0; k < 2; k++) {
      const tf_ = best('fwd', () => tf.conv2d(xt, w, 1, 'same'));
      const tA = best('A', () => conv2dBackpropFilterComposite(xt, d, { strides: 1, pad: 'same', filterShape: [...fs] as never }));
      const tB = best('B', () => dwB(xt, d, [...fs] as never, 1, 'same'));
      console.log(String(xs), 'fwd', tf_.toFixed(1), 'A(im2col matmul)', tA.toFixed(1), 'B(conv)', tB.toFixed(1));
    }
  }
}
main();
