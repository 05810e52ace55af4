/**
 * BPDA for the input defender: a differentiable surrogate of its score (−PSNR of the sparse
 * reconstruction), for adaptive attacks.
 *
 * The defender's reconstruction x ↦ R(x) runs Orthogonal Matching Pursuit per patch: a greedy,
 * discrete choice of k atoms (the support S) followed by a least-squares fit on them. Given S the
 * reconstruction of a centred patch v is the orthogonal projection Π_S v onto span(D_S), which is
 * linear in v. So the surrogate
 *
 *   1. **forward**: runs the real OMP (the defender's own Batch-OMP on its own dictionaries) on the
 *      current images to fix each patch's support S — the linearisation point;
 *   2. **backward**: differentiates −PSNR(x) = 10·log10(Σ_patches ‖v − Π_S v‖² / size) − 20·log10(MAX)
 *      with S held fixed, i.e. through the least-squares projection onto the selected atoms. That
 *      gradient is exact wherever the support does not change (almost everywhere), which the tests
 *      check against finite differences of both the surrogate and the real defender.
 *
 * At the linearisation point this equals straight-through BPDA with the reconstruction treated as a
 * constant: ∇‖v − c‖² = 2(v − c) and ∇‖(I − Π)v‖² = 2(I − Π)v coincide at c = Π v (the residual is
 * orthogonal to span(D_S)). The two only differ if a linearisation is reused for several steps.
 *
 * Grids whose patches tile the image (p divides h and w: MNIST 7 on 28, CIFAR-10 8 on 32) use the patch
 * residuals directly (the image residual is their concatenation). Overlapping grids (a scoring stride
 * below p, or border patches where p does not divide the side) rebuild each pixel as the mean of every
 * patch covering it, as the defender does: with the supports fixed that is still linear in x, and the
 * surrogate runs it as two products with the grid's 0/1 patch-extraction matrix E [h·w·c, P·p²c]
 * (extraction x·E, assembly (recon·Eᵀ) / coverage). E is dense, so it is built only up to
 * {@link MAX_OVERLAP_OPERATOR} entries (MNIST at stride 2: 784 × 7,056).
 *
 * @see Athalye, Carlini & Wagner, "Obfuscated Gradients Give a False Sense of Security" (ICML 2018), §4.1 (BPDA).
 */
import * as tf from '@tensorflow/tfjs';
import { ArgumentError, ShapeError, assert } from '../../errors.js';
import type { ScoreSurrogate } from '../types.js';
import type { InputDefender } from './input-defender.js';
import { gramMatrix, ompGram } from './omp.js';
import { assembleGridPatches, extractGridPatches, type PatchGrid } from './patches.js';
import { MIN_MSE } from './psnr.js';

/** Largest patch-extraction matrix (entries) the overlapping-grid surrogate builds: 2²⁵ floats, 128 MB. */
export const MAX_OVERLAP_OPERATOR = 1 << 25;

/** True when the grid's patches overlap somewhere (a stride below p, or border patches). */
function overlaps(grid: PatchGrid): boolean {
  return grid.patchesPerImage * grid.p * grid.p > grid.h * grid.w;
}

/**
 * The dense 0/1 extraction matrix E [h·w·c, P·dim] of `grid` (column j·dim + (dy·p + dx)·c + ch of
 * patch j reads pixel ((y0 + dy)·w + x0 + dx)·c + ch, patches in `extractGridPatches` order) and the
 * reciprocal coverage of every value [h·w·c].
 */
function overlapOperator(grid: PatchGrid): { E: tf.Tensor2D; invCount: tf.Tensor1D } {
  const { h, w, c, p, ys, xs, dim, patchesPerImage } = grid;
  const size = h * w * c;
  const cols = patchesPerImage * dim;
  assert(size * cols <= MAX_OVERLAP_OPERATOR, () => `InputBpda: the overlapping patch grid (${patchesPerImage} patches of ${p}×${p}×${c} on ${h}×${w}) needs a ${size}×${cols} extraction matrix, above ${MAX_OVERLAP_OPERATOR} entries; attack a defender scored on tiles (stride 'tile') instead`, ArgumentError);
  const e = new Float32Array(size * cols);
  const count = new Float32Array(size);
  let j = 0;
  for (const y0 of ys) {
    for (const x0 of xs) {
      for (let dy = 0; dy < p; dy++) {
        for (let dx = 0; dx < p; dx++) {
          for (let ch = 0; ch < c; ch++) {
            const pix = ((y0 + dy) * w + x0 + dx) * c + ch;
            e[pix * cols + j * dim + (dy * p + dx) * c + ch] = 1;
            count[pix]++;
          }
        }
      }
      j++;
    }
  }
  return { E: tf.tensor2d(e, [size, cols]), invCount: tf.tensor1d(count.map((v) => (v > 0 ? 1 / v : 0))) };
}

