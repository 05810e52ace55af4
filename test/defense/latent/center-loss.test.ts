import { beforeAll, describe, expect, test } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../../src/engine/backend.js';
import { centerLoss } from '../../../src/defense/latent/center-loss.js';
import { ShapeError } from '../../../src/errors.js';

beforeAll(async () => {
  await initEngine();
});

describe('centerLoss', () => {
  test('terms match a hand computation on a tiny batch', () => {
    // φ: (1,0) y=0, (0,1) y=1, (0.6,0.8) y=0; C0 = (0.8,0), C1 = (0,1.2)
    // ‖C−φ‖²: s0 → 0.04 (own), 2.44; s1 → 1.64, 0.04 (own); s2 → 0.68 (own), 0.52
    // condense = (0.04+0.04+0.68)/3, spread = (2.44+1.64+0.52)/3,
    // sphere = (0.64−1)² + (1.44−1)² = 0.1296 + 0.1936
    const phi = tf.tensor2d([[1, 0], [0, 1], [0.6, 0.8]]);
    const y = tf.tensor1d([0, 1, 0], 'int32');
    const c = tf.tensor2d([[0.8, 0], [0, 1.2]]);
    const before = tf.memory().numTensors;
    const t = centerLoss(phi, y, c, 0.5);
    expect(tf.memory().numTensors - before).toBe(4);
    expect(t.condense.dataSync()[0]).toBeCloseTo(0.76 / 3, 6);
    expect(t.spread.dataSync()[0]).toBeCloseTo(4.6 / 3, 6);
    expect(t.sphere.dataSync()[0]).toBeCloseTo(0.3232, 6);
    expect(t.total.dataSync()[0]).toBeCloseTo(0.5 * (0.76 / 3 - 4.6 / 3 + 0.3232), 6);
    tf.dispose([phi, y, c, t.condense, t.spread, t.sphere, t.total]);
  });

  test('spread sums over every other class; gradient pulls φ towards its own centre', () => {
    const phi = tf.tensor2d([[0, 0]]);
    const y = tf.tensor1d([2], 'int32');
    const c = tf.tensor2d([[1, 0], [0, 1], [3, 4]]);
    const t = centerLoss(phi, y, c, 1);
    expect(t.condense.dataSync()[0]).toBeCloseTo(25, 5);
    expect(t.spread.dataSync()[0]).toBeCloseTo(2, 5);
    // 'mean' averages the spread over the K − 1 = 2 other classes
    const tm = centerLoss(phi, y, c, 1, 'mean');
    expect(tm.spread.dataSync()[0]).toBeCloseTo(1, 5);
    expect(tm.total.dataSync()[0]).toBeCloseTo(25 - 1 + t.sphere.dataSync()[0], 4);
    tf.dispose([tm.condense, tm.spread, tm.sphere, tm.total]);
    // d/dφ [‖C2−φ‖² − ‖C0−φ‖² − ‖C1−φ‖²] = −2(C2−φ) + 2(C0−φ) + 2(C1−φ) at φ = 0 → (−4, −6)
    const g = tf.grad((p: tf.Tensor) => centerLoss(p as tf.Tensor2D, y, c, 1).total)(phi);
    expect(Array.from(g.dataSync())).toEqual([expect.closeTo(-4, 5), expect.closeTo(-6, 5)]);
    tf.dispose([phi, y, c, t.condense, t.spread, t.sphere, t.total, g]);
  });

  test('rejects mismatched shapes', () => {
    const phi = tf.zeros([2, 3]) as tf.Tensor2D;
    const c = tf.zeros([4, 2]) as tf.Tensor2D;
    const y = tf.zeros([2], 'int32') as tf.Tensor1D;
    const y3 = tf.zeros([3], 'int32') as tf.Tensor1D;
    expect(() => centerLoss(phi, y, c, 1)).toThrow(ShapeError);
    const c3 = tf.zeros([4, 3]) as tf.Tensor2D;
    expect(() => centerLoss(phi, y3, c3, 1)).toThrow(/expected labels \[2\]/);
    tf.dispose([phi, c, c3, y, y3]);
  });
});
