import { afterAll, describe, expect, test } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/engine/backend.js';
import { withFloat32View } from '../../src/engine/host-view.js';

describe('withFloat32View', () => {
  afterAll(async () => {
    await initEngine('wasm');
  });

  for (const backend of ['wasm', 'cpu'] as const) {
    test(`${backend}: hands fn exactly the tensor's values and returns fn's result`, async () => {
      await initEngine(backend);
      const a = tf.randomNormal([37, 53], 0, 1, 'float32', 7);
      const b = tf.randomNormal([53, 11], 0, 1, 'float32', 8);
      const c = tf.matMul(a, b);
      const want = c.dataSync().slice();
      const got = withFloat32View(c, (v) => {
        expect(v.length).toBe(37 * 11);
        return Float32Array.from(v);
      });
      expect(got).toEqual(want);
      // a slice of a bigger tensor lives at a non-zero heap offset on wasm
      const s = tf.slice(c, [5, 2], [10, 4]);
      expect(withFloat32View(s, (v) => Array.from(v))).toEqual(Array.from(s.dataSync()));
      tf.dispose([a, b, c, s]);
    });
  }

  test('rejects a non-float32 tensor', async () => {
    await initEngine('wasm');
    const t = tf.tensor1d([1, 2, 3], 'int32');
    expect(() => withFloat32View(t, (v) => v.length)).toThrow(/float32/);
    t.dispose();
  });
});
