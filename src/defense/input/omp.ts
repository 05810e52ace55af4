/**
 * Batch Orthogonal Matching Pursuit (Batch-OMP) on typed arrays.
 *
 * Pure math: no tensors, no I/O. A dictionary here is stored **atom-major**, `[nAtoms, nFeatures]`
 * row-major (one unit-norm atom per row, like scikit-learn's `components_`), so `D·x` for a signal
 * `x` is a row-by-row dot product and a reconstruction is a sum of contiguous rows.
 *
 * @see R. Rubinstein, M. Zibulevsky, M. Elad, "Efficient Implementation of the K-SVD Algorithm
 *   using Batch Orthogonal Matching Pursuit", Technion CS-2008-08 (2008), Algorithm 3 ("Batch-OMP").
 */
import { ArgumentError, ShapeError, assert } from '../../errors.js';

/** Sparse codes of `n` signals with at most `maxNonzero` atoms each. */
export interface SparseCodes {
  /** Number of signals. */
  readonly n: number;
  /** Number of dictionary atoms. */
  readonly nAtoms: number;
  /** Slots per signal (= the sparsity limit k). */
  readonly maxNonzero: number;
  /** `[n, maxNonzero]`: selected atom indices in selection order; unused slots hold -1. */
  readonly indices: Int32Array;
  /** `[n, maxNonzero]`: coefficient of each selected atom (0 in unused slots). */
  readonly coefs: Float32Array;
  /** `[n]`: number of atoms actually selected per signal (≤ maxNonzero). */
  readonly nnz: Uint8Array;
}

/** Stopping rules of OMP. */
export interface OmpOptions {
  /** Sparsity k: at most this many atoms per signal (1 ≤ k ≤ min(255, nAtoms)). */
  nNonzero: number;
  /**
   * Optional tolerance on the **squared** residual norm ‖x − Dγ‖²: a signal stops as soon as it is
   * reached (needs `xNorm2`). Without it only `nNonzero` stops the pursuit.
   */
  tol?: number;
  /** `[n]`: ‖x‖² of each signal; required when `tol` is given. */
  xNorm2?: ArrayLike<number>;
}

/**
 * Gram matrix G = D·Dᵀ, `[nAtoms, nAtoms]` float64, of an atom-major dictionary `[nAtoms, nFeatures]`.
 * Computed once per dictionary; Batch-OMP never touches the dictionary itself again.
 */
export function gramMatrix(dict: ArrayLike<number>, nAtoms: number, nFeatures: number): Float64Array {
  assert(dict.length === nAtoms * nFeatures, () => `gramMatrix: expected dict of length nAtoms·nFeatures = ${nAtoms * nFeatures}, got ${dict.length}`, ShapeError);
  const g = new Float64Array(nAtoms * nAtoms);
  for (let i = 0; i < nAtoms; i++) {
    const oi = i * nFeatures;
    for (let j = i; j < nAtoms; j++) {
      const oj = j * nFeatures;
      let s = 0;
      for (let f = 0; f < nFeatures; f++) s += dict[oi + f] * dict[oj + f];
      g[i * nAtoms + j] = s;
      g[j * nAtoms + i] = s;
    }
  }
  return g;
}

/**
 * Correlations D·xᵢ for every signal: returns `[n, nAtoms]` (row i = Dxᵢ) in float32.
 * Plain JS reference (the input defender uses one tfjs matMul instead, see `input-defender.ts`).
 * `x` is `[n, nFeatures]` row-major.
 */
export function correlations(dict: ArrayLike<number>, nAtoms: number, nFeatures: number, x: ArrayLike<number>, n: number): Float32Array {
  assert(x.length === n * nFeatures, () => `correlations: expected x of length n·nFeatures = ${n * nFeatures}, got ${x.length}`, ShapeError);
  const out = new Float32Array(n * nAtoms);
  for (let i = 0; i < n; i++) {
    const ox = i * nFeatures;
    const oo = i * nAtoms;
    for (let a = 0; a < nAtoms; a++) {
      const od = a * nFeatures;
      let s = 0;
      for (let f = 0; f < nFeatures; f++) s += dict[od + f] * x[ox + f];
      out[oo + a] = s;
    }
  }
  return out;
}

