/**
 * Online dictionary learning (pure math on typed arrays; no tensors, so it runs unchanged in a
 * worker thread).
 *
 * Solves  min_D Σᵢ ½‖xᵢ − D vᵢ‖² + β‖vᵢ‖₁  s.t. ‖d_k‖ ≤ 1  by the mini-batch online algorithm of
 * Mairal, Bach, Ponce & Sapiro, the one behind scikit-learn's `MiniBatchDictionaryLearning`:
 * 1. sparse-code a mini-batch on the current dictionary (the Lasso with penalty β, by LARS in Gram
 *    form — or coordinate descent, or, as a documented faster option, OMP with a fixed sparsity);
 * 2. fold the batch into the sufficient statistics A ← ρA + Σ vvᵀ/b, B ← ρB + Σ v xᵀ/b, with
 *    scikit-learn's forgetting factor ρ (so early, poor codes are gradually forgotten);
 * 3. one pass of block-coordinate descent over the atoms:
 *    d_k ← d_k + (B_k − Σⱼ A_kj d_j)/A_kk, then projection onto the unit ball;
 *    an atom with A_kk ≤ 1e-6 (practically unused) is re-seeded with a random sample of the
 *    batch plus 1 % noise.
 * Atoms start as distinct random non-zero training samples (Mairal et al. 2010, §3.4 — scikit-learn
 * starts from an SVD instead). At the end every atom is rescaled to exactly unit norm, the
 * constraint PCL states (‖D_k‖ = 1) and what OMP assumes. Everything random comes from one
 * seeded {@link Rng}, so a fit is deterministic.
 *
 * Dictionaries are atom-major `[nAtoms, nFeatures]` (see `omp.ts`).
 *
 * @see J. Mairal, F. Bach, J. Ponce, G. Sapiro, "Online Learning for Matrix Factorization and
 *   Sparse Coding", JMLR 11 (2010) 19–60 (Algorithms 1 and 2).
 */
import { ArgumentError, ShapeError, assert } from '../../errors.js';
import { Rng } from '../../util/rng.js';
import { lassoLarsGram, larsWorkspace } from './lars.js';
import { gramMatrix, ompGram } from './omp.js';

/** Hyperparameters of {@link learnDictionary}. */
export interface DictionaryLearningParams {
  /** Number of atoms k_max (default 225, the paper's). */
  nAtoms: number;
  /** Lasso penalty β in ½‖x − Dv‖² + β‖v‖₁ (scikit-learn's `alpha`; default 0.1). */
  alpha: number;
  /** Samples per mini-batch (default 256, scikit-learn's). */
  batchSize: number;
  /** Passes over the data (default 1). */
  epochs: number;
  /**
   * How mini-batches are coded (scikit-learn's `fit_algorithm`): `'lars'` (the Lasso solved exactly
   * by LARS in Gram form, the paper's choice; default), `'cd'` (the same Lasso by coordinate
   * descent: slower on coherent dictionaries, kept as a cross-check) or `'omp'` (OMP with
   * `ompNonzero` atoms instead of the Lasso: the fastest, a documented approximation of the
   * paper's objective, as in K-SVD-style learners).
   */
  codes: 'lars' | 'cd' | 'omp';
  /** Sparsity of the OMP codes when `codes = 'omp'` (default 5). */
  ompNonzero: number;
  /** Coordinate-descent sweeps per sample at most (default 100). */
  maxCdIter: number;
  /** Coordinate descent stops when no coefficient moves more than this (default 1e-4). */
  cdTol: number;
  /** Seed of every random choice (default 0). */
  seed: number;
}

export const DICTIONARY_LEARNING_DEFAULTS: Readonly<DictionaryLearningParams> = Object.freeze({
  nAtoms: 225,
  alpha: 0.1,
  batchSize: 256,
  epochs: 1,
  codes: 'lars',
  ompNonzero: 5,
  maxCdIter: 100,
  cdTol: 1e-4,
  seed: 0,
});

/** A learned dictionary. */
export interface LearnedDictionary {
  /** `[nAtoms, nFeatures]` atom-major, every row of unit norm. */
  dictionary: Float32Array;
  nAtoms: number;
  nFeatures: number;
  /** Mini-batch steps taken. */
  steps: number;
  /** How many times an unused atom was re-seeded. */
  reseeded: number;
  /** Mean per-sample objective ½‖x − Dv‖² + β‖v‖₁ of the last epoch's batches (before each update). */
  lastEpochCost: number;
}

