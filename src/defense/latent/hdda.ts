import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { ArgumentError, ShapeError, assert } from '../../errors.js';

/**
 * High-Dimensional Discriminant Analysis (HDDA) class densities, model [a_ij b_i Q_i d_i].
 *
 * Pure math on flat row-major `Float64Array`/`Float32Array` matrices; no tensors, no network.
 * Written from Bouveyron, Girard & Schmid, "High-dimensional discriminant analysis",
 * Communications in Statistics – Theory and Methods 36 (2007), §2–3:
 *
 * For class i with mean μ_i and (maximum-likelihood) covariance Σ_i = Q_i Λ_i Q_iᵀ (eigenvalues
 * λ_1 ≥ … ≥ λ_p), the model keeps the first d_i eigen-directions with their own variances
 * a_ij = λ_j (j ≤ d_i) and one common noise variance b_i for the orthogonal complement,
 * b_i = (tr Σ_i − Σ_{j≤d_i} λ_j) / (p − d_i), the mean of the remaining eigenvalues. Then
 *
 *   −2 log p(x | i) = Σ_{j≤d} (q_jᵀ(x−μ))² / a_j + (‖x−μ‖² − Σ_{j≤d} (q_jᵀ(x−μ))²) / b
 *                     + Σ_{j≤d} log a_j + (p − d) log b + p log 2π.
 *
 * d_i comes from Cattell's scree test (see {@link cattellDimension}) or is fixed.
 *
 * **Floors.** Features on the unit sphere (and ReLU features with dead units) give rank-deficient
 * covariances: trailing eigenvalues are 0 up to rounding, so b_i (or a_ij) can be 0 and the density
 * undefined. Every variance kept in the model is clipped below at
 * `floor = max(eigenFloor · tr(Σ_i)/p, 1e-12)` (default `eigenFloor` = 1e-6, i.e. a millionth of the
 * class's mean eigenvalue). This changes nothing for a well-conditioned class and makes the noise
 * variance of a degenerate class small but positive: points off the class's affine span get very
 * low likelihood, as they should.
 *
 * **Storage.** After fitting, every parameter is rounded to float32 (the precision bundles store),
 * so a saved and reloaded model gives bit-identical log-likelihoods. The arithmetic of
 * {@link hddaLogLik} is float64.
 */
export interface HddaOptions {
  /** Intrinsic dimension: a fixed d (1 ≤ d ≤ p; d = p is a full-covariance Gaussian) or 'auto' (Cattell). Default 'auto'. */
  dims: number | 'auto';
  /** Cattell scree threshold, as a fraction of the largest eigenvalue gap (default 0.2, as in HDclassif). */
  screeThreshold: number;
  /** Relative eigenvalue floor (see the module docs). Default 1e-6. */
  eigenFloor: number;
}

export const HDDA_DEFAULTS: Readonly<HddaOptions> = Object.freeze({ dims: 'auto', screeThreshold: 0.2, eigenFloor: 1e-6 });

/** One fitted class density. Arrays are float32 (see "Storage" above). */
export interface HddaClass {
  /** Feature dimension. */
  p: number;
  /** Intrinsic dimension d (1 ≤ d ≤ p). */
  d: number;
  /** Class mean μ, [p]. */
  mean: Float32Array;
  /** The first d eigenvectors of Σ as rows, [d, p] row-major. */
  basis: Float32Array;
  /** Variances a_j along the basis rows, [d] (descending). */
  a: Float32Array;
  /** Noise variance b on the orthogonal complement (unused when d = p). */
  b: number;
  /** Number of training samples. */
  n: number;
}

/** Validates HDDA options; throws `ArgumentError` naming the offending option. */
export function validateHddaOptions(o: HddaOptions): HddaOptions {
  if (o.dims !== 'auto') {
    assert(Number.isInteger(o.dims) && o.dims >= 1, () => `hdda: 'dims' must be 'auto' or an integer ≥ 1, got ${String(o.dims)}`);
  }
  assert(o.screeThreshold > 0 && o.screeThreshold < 1, () => `hdda: 'screeThreshold' must be in (0, 1), got ${o.screeThreshold}`);
  assert(o.eigenFloor >= 0 && o.eigenFloor < 1, () => `hdda: 'eigenFloor' must be in [0, 1), got ${o.eigenFloor}`);
  return o;
}

/**
 * Cattell's scree test on eigenvalues sorted in descending order: with gaps
 * δ_j = λ_j − λ_{j+1} (j = 1 … p−1), the intrinsic dimension is the largest j whose gap is at
 * least `threshold` × max_k δ_k. Returns a value in [1, p−1] (1 when p < 2 or all gaps vanish).
 * @see Cattell, "The scree test for the number of factors", Multivariate Behav. Res. 1 (1966).
 */