/**
 * Batch-OMP given the Gram matrix and the initial correlations α⁰ = D·x of every signal.
 *
 * Per signal, iteration n: pick the atom with the largest |αⱼ|, extend the Cholesky factor L of
 * G[I,I] by one row, extend z = L⁻¹·α⁰[I] by one entry, and refresh α = α⁰ − G[:,I]·γ. No residual
 * vector is ever formed, which is what makes the batch version cheap. The refresh is incremental:
 * with C = G[:,I]·L⁻ᵀ (built one column per iteration, c_n = (G[:,iₙ] − Σ_{i<n} L_ni·c_i)/L_nn),
 * G[:,I]·γ = C·z, so α loses z_n·c_n per iteration; the new row of L is row iₙ of C, and the new z
 * entry is α_{iₙ}/L_nn. One Gram row is read per iteration; γ is solved once at the end (Lᵀγ = z).
 * A signal stops early when its correlations vanish (it is already fitted exactly), when the best
 * atom is linearly dependent on the chosen ones, or when the squared residual ‖x‖² − ‖z‖² drops to `tol`.
 *
 * @param gram `[nAtoms, nAtoms]` G = D·Dᵀ (see {@link gramMatrix}).
 * @param dtx `[n, nAtoms]` α⁰ = D·x per signal (see {@link correlations}).
 * @returns codes with `indices`/`coefs` in selection order; coefficients are the least-squares fit
 *   of each signal on its support.
 */
export function ompGram(gram: Float64Array, nAtoms: number, dtx: ArrayLike<number>, opts: OmpOptions): SparseCodes {
  const k = opts.nNonzero;
  assert(Number.isInteger(k) && k >= 1 && k <= Math.min(255, nAtoms), () => `ompGram: expected nNonzero an integer in [1, ${Math.min(255, nAtoms)}], got ${k}`, ArgumentError);
  assert(gram.length === nAtoms * nAtoms, () => `ompGram: expected gram of length ${nAtoms * nAtoms}, got ${gram.length}`, ShapeError);
  assert(dtx.length % nAtoms === 0, () => `ompGram: dtx length ${dtx.length} is not a multiple of nAtoms = ${nAtoms}`, ShapeError);
  const n = dtx.length / nAtoms;
  const useTol = opts.tol !== undefined;
  if (useTol) {
    assert(opts.tol! >= 0, () => `ompGram: expected tol ≥ 0, got ${opts.tol}`, ArgumentError);
    assert(opts.xNorm2 !== undefined && opts.xNorm2.length === n, () => `ompGram: tol needs xNorm2 of length n = ${n}, got ${opts.xNorm2?.length}`, ShapeError);
  }
  const tol = opts.tol ?? 0;
  const indices = new Int32Array(n * k).fill(-1);
  const coefs = new Float32Array(n * k);
  const nnz = new Uint8Array(n);

  // Per signal: α (current correlations), C = G[:, I]·L⁻ᵀ column by column (c_i, `[k, nAtoms]`),
  // L the Cholesky factor of G[I, I], z = L⁻¹·α⁰[I].
  const alpha = new Float64Array(nAtoms);
  const C = new Float64Array(k * nAtoms);
  const L = new Float64Array(k * k); // lower-triangular, row-major
  const sel = new Int32Array(k);
  const z = new Float64Array(k);
  const gamma = new Float64Array(k);

  for (let s = 0; s < n; s++) {
    const off = s * nAtoms;
    // copy α⁰ and find the first atom in the same pass
    let best = 0;
    let bv = -1;
    for (let j = 0; j < nAtoms; j++) {
      const v = dtx[off + j];
      alpha[j] = v;
      const av = Math.abs(v); // not `v < 0 ? -v : v`: a sign branch mispredicts half the time (5× slower here)
      if (av > bv) {
        bv = av;
        best = j;
      }
    }
    // Correlations below this are float32 round-off of an exactly fitted signal.
    const vanish = bv * 1e-6;
    const xNorm2 = useTol ? opts.xNorm2![s] : 0;
    let zz = 0; // ‖z‖² = γᵀ·G[I,I]·γ: the squared norm of the current approximation
    let m = 0;
    if (useTol && xNorm2 <= tol) {
      nnz[s] = 0;
      continue;
    }
    while (m < k) {
      if (!(bv > vanish)) break;
      let dup = false;
      for (let i = 0; i < m; i++) if (sel[i] === best) dup = true;
      if (dup) break;
      // New row of L: w = L⁻¹·G[I, best] is row `best` of C, i.e. w_i = c_i[best]; L_mm = sqrt(G_bb − wᵀw).
      const row = m * k;
      let ww = 0;
      for (let i = 0; i < m; i++) {
        const w = C[i * nAtoms + best];
        L[row + i] = w;
        ww += w * w;
      }
      const d = gram[best * nAtoms + best] - ww;
      if (!(d > 1e-10)) break; // atom (numerically) in the span of the support
      const lmm = Math.sqrt(d);
      L[row + m] = lmm;
      sel[m] = best;
      // z_m = (α⁰_best − Σ_i L_mi·z_i) / L_mm, and α_best already equals the bracket.
      const zm = alpha[best] / lmm;
      z[m] = zm;
      zz += zm * zm;
      m++;
      if (useTol && xNorm2 - zz <= tol) break;
      if (m === k) break; // the last atom needs no new correlations
      // c_m = (G[:, best] − Σ_i w_i·c_i) / L_mm and α ← α − z_m·c_m, with the argmax of |α| fused in.
      // G is read one row per iteration (its column `best` = row `best`); the c_i stay in cache.
      const cm = (m - 1) * nAtoms;
      const gb = best * nAtoms;
      const inv = 1 / lmm;
      bv = -1;
      if (m === 1) {
        for (let j = 0; j < nAtoms; j++) {
          const c = gram[gb + j] * inv;
          C[cm + j] = c;
          const v = alpha[j] - zm * c;
          alpha[j] = v;
          const av = Math.abs(v);
          if (av > bv) {
            bv = av;
            best = j;
          }
        }
      } else if (m === 2) {
        const w0 = L[row];
        for (let j = 0; j < nAtoms; j++) {
          const c = (gram[gb + j] - w0 * C[j]) * inv;
          C[cm + j] = c;
          const v = alpha[j] - zm * c;
          alpha[j] = v;
          const av = Math.abs(v);
          if (av > bv) {
            bv = av;
            best = j;
          }
        }
      } else if (m === 3) {
        const w0 = L[row];
        const w1 = L[row + 1];
        for (let j = 0; j < nAtoms; j++) {
          const c = (gram[gb + j] - w0 * C[j] - w1 * C[nAtoms + j]) * inv;
          C[cm + j] = c;
          const v = alpha[j] - zm * c;
          alpha[j] = v;
          const av = Math.abs(v);
          if (av > bv) {
            bv = av;
            best = j;
          }
        }
      } else {
        for (let j = 0; j < nAtoms; j++) {
          let c = gram[gb + j];
          for (let i = 0; i < m - 1; i++) c -= L[row + i] * C[i * nAtoms + j];
          c *= inv;
          C[cm + j] = c;
          const v = alpha[j] - zm * c;
          alpha[j] = v;
          const av = Math.abs(v);
          if (av > bv) {
            bv = av;
            best = j;
          }
        }
      }
    }
    // back substitution: Lᵀ·γ = z (the least-squares coefficients on the support)
    for (let i = m - 1; i >= 0; i--) {
      let v = z[i];
      for (let j = i + 1; j < m; j++) v -= L[j * k + i] * gamma[j];
      gamma[i] = v / L[i * k + i];
    }
    nnz[s] = m;
    const o = s * k;
    for (let i = 0; i < m; i++) {
      indices[o + i] = sel[i];
      coefs[o + i] = gamma[i];
    }
  }
  return { n, nAtoms, maxNonzero: k, indices, coefs, nnz };
}