/** Validates and completes dictionary-learning hyperparameters (fails fast, naming the field). */
export function validateDictionaryParams(p: Partial<DictionaryLearningParams>): DictionaryLearningParams {
  const q = { ...DICTIONARY_LEARNING_DEFAULTS, ...p };
  const int = (name: keyof DictionaryLearningParams, lo: number) =>
    assert(Number.isInteger(q[name]) && (q[name] as number) >= lo, () => `dictionary learning: expected ${name} an integer ≥ ${lo}, got ${q[name]}`, ArgumentError);
  int('nAtoms', 1);
  int('batchSize', 1);
  int('epochs', 1);
  int('ompNonzero', 1);
  int('maxCdIter', 1);
  assert(q.alpha >= 0 && Number.isFinite(q.alpha), () => `dictionary learning: expected alpha ≥ 0, got ${q.alpha}`, ArgumentError);
  assert(q.cdTol > 0, () => `dictionary learning: expected cdTol > 0, got ${q.cdTol}`, ArgumentError);
  assert(q.codes === 'lars' || q.codes === 'cd' || q.codes === 'omp', () => `dictionary learning: expected codes 'lars', 'cd' or 'omp', got '${q.codes}'`, ArgumentError);
  assert(q.ompNonzero <= q.nAtoms, () => `dictionary learning: ompNonzero ${q.ompNonzero} exceeds nAtoms ${q.nAtoms}`, ArgumentError);
  return q;
}

/**
 * Lasso by cyclic coordinate descent in Gram form for one sample:
 * min_v ½vᵀGv − cᵀv + λ‖v‖₁ (equivalent to ½‖x − Dᵀv‖² + λ‖v‖₁ with c = Dx, G = DDᵀ).
 * Keeps corr = c − Gv up to date, so a coordinate step costs O(1) when it does not move and
 * O(nAtoms) when it does. Alternates full sweeps with sweeps over the active set (Friedman et al.
 * 2010). Writes the solution into `v` (length nAtoms). Exported for tests.
 */
export function lassoCdGram(
  gram: Float64Array,
  nAtoms: number,
  c: ArrayLike<number>,
  lambda: number,
  v: Float64Array,
  maxIter: number,
  tol: number,
  scratch: { corr: Float64Array; active: Int32Array } = { corr: new Float64Array(nAtoms), active: new Int32Array(nAtoms) },
): void {
  const { corr, active } = scratch;
  v.fill(0);
  for (let j = 0; j < nAtoms; j++) corr[j] = c[j];
  let iter = 0;
  const step = (j: number): number => {
    const gjj = gram[j * nAtoms + j];
    const old = v[j];
    const rho = corr[j] + gjj * old;
    const nv = rho > lambda ? (rho - lambda) / gjj : rho < -lambda ? (rho + lambda) / gjj : 0;
    const d = nv - old;
    if (d !== 0) {
      v[j] = nv;
      const o = j * nAtoms;
      for (let i = 0; i < nAtoms; i++) corr[i] -= d * gram[o + i];
    }
    return Math.abs(d);
  };
  while (iter < maxIter) {
    let maxD = 0;
    for (let j = 0; j < nAtoms; j++) {
      const d = step(j);
      if (d > maxD) maxD = d;
    }
    iter++;
    if (maxD < tol) break;
    let nAct = 0;
    for (let j = 0; j < nAtoms; j++) if (v[j] !== 0) active[nAct++] = j;
    while (iter < maxIter) {
      let m = 0;
      for (let a = 0; a < nAct; a++) {
        const d = step(active[a]);
        if (d > m) m = d;
      }
      iter++;
      if (m < tol) break;
    }
  }
}

/**
 * Learns a dictionary from `patches` `[n, nFeatures]` (row-major, typically centred patches).
 * Deterministic for a given `params.seed`. `onStep(done, total)` is called after every mini-batch.
 * @returns the dictionary `[nAtoms, nFeatures]` with unit-norm atoms, plus fit statistics.
 */
