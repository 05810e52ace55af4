/**
 * Lasso by Least Angle Regression (LARS with the Lasso modification) in Gram form, for one signal
 * at a time (pure math on typed arrays).
 *
 * Solves  min_v ½‖x − Dᵀv‖² + λ‖v‖₁  given only G = D·Dᵀ and c = D·x (D atom-major
 * `[nAtoms, nFeatures]`), following the piecewise-linear regularisation path from λ_max = ‖c‖∞
 * down to λ: atoms join when their correlation reaches the current level, leave when their
 * coefficient crosses zero (the Lasso modification), and the path stops exactly at λ. The Cholesky
 * factor of G[A,A] grows by one row per join (as in Batch-OMP) and is rebuilt after a drop (rare).
 *
 * @see B. Efron, T. Hastie, I. Johnstone, R. Tibshirani, "Least Angle Regression", Annals of
 *   Statistics 32(2) (2004) 407–499, §3.1 (Lasso modification); scikit-learn `lars_path_gram`.
 */

/** Reusable scratch space for {@link lassoLarsGram} (one per thread). */
export interface LarsWorkspace {
  readonly nAtoms: number;
  readonly maxActive: number;
  corr: Float64Array;
  a: Float64Array;
  active: Int32Array;
  sign: Float64Array;
  beta: Float64Array;
  w: Float64Array;
  L: Float64Array;
  tmp: Float64Array;
  inActive: Uint8Array;
}

/** Allocates scratch for signals coded on `nAtoms` atoms with at most `maxActive` active at once. */
export function larsWorkspace(nAtoms: number, maxActive: number): LarsWorkspace {
  const m = Math.max(1, Math.min(nAtoms, maxActive));
  return {
    nAtoms,
    maxActive: m,
    corr: new Float64Array(nAtoms),
    a: new Float64Array(nAtoms),
    active: new Int32Array(m),
    sign: new Float64Array(m),
    beta: new Float64Array(m),
    w: new Float64Array(m),
    L: new Float64Array(m * m),
    tmp: new Float64Array(m),
    inActive: new Uint8Array(nAtoms),
  };
}

/** Rebuilds the Cholesky factor of G[A,A] (row-major, stride ws.maxActive) for the first nA actives. */
function refactor(gram: Float64Array, K: number, ws: LarsWorkspace, nA: number): boolean {
  const { L, active } = ws;
  const st = ws.maxActive;
  for (let i = 0; i < nA; i++) {
    for (let j = 0; j <= i; j++) {
      let s = gram[active[i] * K + active[j]];
      for (let q = 0; q < j; q++) s -= L[i * st + q] * L[j * st + q];
      if (i === j) {
        if (!(s > 1e-12)) return false;
        L[i * st + i] = Math.sqrt(s);
      } else {
        L[i * st + j] = s / L[j * st + j];
      }
    }
  }
  return true;
}

/**
 * Solves the Lasso for one signal by LARS. `c` = D·x (length nAtoms), `gram` = D·Dᵀ.
 * Writes the solution into `v` (length nAtoms, zero outside the support) and returns the number of
 * non-zero coefficients. At most `ws.maxActive` atoms are active at once (use nFeatures: beyond it
 * G[A,A] is singular); `maxSteps` bounds the path length (joins + drops).
 */