/** Tail scale β of ascending clean scores: mean excess of the top 1 % over the 99th percentile. */
export function cleanTailScale(sorted: ArrayLike<number>): number {
  const n = sorted.length;
  if (n < 2) return 1;
  const m = Math.max(1, Math.min(n - 1, Math.floor(0.01 * n)));
  const u = sorted[n - 1 - m];
  let excess = 0;
  for (let i = n - m; i < n; i++) excess += sorted[i] - u;
  return Math.max(excess / m, 1e-6);
}

/**
 * The supports OMP chose for a batch of images, as fixed linear maps: per patch an orthonormal
 * basis of the span of its selected atoms. Holds tensors: call `dispose()`.
 */
export class BpdaLinearisation {
  constructor(
    /** [n·P, k, dim]: orthonormal rows spanning each patch's selected atoms (zero rows pad). */
    readonly basis: tf.Tensor3D,
    /** [n]: the real defender's score (−PSNR) at the linearisation point, computed on the host. */
    readonly scoreAtPoint: Float32Array,
    readonly n: number,
    private readonly grid: PatchGrid,
    private readonly maxValue: number,
    /** The overlapping grid's extraction operator (owned by the `InputBpda`, not disposed here). */
    private readonly overlap?: { E: tf.Tensor2D; invCount: tf.Tensor1D },
  ) {}

  /**
   * Differentiable −PSNR [n] of `x` [n,h,w,c] with every patch's support held fixed. At the
   * linearisation point it equals the defender's score. Returns a new tensor owned by the caller.
   */
  score(x: tf.Tensor4D): tf.Tensor1D {
    const { h, w, c, p, dim, patchesPerImage } = this.grid;
    assert(x.rank === 4 && x.shape[0] === this.n && x.shape[1] === h && x.shape[2] === w && x.shape[3] === c,
      () => `BpdaLinearisation.score: expected x of shape [${this.n},${h},${w},${c}], got [${x.shape}]`, ShapeError);
    if (this.overlap) return this.overlapScore(x, this.overlap);
    return tf.tidy(() => {
      const n = this.n;
      // [n, h/p, p, w/p, p, c] → [n, h/p, w/p, p, p, c] → [n·P, p·p, c]: patches in grid order, (row, col, channel) inside
      const patches = tf.transpose(tf.reshape(x, [n, h / p, p, w / p, p, c]), [0, 1, 3, 2, 4, 5]).reshape([n * patchesPerImage, p * p, c]);
      const v = tf.sub(patches, tf.mean(patches, 1, true)).reshape([n * patchesPerImage, dim, 1]);
      const coef = tf.matMul(this.basis, v); // [nP, k, 1]
      const r = tf.sub(v, tf.matMul(this.basis, coef, true, false)); // v − Π_S v
      const sse = tf.sum(tf.square(r).reshape([n, patchesPerImage * dim]), 1);
      const mse = tf.maximum(tf.div(sse, h * w * c), MIN_MSE);
      return tf.sub(tf.mul(tf.log(mse), 10 / Math.LN10), 20 * Math.log10(this.maxValue)) as tf.Tensor1D;
    });
  }

  /** {@link score} on an overlapping grid: patches x·E, fixed-support projections, assembly (recon·Eᵀ)/coverage. */
  private overlapScore(x: tf.Tensor4D, op: { E: tf.Tensor2D; invCount: tf.Tensor1D }): tf.Tensor1D {
    const { h, w, c, p, dim, patchesPerImage } = this.grid;
    const size = h * w * c;
    return tf.tidy(() => {
      const n = this.n;
      const nP = n * patchesPerImage;
      const xf = tf.reshape(x, [n, size]);
      const patches = tf.matMul(xf, op.E).reshape([nP, p * p, c]);
      const mean = tf.mean(patches, 1, true);
      const v = tf.sub(patches, mean).reshape([nP, dim, 1]);
      const proj = tf.matMul(this.basis, tf.matMul(this.basis, v), true, false); // Π_S v, [nP, dim, 1]
      const recon = tf.add(proj.reshape([nP, p * p, c]), mean).reshape([n, patchesPerImage * dim]);
      const rebuilt = tf.mul(tf.matMul(recon, op.E, false, true), op.invCount); // [n, size]
      const sse = tf.sum(tf.square(tf.sub(xf, rebuilt)), 1);
      const mse = tf.maximum(tf.div(sse, size), MIN_MSE);
      return tf.sub(tf.mul(tf.log(mse), 10 / Math.LN10), 20 * Math.log10(this.maxValue)) as tf.Tensor1D;
    });
  }