export function learnDictionary(
  patches: ArrayLike<number>,
  nFeatures: number,
  params: Partial<DictionaryLearningParams> = {},
  onStep?: (done: number, total: number) => void,
): LearnedDictionary {
  const P = validateDictionaryParams(params);
  assert(Number.isInteger(nFeatures) && nFeatures >= 1, () => `learnDictionary: expected nFeatures ≥ 1, got ${nFeatures}`, ArgumentError);
  assert(patches.length % nFeatures === 0, () => `learnDictionary: patches length ${patches.length} is not a multiple of nFeatures = ${nFeatures}`, ShapeError);
  const n = patches.length / nFeatures;
  assert(n >= 1, () => 'learnDictionary: no training patches', ShapeError);
  const K = P.nAtoms;
  const d = nFeatures;
  const rng = new Rng(P.seed);

  const D = initDictionary(patches, n, d, K, rng);
  const A = new Float64Array(K * K);
  const B = new Float64Array(K * d); // row k = Σ v_k x
  const bs = Math.min(P.batchSize, n);
  const batchesPerEpoch = Math.ceil(n / bs);
  const total = batchesPerEpoch * P.epochs;

  const X = new Float64Array(bs * d);
  const C = new Float64Array(bs * K); // correlations D·x, then reused for dense codes
  const v = new Float64Array(K);
  const scratch = { corr: new Float64Array(K), active: new Int32Array(K) };
  const lars = larsWorkspace(K, Math.min(K, d));
  const nzIdx = new Int32Array(K);
  const nzVal = new Float64Array(K);
  const acc = new Float64Array(d);
  let reseeded = 0;
  let step = 0;
  let epochCost = 0;

  for (let ep = 0; ep < P.epochs; ep++) {
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    rng.shuffle(order);
    epochCost = 0;
    for (let b0 = 0; b0 < n; b0 += bs) {
      const m = Math.min(bs, n - b0);
      for (let s = 0; s < m; s++) {
        const src = order[b0 + s] * d;
        for (let f = 0; f < d; f++) X[s * d + f] = patches[src + f];
      }
      const G = gramMatrix(D, K, d);
      // correlations C[s, k] = d_k · x_s
      for (let s = 0; s < m; s++) {
        const ox = s * d;
        for (let k = 0; k < K; k++) {
          const od = k * d;
          let t = 0;
          for (let f = 0; f < d; f++) t += D[od + f] * X[ox + f];
          C[s * K + k] = t;
        }
      }
      // forgetting factor (scikit-learn's _update_inner_stats)
      const theta = step < bs - 1 ? (step + 1) * bs : bs * bs + step + 1 - bs;
      const rho = (theta + 1 - bs) / (theta + 1);
      for (let i = 0; i < K * K; i++) A[i] *= rho;
      for (let i = 0; i < K * d; i++) B[i] *= rho;
      const ompCodes = P.codes === 'omp' ? ompGram(G, K, C.subarray(0, m * K), { nNonzero: P.ompNonzero }) : undefined;
      const invB = 1 / m;
      for (let s = 0; s < m; s++) {
        let nnz = 0;
        if (ompCodes) {
          const k0 = s * ompCodes.maxNonzero;
          for (let i = 0; i < ompCodes.nnz[s]; i++) {
            nzIdx[nnz] = ompCodes.indices[k0 + i];
            nzVal[nnz++] = ompCodes.coefs[k0 + i];
          }
        } else {
          const cs = C.subarray(s * K, (s + 1) * K);
          if (P.codes === 'lars') lassoLarsGram(G, K, cs, P.alpha, v, lars);
          else lassoCdGram(G, K, cs, P.alpha, v, P.maxCdIter, P.cdTol, scratch);
          for (let k = 0; k < K; k++) if (v[k] !== 0) { nzIdx[nnz] = k; nzVal[nnz++] = v[k]; }
        }
        // objective of this sample before the update (for monitoring)
        const ox = s * d;
        acc.fill(0);
        let l1 = 0;
        for (let i = 0; i < nnz; i++) {
          const od = nzIdx[i] * d;
          const g = nzVal[i];
          l1 += Math.abs(g);
          for (let f = 0; f < d; f++) acc[f] += g * D[od + f];
        }
        let r2 = 0;
        for (let f = 0; f < d; f++) r2 += (X[ox + f] - acc[f]) ** 2;
        epochCost += 0.5 * r2 + P.alpha * l1;
        // A += v vᵀ / m, B += v xᵀ / m
        for (let i = 0; i < nnz; i++) {
          const gi = nzVal[i] * invB;
          const oa = nzIdx[i] * K;
          for (let j = 0; j < nnz; j++) A[oa + nzIdx[j]] += gi * nzVal[j];
          const ob = nzIdx[i] * d;
          for (let f = 0; f < d; f++) B[ob + f] += gi * X[ox + f];
        }
      }
      reseeded += updateAtoms(D, A, B, K, d, X, m, rng, acc);
      step++;
      onStep?.(step, total);
    }
  }
  const out = new Float32Array(K * d);
  for (let k = 0; k < K; k++) {
    let s = 0;
    for (let f = 0; f < d; f++) s += D[k * d + f] ** 2;
    const nrm = Math.sqrt(s);
    if (nrm > 0) for (let f = 0; f < d; f++) out[k * d + f] = D[k * d + f] / nrm;
    else out[k * d + (k % d)] = 1; // cannot happen after a re-seed; keeps the contract if it does
  }
  return { dictionary: out, nAtoms: K, nFeatures: d, steps: step, reseeded, lastEpochCost: epochCost / n };
}