export function cattellDimension(eigenvalues: ArrayLike<number>, threshold = 0.2): number {
  const p = eigenvalues.length;
  if (p < 2) return 1;
  let maxGap = 0;
  for (let j = 0; j < p - 1; j++) maxGap = Math.max(maxGap, eigenvalues[j] - eigenvalues[j + 1]);
  if (!(maxGap > 0)) return 1;
  let d = 1;
  for (let j = 0; j < p - 1; j++) if (eigenvalues[j] - eigenvalues[j + 1] >= threshold * maxGap) d = j + 1;
  return d;
}

/** Mean [p] and ML covariance [p×p] (divided by n) of the rows `idx` of `x` ([*, p] row-major), in float64. */
export function meanAndCovariance(
  x: ArrayLike<number>,
  p: number,
  idx: ArrayLike<number>,
): { mean: Float64Array; cov: Float64Array } {
  const n = idx.length;
  const mean = new Float64Array(p);
  for (let s = 0; s < n; s++) {
    const o = idx[s] * p;
    for (let j = 0; j < p; j++) mean[j] += x[o + j];
  }
  for (let j = 0; j < p; j++) mean[j] /= n;
  const cov = new Float64Array(p * p);
  const r = new Float64Array(p);
  for (let s = 0; s < n; s++) {
    const o = idx[s] * p;
    for (let j = 0; j < p; j++) r[j] = x[o + j] - mean[j];
    for (let j = 0; j < p; j++) {
      const rj = r[j];
      if (rj === 0) continue;
      const row = j * p;
      for (let k = j; k < p; k++) cov[row + k] += rj * r[k];
    }
  }
  for (let j = 0; j < p; j++) {
    for (let k = j; k < p; k++) {
      const v = cov[j * p + k] / n;
      cov[j * p + k] = v;
      cov[k * p + j] = v;
    }
  }
  return { mean, cov };
}

/** Eigen-decomposition of a symmetric p×p matrix: eigenvalues descending, eigenvectors as rows [p, p]. */
export function symmetricEigen(cov: Float64Array, p: number): { values: Float64Array; vectors: Float64Array } {
  const m = new Matrix(p, p);
  for (let j = 0; j < p; j++) for (let k = 0; k < p; k++) m.set(j, k, cov[j * p + k]);
  const evd = new EigenvalueDecomposition(m, { assumeSymmetric: true });
  const vals = evd.realEigenvalues;
  const vecs = evd.eigenvectorMatrix;
  const order = Array.from({ length: p }, (_, i) => i).sort((u, v) => vals[v] - vals[u]);
  const values = new Float64Array(p);
  const vectors = new Float64Array(p * p);
  order.forEach((src, dst) => {
    values[dst] = vals[src];
    for (let k = 0; k < p; k++) vectors[dst * p + k] = vecs.get(k, src);
  });
  return { values, vectors };
}

/**
 * Fits one HDDA class density on the rows `idx` of `x` ([*, p] row-major).
 * Needs at least 2 samples. See the module docs for the model and the floors.
 */
export function fitHddaClass(
  x: ArrayLike<number>,
  p: number,
  idx: ArrayLike<number>,
  options: Partial<HddaOptions> = {},
): HddaClass {
  const o = validateHddaOptions({ ...HDDA_DEFAULTS, ...options });
  const n = idx.length;
  assert(n >= 2, () => `fitHddaClass: need at least 2 samples, got ${n}`, ShapeError);
  if (o.dims !== 'auto') {
    const dims = o.dims;
    assert(dims <= p, () => `fitHddaClass: 'dims' = ${dims} exceeds the feature dimension p = ${p}`);
  }
  const { mean, cov } = meanAndCovariance(x, p, idx);
  const { values, vectors } = symmetricEigen(cov, p);
  let trace = 0;
  for (let j = 0; j < p; j++) trace += cov[j * p + j];
  const floor = Math.max(o.eigenFloor * (trace / p), 1e-12);
  const d = o.dims === 'auto' ? cattellDimension(values, o.screeThreshold) : o.dims;
  const a = new Float32Array(d);
  let kept = 0;
  for (let j = 0; j < d; j++) {
    kept += values[j];
    a[j] = Math.max(values[j], floor);
  }
  const b = d < p ? Math.fround(Math.max((trace - kept) / (p - d), floor)) : Math.fround(floor);
  return {
    p,
    d,
    n,
    mean: Float32Array.from(mean),
    basis: Float32Array.from(vectors.subarray(0, d * p)),
    a,
    b,
  };
}

