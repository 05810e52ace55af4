import type { InputDefenderParams } from './input/params.js';

/**
 * The input defender's settings `pcl defend` and `pcl reproduce` use for a victim whose images are
 * `[h, w, c]`, beyond the paper's (non-overlapping p × p tiles, OMP with 5 atoms).
 *
 * Grayscale images up to 32 × 32 (MNIST-like): overlapping patches every 2 pixels and 10 OMP atoms
 * at scoring. Measured on MNIST (bench/results/highconf.md, detection at clean FP ≤ 5 %, input
 * defender alone): C&W κ = 20 35.9 → 73.5 %, PGD L∞ ε = 0.1 23.9 → 84.8 %, PGD L2 ε = 2 22.6 →
 * 81.1 %; about 18× the sparse-coding work of the tiles (121 patches per digit instead of 16, twice
 * the atoms), a few milliseconds per digit.
 *
 * Colour images (the CNN victims): the paper's tiles. The lever was not measured there, and it
 * would cost 10–13× the coding work per image (169 patches of 8 × 8 × 3 on CIFAR-10 instead of 16).
 *
 * The dictionaries do not depend on these settings (they are learnt by LARS on random patches);
 * only the scoring grid and sparsity, and the clean score profiles computed with them, do.
 */
export function recommendedInputParams(imageShape: readonly number[]): Partial<InputDefenderParams> {
  return mnistLike(imageShape) ? { stride: 2, nNonzero: 10 } : {};
}

/** Grayscale images up to 32 × 32: where the levers beyond the paper were measured (MNIST). */
function mnistLike([h, w, c]: readonly number[]): boolean {
  return c === 1 && h <= 32 && w <= 32;
}

/** The hidden dense layer (`fc<N>`) closest before `layer` in `layerNames`, if any (the paper's Fig. 10 second checkpoint). */
export function denseLayerBefore(layerNames: readonly string[], layer: string): string | undefined {
  return layerNames
    .slice(0, layerNames.indexOf(layer))
    .filter((l) => /^fc\d+$/.test(l))
    .pop();
}

/**
 * The latent checkpoints `pcl defend` uses when none are named: for grayscale images up to 32 × 32
 * (MNIST-like MLPs), the last two hidden dense layers (the paper's Fig. 10; on MNIST fc1 detects
 * more of the small and medium-confidence attacks than fc2, bench/results/highconf.md), else the
 * second-to-last layer (on the CIFAR-10 CNN a second dense checkpoint bought little:
 * bench/results/reproduce-cifar.md, DeepFool FP at 90 % 18.3 → 17.5 %, C&W unchanged).
 */
export function recommendedCheckpoints(layerNames: readonly string[], imageShape: readonly number[]): string[] {
  const main = layerNames[layerNames.length - 2];
  if (main === undefined) return [];
  const before = mnistLike(imageShape) ? denseLayerBefore(layerNames, main) : undefined;
  return before !== undefined ? [before, main] : [main];
}