  dispose(): void {
    this.basis.dispose();
  }
}

/**
 * BPDA surrogate of a fitted {@link InputDefender}'s score. `linearise(x, classes)` runs the real OMP
 * on the dictionaries of `classes` and fixes the supports; the returned linearisation's `score` is
 * then differentiable in x. `excess` turns scores into the attack's hinge units at a security
 * parameter: (score − threshold(class)) / β(class), ≤ 0 ⇔ the defender does not flag.
 */
export class InputBpda {
  readonly grid: PatchGrid;
  private readonly dicts: Float32Array[];
  private readonly grams: Float64Array[];
  private readonly nAtoms: number;
  /** Extraction operator of an overlapping grid (undefined on tiles); freed by `dispose()`. */
  private readonly overlap?: { E: tf.Tensor2D; invCount: tf.Tensor1D };

  constructor(readonly defender: InputDefender) {
    assert(defender.isFitted, () => 'InputBpda: the input defender is not fitted; fit or load it first', ArgumentError);
    this.grid = defender.grid;
    this.overlap = overlaps(this.grid) ? overlapOperator(this.grid) : undefined;
    this.nAtoms = defender.params.nAtoms;
    this.dicts = Array.from({ length: defender.numClasses }, (_, k) => defender.dictionary(k));
    this.grams = this.dicts.map((d) => gramMatrix(d, this.nAtoms, this.grid.dim));
  }

  /** Per-class thresholds (score units) at `sp` and clean tail scales β. */
  thresholdsAndScales(sp: number): { thresholds: Float32Array; scales: Float32Array } {
    const thresholds = this.defender.thresholds(sp);
    const scales = Float32Array.from({ length: this.defender.numClasses }, (_, k) => cleanTailScale(this.defender.trainScores(k)));
    return { thresholds, scales };
  }

  /**
   * Runs the defender's OMP on `x` [n,h,w,c] (a tensor or its flat data) with the dictionary of
   * `classes[i]` for row i, and returns the fixed-support linearisation (caller disposes it).
   */
  async linearise(x: tf.Tensor4D | Float32Array, classes: ArrayLike<number>): Promise<BpdaLinearisation> {
    return this.lineariseSync(x instanceof Float32Array ? x : ((await x.data()) as Float32Array), classes);
  }

