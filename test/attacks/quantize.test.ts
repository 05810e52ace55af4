import * as tf from '@tensorflow/tfjs';
import { describe, expect, test } from 'vitest';
import { initEngine } from '../../src/engine/backend.js';
import { checkOnGrid, offGrid, quantizeImages, quantizeOutcome } from '../../src/attacks/quantize.js';
import { ArgumentError } from '../../src/errors.js';
import { leakedTensors } from './fixtures.js';

await initEngine();

describe('quantizeImages / quantizeOutcome: adversarial images on the 8-bit grid', () => {
  test('rounds to k / 255, clips to [0, 1], and is the identity on grid images', () => {
    const x = tf.tensor4d([0, 1 / 255, 2.4 / 255, 2.6 / 255, 0.5, -0.01, 1.003, 254.49 / 255], [1, 2, 4, 1]);
    const q = quantizeImages(x, 8);
    const got = Array.from(q.dataSync(), (v) => Math.round(v * 255 * 1000) / 1000);
    expect(got).toEqual([0, 1, 2, 3, 128, 0, 255, 254]); // 0.5 · 255 = 127.5 rounds up
    expect(offGrid(q, 8)).toBeLessThan(1e-4);
    expect(offGrid(x, 8)).toBeCloseTo(0.5, 3); // 0.5 · 255 = 127.5, half a step off
    const again = quantizeImages(q, 8);
    expect(Array.from(again.dataSync())).toEqual(Array.from(q.dataSync()));
    // 1 bit: black or white
    const one = quantizeImages(tf.tensor1d([0.2, 0.49, 0.51, 0.9]), 1);
    expect(Array.from(one.dataSync())).toEqual([0, 0, 1, 1]);
    tf.dispose([x, q, again, one]);
  });

  test('distances are measured again on the rounded images; success is carried over; no tensor left behind', async () => {
    const clean = tf.tensor4d([10 / 255, 20 / 255, 30 / 255, 40 / 255], [2, 1, 2, 1]);
    // row 0: +0.4/255 and −0.4/255 (rounds back onto the clean image), row 1: +2.6/255 on one pixel (rounds to +3/255)
    const adv = tf.tensor4d([10.4 / 255, 19.6 / 255, 32.6 / 255, 40 / 255], [2, 1, 2, 1]);
    const outcome = { adversarial: adv, success: Uint8Array.from([1, 0]), l2: Float32Array.from([0.5, 0.5]), linf: Float32Array.from([0.5, 0.5]) };
    const q = quantizeOutcome(outcome, clean, 8);
    expect(q.success).toBe(outcome.success);
    expect(q.l2[0]).toBeCloseTo(0, 6);
    expect(q.linf[0]).toBeCloseTo(0, 6);
    expect(q.l2[1]).toBeCloseTo(3 / 255, 6);
    expect(q.linf[1]).toBeCloseTo(3 / 255, 6);
    expect(Array.from(q.adversarial.dataSync(), (v) => Math.round(v * 255))).toEqual([10, 20, 33, 40]);
    expect(adv.isDisposed).toBe(false); // the caller's tensor is left alone
    q.adversarial.dispose();
    expect(await leakedTensors(async () => quantizeOutcome(outcome, clean, 8).adversarial.dispose())).toBe(0);
    tf.dispose([clean, adv]);
  });

  test('checkOnGrid: refuses clean images off the grid, naming the caller', () => {
    const onGrid = tf.tensor4d([0, 3 / 255, 128 / 255, 1], [1, 2, 2, 1]);
    const off = tf.tensor4d([0, 3.4 / 255, 128 / 255, 1], [1, 2, 2, 1]);
    expect(() => checkOnGrid(onGrid, 8, 'who')).not.toThrow();
    expect(() => checkOnGrid(off, 8, 'who')).toThrow(ArgumentError);
    expect(() => checkOnGrid(off, 8, 'who')).toThrow(/^who: the clean test images are not on the 8-bit grid \(up to 0\.400 of a step off it\)/);
    tf.dispose([onGrid, off]);
  });

  test('bad arguments: a clear error', () => {
    const x = tf.zeros([1, 2, 2, 1]) as tf.Tensor4D;
    expect(() => quantizeImages(x, 0)).toThrow(ArgumentError);
    expect(() => quantizeImages(x, 2.5)).toThrow(/bits must be an integer in \[1, 16\], got 2.5/);
    expect(() => offGrid(x, 17)).toThrow(/got 17/);
    const other = tf.zeros([1, 2, 3, 1]) as tf.Tensor4D;
    expect(() => quantizeOutcome({ adversarial: other, success: new Uint8Array(1), l2: new Float32Array(1), linf: new Float32Array(1) }, x, 8)).toThrow(/differ in shape/);
    tf.dispose([x, other]);
  });
});