export function lassoLarsGram(
  gram: Float64Array,
  nAtoms: number,
  c: ArrayLike<number>,
  lambda: number,
  v: Float64Array,
  ws: LarsWorkspace,
  maxSteps = 4 * ws.maxActive + 10,
): number {
  const K = nAtoms;
  const { corr, a, active, sign, beta, w, L, tmp, inActive } = ws;
  const st = ws.maxActive;
  v.fill(0);
  let best = -1;
  let C = 0;
  for (let j = 0; j < K; j++) {
    const cj = c[j];
    corr[j] = cj;
    const ab = Math.abs(cj); // branch-free: a sign branch mispredicts on random signs
    if (ab > C) {
      C = ab;
      best = j;
    }
  }
  if (!(C > lambda)) return 0;
  inActive.fill(0);
  let nA = 1;
  active[0] = best;
  sign[0] = corr[best] > 0 ? 1 : -1;
  beta[0] = 0;
  inActive[best] = 1;
  L[0] = Math.sqrt(gram[best * K + best]);
  for (let stepNo = 0; stepNo < maxSteps; stepNo++) {
    // w = G[A,A]⁻¹ s_A  (forward then back substitution)
    for (let i = 0; i < nA; i++) {
      let s = sign[i];
      for (let q = 0; q < i; q++) s -= L[i * st + q] * tmp[q];
      tmp[i] = s / L[i * st + i];
    }
    for (let i = nA - 1; i >= 0; i--) {
      let s = tmp[i];
      for (let q = i + 1; q < nA; q++) s -= L[q * st + i] * w[q];
      w[i] = s / L[i * st + i];
    }
    // a = G[:,A]·w: how fast each correlation falls per unit step (a_j = s_j on the active set)
    a.fill(0);
    for (let i = 0; i < nA; i++) {
      const wi = w[i];
      const o = active[i] * K;
      for (let j = 0; j < K; j++) a[j] += wi * gram[o + j];
    }
    let gamma = C - lambda;
    let event = 0; // 0: reached λ, 1: join, 2: drop
    let who = -1;
    if (nA < st) {
      for (let j = 0; j < K; j++) {
        if (inActive[j]) continue;
        const cj = corr[j];
        const aj = a[j];
        // correlation c_j − γa_j meets the level C − γ from above or below
        if (aj < 1 - 1e-12) {
          const g = (C - cj) / (1 - aj);
          if (g > 1e-15 && g < gamma) {
            gamma = g;
            event = 1;
            who = j;
          }
        }
        if (aj > -1 + 1e-12) {
          const g = (C + cj) / (1 + aj);
          if (g > 1e-15 && g < gamma) {
            gamma = g;
            event = 1;
            who = j;
          }
        }
      }
    }
    for (let i = 0; i < nA; i++) {
      // Lasso modification: a coefficient may not change sign
      const g = -beta[i] / w[i];
      if (g > 1e-15 && g < gamma) {
        gamma = g;
        event = 2;
        who = i;
      }
    }
    for (let i = 0; i < nA; i++) beta[i] += gamma * w[i];
    for (let j = 0; j < K; j++) corr[j] -= gamma * a[j];
    C -= gamma;
    if (event === 0) break;
    if (event === 2) {
      inActive[active[who]] = 0;
      for (let i = who; i < nA - 1; i++) {
        active[i] = active[i + 1];
        sign[i] = sign[i + 1];
        beta[i] = beta[i + 1];
      }
      nA--;
      if (nA === 0 || !refactor(gram, K, ws, nA)) break;
      continue;
    }
    // join: extend the Cholesky factor by one row
    const gb = who * K;
    const row = nA * st;
    let ww = 0;
    for (let i = 0; i < nA; i++) {
      let s = gram[gb + active[i]];
      for (let q = 0; q < i; q++) s -= L[i * st + q] * L[row + q];
      s /= L[i * st + i];
      L[row + i] = s;
      ww += s * s;
    }
    const dg = gram[gb + who] - ww;
    if (!(dg > 1e-10)) break; // the atom is in the span of the active ones: stop at this point of the path
    L[row + nA] = Math.sqrt(dg);
    active[nA] = who;
    sign[nA] = corr[who] > 0 ? 1 : -1;
    beta[nA] = 0;
    inActive[who] = 1;
    nA++;
  }
  let nnz = 0;
  for (let i = 0; i < nA; i++) {
    if (beta[i] !== 0) {
      v[active[i]] = beta[i];
      nnz++;
    }
  }
  return nnz;
}
