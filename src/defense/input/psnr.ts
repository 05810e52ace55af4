/**
 * Peak signal-to-noise ratio, the input defender's raw score (pure math on typed arrays).
 */
import { ArgumentError, ShapeError, assert } from '../../errors.js';

/**
 * The smallest MSE used, so a perfect reconstruction gives a finite PSNR (120 dB for MAX = 1)
 * instead of +∞, which would make thresholds and JSON output awkward.
 */
export const MIN_MSE = 1e-12;

/** PSNR = 20·log10(maxValue) − 10·log10(mse), with mse floored at {@link MIN_MSE}. */
export function psnrFromMse(mse: number, maxValue = 1): number {
  return 20 * Math.log10(maxValue) - 10 * Math.log10(Math.max(mse, MIN_MSE));
}

/**
 * Per-image PSNR between `n` originals `a` and reconstructions `b`, each `[n, size]` row-major
 * (size = h·w·c). MSE is averaged over all pixels and channels of an image.
 * @param maxValue MAX_I, the largest possible pixel value (1 for inputs in [0, 1]).
 * @returns `[n]` PSNR in dB.
 * @see PCL-METHOD §3: PSNR = 20·log10(MAX_I) − 10·log10(MSE).
 */
export function psnr(a: ArrayLike<number>, b: ArrayLike<number>, n: number, maxValue = 1): Float32Array {
  assert(a.length === b.length, () => `psnr: a and b differ in length (${a.length} vs ${b.length})`, ShapeError);
  assert(n >= 1 && a.length % n === 0, () => `psnr: length ${a.length} is not a multiple of n = ${n}`, ShapeError);
  assert(maxValue > 0, () => `psnr: expected maxValue > 0, got ${maxValue}`, ArgumentError);
  const size = a.length / n;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    const o = i * size;
    for (let j = 0; j < size; j++) {
      const d = a[o + j] - b[o + j];
      s += d * d;
    }
    out[i] = psnrFromMse(s / size, maxValue);
  }
  return out;
}
