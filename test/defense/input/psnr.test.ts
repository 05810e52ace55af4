import { describe, expect, test } from 'vitest';
import { MIN_MSE, psnr, psnrFromMse } from '../../../src/defense/input/psnr.js';

describe('psnr', () => {
  test('hand example: MSE 0.01 on [0,1] images is 20 dB; MAX = 255 adds 48.13 dB', () => {
    // image 0: every pixel off by 0.1 → MSE 0.01 → 20 dB; image 1: one of 4 pixels off by 0.2 → MSE 0.01
    const a = new Float32Array([0.5, 0.5, 0.5, 0.5, 0, 0, 0, 0]);
    const b = new Float32Array([0.6, 0.4, 0.6, 0.4, 0.2, 0, 0, 0]);
    const p = psnr(a, b, 2);
    expect(p[0]).toBeCloseTo(20, 4);
    expect(p[1]).toBeCloseTo(20, 4);
    expect(psnrFromMse(0.01 * 255 * 255, 255)).toBeCloseTo(20, 4);
    expect(psnrFromMse(1e-4)).toBeCloseTo(40, 6);
  });

  test('a perfect reconstruction is finite (MSE floored)', () => {
    const a = new Float32Array([0.1, 0.2]);
    expect(psnr(a, a, 1)[0]).toBeCloseTo(-10 * Math.log10(MIN_MSE), 4);
  });

  test('rejects mismatched inputs', () => {
    expect(() => psnr(new Float32Array(4), new Float32Array(3), 1)).toThrow(/differ in length/);
    expect(() => psnr(new Float32Array(4), new Float32Array(4), 3)).toThrow(/multiple of n/);
    expect(() => psnr(new Float32Array(4), new Float32Array(4), 1, 0)).toThrow(/maxValue/);
  });
});