/**
 * Fits one HDDA density per class 0 … numClasses−1 on `x` ([n, p] row-major) with integer
 * labels `labels` ([n]). Every class needs ≥ 2 samples (throws `ShapeError` naming the class).
 */
export function fitHdda(
  x: ArrayLike<number>,
  p: number,
  labels: ArrayLike<number>,
  numClasses: number,
  options: Partial<HddaOptions> = {},
): HddaClass[] {
  const n = labels.length;
  assert(x.length === n * p, () => `fitHdda: x has ${x.length} values, expected n·p = ${n}·${p}`, ShapeError);
  const idx: number[][] = Array.from({ length: numClasses }, () => []);
  for (let s = 0; s < n; s++) {
    const k = labels[s];
    assert(Number.isInteger(k) && k >= 0 && k < numClasses, () => `fitHdda: label ${k} at row ${s} is outside [0, ${numClasses})`);
    idx[k].push(s);
  }
  return idx.map((rows, k) => {
    assert(rows.length >= 2, () => `fitHdda: class ${k} has ${rows.length} training samples; HDDA needs at least 2`, ShapeError);
    return fitHddaClass(x, p, rows, options);
  });
}

const LOG_2PI = Math.log(2 * Math.PI);

/** Constant part of −2 log p: Σ log a_j + (p − d) log b + p log 2π. */
function logNormaliser(m: HddaClass): number {
  let s = m.p * LOG_2PI + (m.p - m.d) * Math.log(m.b);
  for (let j = 0; j < m.d; j++) s += Math.log(m.a[j]);
  return s;
}

/** Gaussian log-density log p(x | class) of the row at `offset` of `x` under the HDDA class `m`. */
export function hddaLogLik(m: HddaClass, x: ArrayLike<number>, offset = 0, norm = logNormaliser(m)): number {
  const { p, d, mean, basis, a, b } = m;
  const r = new Float64Array(p);
  let q = 0;
  for (let k = 0; k < p; k++) {
    const v = x[offset + k] - mean[k];
    r[k] = v;
    q += v * v;
  }
  let inSub = 0;
  let maha = 0;
  for (let j = 0; j < d; j++) {
    let t = 0;
    const row = j * p;
    for (let k = 0; k < p; k++) t += basis[row + k] * r[k];
    inSub += t * t;
    maha += (t * t) / a[j];
  }
  // the float32 basis is orthonormal only to ~1e-7: the residual can come out a hair below 0
  if (d < p) maha += Math.max(q - inSub, 0) / b;
  return -0.5 * (maha + norm);
}

/**
 * Log-likelihoods of the rows of `x` ([n, p] row-major), row s under class `classOf[s]`.
 * Returns float64 [n].
 */
export function hddaLogLikBatch(model: readonly HddaClass[], x: ArrayLike<number>, classOf: ArrayLike<number>): Float64Array {
  assert(model.length > 0, () => 'hddaLogLikBatch: empty model');
  const p = model[0].p;
  const n = classOf.length;
  assert(x.length === n * p, () => `hddaLogLikBatch: x has ${x.length} values, expected n·p = ${n}·${p}`, ShapeError);
  const norms = model.map(logNormaliser);
  const out = new Float64Array(n);
  for (let s = 0; s < n; s++) {
    const k = classOf[s];
    if (!(k >= 0 && k < model.length)) {
      throw new ArgumentError(`hddaLogLikBatch: class ${k} of row ${s} is outside [0, ${model.length})`);
    }
    out[s] = hddaLogLik(model[k], x, s * p, norms[k]);
  }
  return out;
}

/**
 * Log-likelihoods of every row of `x` ([n, p] row-major) under every class of `model`.
 * Returns float64 [n, K] row-major (row s, class k at `s·K + k`).
 */
export function hddaLogLikAll(model: readonly HddaClass[], x: ArrayLike<number>): Float64Array {
  assert(model.length > 0, () => 'hddaLogLikAll: empty model');
  const p = model[0].p;
  const k = model.length;
  assert(x.length % p === 0, () => `hddaLogLikAll: x has ${x.length} values, not a multiple of p = ${p}`, ShapeError);
  const n = x.length / p;
  const norms = model.map(logNormaliser);
  const out = new Float64Array(n * k);
  for (let s = 0; s < n; s++) for (let c = 0; c < k; c++) out[s * k + c] = hddaLogLik(model[c], x, s * p, norms[c]);
  return out;
}