  /**
   * {@link linearise} on flat image data, synchronously (its patch correlations are read with
   * `dataSync`, fine on the CPU and wasm backends): usable inside a differentiated closure.
   */
  lineariseSync(data: Float32Array, classes: ArrayLike<number>): BpdaLinearisation {
    const { dim, patchesPerImage, h, w, c } = this.grid;
    const n = data.length / (h * w * c);
    assert(Number.isInteger(n) && classes.length === n, () => `InputBpda.linearise: expected ${n} classes (one per image), got ${classes.length}`, ShapeError);
    const k = this.defender.params.nNonzero;
    const { patches, means } = extractGridPatches(data, n, this.grid);
    const nP = n * patchesPerImage;
    // overlapping grid: the projections are assembled into images, as the defender does, for the host score
    const recon = this.overlap ? new Float32Array(nP * dim) : undefined;
    const basis = new Float32Array(nP * k * dim);
    const sse = new Float64Array(n);
    const byClass = new Map<number, number[]>();
    for (let i = 0; i < n; i++) {
      const cls = classes[i];
      assert(Number.isInteger(cls) && cls >= 0 && cls < this.dicts.length, () => `InputBpda.linearise: classes[${i}] = ${cls} is not a class in [0, ${this.dicts.length})`, ArgumentError);
      if (!byClass.has(cls)) byClass.set(cls, []);
      byClass.get(cls)!.push(i);
    }
    const q = new Float64Array(k * dim);
    for (const [cls, rows] of byClass) {
      const m = rows.length * patchesPerImage;
      const buf = new Float32Array(m * dim);
      rows.forEach((img, r) => buf.set(patches.subarray(img * patchesPerImage * dim, (img + 1) * patchesPerImage * dim), r * patchesPerImage * dim));
      const corr = tf.tidy(() => tf.matMul(tf.tensor2d(buf, [m, dim]), tf.tensor2d(this.dicts[cls], [this.nAtoms, dim]), false, true));
      const dtx = corr.dataSync() as Float32Array;
      corr.dispose();
      const codes = ompGram(this.grams[cls], this.nAtoms, dtx, { nNonzero: k });
      const dict = this.dicts[cls];
      for (let j = 0; j < m; j++) {
        const img = rows[Math.floor(j / patchesPerImage)];
        const patch = img * patchesPerImage + (j % patchesPerImage);
        // modified Gram–Schmidt on the selected atoms (float64)
        let rank = 0;
        for (let a = 0; a < codes.nnz[j]; a++) {
          const atom = codes.indices[j * k + a] * dim;
          const u = q.subarray(rank * dim, (rank + 1) * dim);
          for (let f = 0; f < dim; f++) u[f] = dict[atom + f];
          for (let b = 0; b < rank; b++) {
            const qb = q.subarray(b * dim, (b + 1) * dim);
            let dot = 0;
            for (let f = 0; f < dim; f++) dot += u[f] * qb[f];
            for (let f = 0; f < dim; f++) u[f] -= dot * qb[f];
          }
          let norm = 0;
          for (let f = 0; f < dim; f++) norm += u[f] * u[f];
          norm = Math.sqrt(norm);
          if (!(norm > 1e-6)) continue; // numerically dependent: OMP's own Cholesky would have stopped too
          for (let f = 0; f < dim; f++) u[f] /= norm;
          rank++;
        }
        // residual of the projection (the real defender's patch error) and the basis rows
        const v = buf.subarray(j * dim, (j + 1) * dim);
        let err = 0;
        const coef = new Float64Array(rank);
        for (let b = 0; b < rank; b++) {
          let dot = 0;
          for (let f = 0; f < dim; f++) dot += q[b * dim + f] * v[f];
          coef[b] = dot;
        }
        for (let f = 0; f < dim; f++) {
          let pv = 0;
          for (let b = 0; b < rank; b++) pv += coef[b] * q[b * dim + f];
          const rv = v[f] - pv;
          err += rv * rv;
          if (recon) recon[patch * dim + f] = pv;
        }
        sse[img] += err;
        basis.set(q.subarray(0, rank * dim), patch * k * dim);
      }
    }
    const size = h * w * c;
    if (recon) {
      const rebuilt = assembleGridPatches(recon, means, n, this.grid);
      sse.fill(0);
      for (let i = 0; i < n; i++) {
        let e = 0;
        for (let f = i * size; f < (i + 1) * size; f++) e += (data[f] - rebuilt[f]) ** 2;
        sse[i] = e;
      }
    }
    const maxValue = this.defender.params.maxValue;
    const scoreAtPoint = Float32Array.from(sse, (s) => 10 * Math.log10(Math.max(s / size, MIN_MSE)) - 20 * Math.log10(maxValue));
    return new BpdaLinearisation(tf.tensor3d(basis, [nP, k, dim]), scoreAtPoint, n, this.grid, maxValue, this.overlap);
  }

  /** Frees the overlapping grid's extraction operator (linearisations made by this object become unusable). */
  dispose(): void {
    if (this.overlap) tf.dispose([this.overlap.E, this.overlap.invCount]);
  }
}

/**
 * The input defender's BPDA surrogate in the `ScoreSurrogate` shape the adaptive attacks plug into the
 * C&W core: one component ('psnr', the score −PSNR), its per-class threshold at `sp` and clean tail
 * scale. `scores(x, classes)` runs the real OMP on the current `x` under `classes` (host step, sync)
 * and returns the fixed-support, differentiable −PSNR; call it inside a `tf.tidy` (the linearisation's
 * tensors are freed with the tidy, after the backward pass).
 */
export class InputBpdaSurrogate implements ScoreSurrogate {
  readonly label: string;
  readonly components = ['psnr'] as const;
  private readonly bpda: InputBpda;
  private readonly thr: tf.Tensor1D;
  private readonly scale: tf.Tensor1D;

  constructor(defender: InputDefender, readonly sp: number) {
    this.bpda = new InputBpda(defender);
    this.label = defender.label;
    const { thresholds, scales } = this.bpda.thresholdsAndScales(sp);
    this.thr = tf.tensor1d(thresholds);
    this.scale = tf.tensor1d(scales);
  }

  scores(x: tf.Tensor4D, classes: tf.Tensor2D): tf.Tensor2D {
    const cls = tf.tidy(() => tf.argMax(classes, 1));
    const k = cls.dataSync() as Int32Array;
    cls.dispose();
    const lin = this.bpda.lineariseSync(x.dataSync() as Float32Array, k);
    return lin.score(x).reshape([x.shape[0], 1]) as tf.Tensor2D;
  }

  excess(x: tf.Tensor4D, classes: tf.Tensor2D): tf.Tensor2D {
    const s = this.scores(x, classes);
    return tf.div(tf.sub(s, tf.matMul(classes, this.thr.reshape([-1, 1]))), tf.matMul(classes, this.scale.reshape([-1, 1]))) as tf.Tensor2D;
  }

  dispose(): void {
    tf.dispose([this.thr, this.scale]);
    this.bpda.dispose();
  }
}