/** Distinct random non-zero samples as initial atoms (unit norm); Gaussian atoms if too few exist. */
function initDictionary(patches: ArrayLike<number>, n: number, d: number, K: number, rng: Rng): Float64Array {
  const D = new Float64Array(K * d);
  const order = rng.sample(n, n);
  let k = 0;
  const seen = new Set<string>();
  for (let t = 0; t < n && k < K; t++) {
    const o = order[t] * d;
    let s = 0;
    for (let f = 0; f < d; f++) s += patches[o + f] ** 2;
    if (!(s > 1e-10)) continue;
    // the same patch twice (e.g. identical strokes) would start two identical atoms
    const key = Array.from({ length: d }, (_, f) => Math.round(patches[o + f] * 1e4)).join(',');
    if (seen.has(key)) continue;
    seen.add(key);
    const inv = 1 / Math.sqrt(s);
    for (let f = 0; f < d; f++) D[k * d + f] = patches[o + f] * inv;
    k++;
  }
  for (; k < K; k++) {
    let s = 0;
    for (let f = 0; f < d; f++) {
      const g = rng.normal();
      D[k * d + f] = g;
      s += g * g;
    }
    const inv = 1 / Math.sqrt(s);
    for (let f = 0; f < d; f++) D[k * d + f] *= inv;
  }
  return D;
}

/**
 * One block-coordinate pass over the atoms (scikit-learn's `_update_dict`), in place.
 * Returns the number of re-seeded atoms. `tmp` is scratch of length d.
 */
function updateAtoms(
  D: Float64Array,
  A: Float64Array,
  B: Float64Array,
  K: number,
  d: number,
  X: Float64Array,
  m: number,
  rng: Rng,
  tmp: Float64Array,
): number {
  let reseeded = 0;
  for (let k = 0; k < K; k++) {
    const akk = A[k * K + k];
    const od = k * d;
    if (akk > 1e-6) {
      // tmp = B_k − Σⱼ A_kj d_j
      for (let f = 0; f < d; f++) tmp[f] = B[od + f];
      const oa = k * K;
      for (let j = 0; j < K; j++) {
        const a = A[oa + j];
        if (a === 0) continue;
        const oj = j * d;
        for (let f = 0; f < d; f++) tmp[f] -= a * D[oj + f];
      }
      const inv = 1 / akk;
      for (let f = 0; f < d; f++) D[od + f] += tmp[f] * inv;
    } else {
      const src = rng.int(m) * d;
      let mean = 0;
      for (let f = 0; f < d; f++) mean += X[src + f];
      mean /= d;
      let sd = 0;
      for (let f = 0; f < d; f++) sd += (X[src + f] - mean) ** 2;
      sd = Math.sqrt(sd / d);
      const noise = 0.01 * (sd > 0 ? sd : 1); // noise keeps the coding well conditioned
      for (let f = 0; f < d; f++) D[od + f] = X[src + f] + noise * rng.normal();
      reseeded++;
    }
    let s = 0;
    for (let f = 0; f < d; f++) s += D[od + f] ** 2;
    const nrm = Math.sqrt(s);
    if (nrm > 1) for (let f = 0; f < d; f++) D[od + f] /= nrm;
  }
  return reseeded;
}