/**
 * Rebuilds signals from sparse codes: `[n, nFeatures]` row i = Σ γ·D[atom]. `dict` is atom-major
 * `[nAtoms, nFeatures]`. Writes into `out` when given (must have length n·nFeatures).
 */
export function reconstructSignals(
  dict: ArrayLike<number>,
  nFeatures: number,
  codes: SparseCodes,
  out: Float32Array = new Float32Array(codes.n * nFeatures),
): Float32Array {
  assert(dict.length === codes.nAtoms * nFeatures, () => `reconstructSignals: expected dict of length ${codes.nAtoms * nFeatures}, got ${dict.length}`, ShapeError);
  assert(out.length === codes.n * nFeatures, () => `reconstructSignals: expected out of length ${codes.n * nFeatures}, got ${out.length}`, ShapeError);
  const k = codes.maxNonzero;
  for (let s = 0; s < codes.n; s++) {
    const oo = s * nFeatures;
    for (let f = 0; f < nFeatures; f++) out[oo + f] = 0;
    for (let i = 0; i < codes.nnz[s]; i++) {
      const g = codes.coefs[s * k + i];
      const od = codes.indices[s * k + i] * nFeatures;
      for (let f = 0; f < nFeatures; f++) out[oo + f] += g * dict[od + f];
    }
  }
  return out;
}

/**
 * Convenience: Batch-OMP of `x` `[n, nFeatures]` on an atom-major dictionary, with the correlations
 * computed in plain JS. For large batches prefer computing `D·x` with one tfjs matMul and calling
 * {@link ompGram} (what the input defender does); `gram` may be passed to avoid recomputing it.
 */
export function omp(
  dict: ArrayLike<number>,
  nAtoms: number,
  nFeatures: number,
  x: ArrayLike<number>,
  opts: OmpOptions,
  gram: Float64Array = gramMatrix(dict, nAtoms, nFeatures),
): SparseCodes {
  assert(x.length % nFeatures === 0, () => `omp: x length ${x.length} is not a multiple of nFeatures = ${nFeatures}`, ShapeError);
  const n = x.length / nFeatures;
  return ompGram(gram, nAtoms, correlations(dict, nAtoms, nFeatures, x, n), opts);
}
