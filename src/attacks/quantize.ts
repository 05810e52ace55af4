/**
 * Adversarial images as an attacker delivers them: rounded to the b-bit pixel grid (8 bits: what saving
 * them as PNG, or any 8-bit image format, does). The attacks optimise in floating point, so their
 * examples lie between the grid points every clean image of an 8-bit dataset sits on; a detector can
 * key on that without seeing anything about the data. Evaluating on rounded examples removes that
 * artefact (and the attacks' successes that the rounding undoes).
 */
import * as tf from '@tensorflow/tfjs';
import { ArgumentError } from '../errors.js';
import { perturbationNorms } from './common.js';

/** Largest distance of `x` (values in [0, 1]) from the b-bit grid, in units of a grid step. */
export function offGrid(x: tf.Tensor, bits: number): number {
  checkQuantizeBits(bits);
  const levels = 2 ** bits - 1;
  return tf.tidy(() => {
    const s = tf.mul(x, levels);
    return tf.max(tf.abs(tf.sub(s, tf.round(s)))).dataSync()[0]!;
  });
}

/**
 * Throws an {@link ArgumentError} naming `who` unless every value of `x` (the clean images) lies on the b-bit grid:
 * rounding adversarial images to a grid their clean images are not on would add a perturbation of its own.
 */
export function checkOnGrid(x: tf.Tensor, bits: number, who: string): void {
  const off = offGrid(x, bits);
  if (off > 1e-3) throw new ArgumentError(`${who}: the clean test images are not on the ${bits}-bit grid (up to ${off.toFixed(3)} of a step off it), so rounding the adversarial ones would perturb them further`);
}

/** `x` (values in [0, 1]) rounded to the nearest of the 2^bits grid values k / (2^bits − 1), clipped to [0, 1]. */
export function quantizeImages<T extends tf.Tensor>(x: T, bits: number): T {
  checkQuantizeBits(bits);
  const levels = 2 ** bits - 1;
  return tf.tidy(() => tf.clipByValue(tf.div(tf.round(tf.mul(x, levels)), levels), 0, 1) as T);
}

/**
 * An attack's outcome with its adversarial images rounded to the b-bit grid, and L2 / L∞ distances to
 * `xClean` measured again. `success` is carried over unchanged: the caller re-checks it on the victim
 * (rounding can move an example back across the boundary). The input's `adversarial` is not disposed.
 */
export function quantizeOutcome<O extends { adversarial: tf.Tensor4D; success: Uint8Array; l2: Float32Array; linf: Float32Array }>(
  outcome: O,
  xClean: tf.Tensor4D,
  bits: number,
): O {
  if (outcome.adversarial.shape.join() !== xClean.shape.join()) {
    throw new ArgumentError(`quantizeOutcome: adversarial images ${JSON.stringify(outcome.adversarial.shape)} and clean images ${JSON.stringify(xClean.shape)} differ in shape`);
  }
  const adversarial = quantizeImages(outcome.adversarial, bits);
  const norms = perturbationNorms(xClean, adversarial);
  const out = { ...outcome, adversarial, l2: Float32Array.from(norms[0].dataSync()), linf: Float32Array.from(norms[1].dataSync()) };
  tf.dispose(norms);
  return out;
}

/** Throws an {@link ArgumentError} naming `who` unless `bits` is an integer in [1, 16]. */
export function checkQuantizeBits(bits: number, who = 'quantize: bits'): void {
  if (!Number.isInteger(bits) || bits < 1 || bits > 16) throw new ArgumentError(`${who} must be an integer in [1, 16], got ${bits}`);
}
