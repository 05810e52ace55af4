/**
 * Checks a challenge submission before anything is scored (pure math on typed arrays).
 */
import { readIdx, type IdxArray } from '../io/idx.js';
import { DataFormatError } from '../errors.js';
import { SubmissionError, type ChallengeBudget } from './manifest.js';

/**
 * Absolute slack allowed on the L2 and L∞ budgets: float32 storage of x′ rounds each pixel by up to
 * 6e-8, so a perturbation scaled exactly to the budget can land a hair above it.
 */
export const BUDGET_SLACK = 1e-5;

/** How many offending rows a refusal names. */
const NAMED_ROWS = 5;

function rowsText(rows: number[]): string {
  const shown = rows.slice(0, NAMED_ROWS).join(', ');
  return rows.length > NAMED_ROWS ? `rows ${shown}, … (${rows.length} rows in all)` : rows.length === 1 ? `row ${shown}` : `rows ${shown}`;
}

/** Per-row perturbation norms of a submission against the clean rows. */
export interface RowNorms {
  l2: Float64Array;
  linf: Float64Array;
}

/** ‖x′ − x‖₂ and ‖x′ − x‖∞ per row of `n` rows of `size` values (accumulated in float64). */
export function rowNorms(adv: ArrayLike<number>, clean: ArrayLike<number>, n: number, size: number): RowNorms {
  const l2 = new Float64Array(n);
  const linf = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    let m = 0;
    for (let j = i * size; j < (i + 1) * size; j++) {
      const d = Math.abs(adv[j] - clean[j]);
      s += d * d;
      if (d > m) m = d;
    }
    l2[i] = Math.sqrt(s);
    linf[i] = m;
  }
  return { l2, linf };
}

/**
 * Validates a decoded submission against the challenge: float32, shape [n, h, w, c] (one row per
 * listed index), every value finite and in [0, 1], every row within the L2 (and L∞) budget up to
 * {@link BUDGET_SLACK}. Throws a `SubmissionError` naming the first offending rows; returns the
 * per-row norms otherwise.
 */
export function validateSubmission(
  sub: IdxArray,
  clean: Float32Array,
  shape: readonly [number, number, number, number],
  budget: ChallengeBudget,
  file = 'submission',
): RowNorms {
  const [n, h, w, c] = shape;
  if (sub.dtype !== 'float32') throw new SubmissionError(`${file}: expected IDX float32 values, got ${sub.dtype}`);
  if (sub.shape.length !== 4 || sub.shape[1] !== h || sub.shape[2] !== w || sub.shape[3] !== c) {
    throw new SubmissionError(`${file}: expected shape [${n},${h},${w},${c}] (one image per challenge row), got [${sub.shape}]`);
  }
  if (sub.shape[0] !== n) throw new SubmissionError(`${file}: expected ${n} rows (one per challenge row, in order), got ${sub.shape[0]}`);
  const size = h * w * c;
  const x = sub.data;
  const nonFinite: number[] = [];
  const outOfRange: number[] = [];
  for (let i = 0; i < n; i++) {
    let bad = false;
    let out = false;
    for (let j = i * size; j < (i + 1) * size; j++) {
      const v = x[j];
      if (!Number.isFinite(v)) bad = true;
      else if (v < 0 || v > 1) out = true;
    }
    if (bad) nonFinite.push(i);
    else if (out) outOfRange.push(i);
  }
  if (nonFinite.length) throw new SubmissionError(`${file}: NaN or infinite values in ${rowsText(nonFinite)}`);
  if (outOfRange.length) throw new SubmissionError(`${file}: values outside [0, 1] in ${rowsText(outOfRange)}`);
  const norms = rowNorms(x, clean, n, size);
  const overL2: number[] = [];
  const overLinf: number[] = [];
  for (let i = 0; i < n; i++) {
    if (norms.l2[i] > budget.l2 + BUDGET_SLACK) overL2.push(i);
    if (budget.linf !== null && norms.linf[i] > budget.linf + BUDGET_SLACK) overLinf.push(i);
  }
  if (overL2.length) {
    throw new SubmissionError(
      `${file}: L2 perturbation over the budget ${budget.l2} in ${rowsText(overL2)} (row ${overL2[0]}: ${norms.l2[overL2[0]].toFixed(6)})`,
    );
  }
  if (overLinf.length) {
    throw new SubmissionError(
      `${file}: L∞ perturbation over the budget ${budget.linf} in ${rowsText(overLinf)} (row ${overLinf[0]}: ${norms.linf[overLinf[0]].toFixed(6)})`,
    );
  }
  return norms;
}

/** Reads a submission file; an unreadable or truncated IDX file becomes a `SubmissionError` naming it. */
export async function readSubmission(file: string): Promise<IdxArray> {
  try {
    return await readIdx(file);
  } catch (e) {
    if (e instanceof DataFormatError || (e as NodeJS.ErrnoException).code) {
      throw new SubmissionError(`submission ${(e as Error).message.startsWith(file) ? '' : `${file}: `}${(e as Error).message}`);
    }
    throw e;
  }
}

/**
 * Projects adversarial rows onto the budget in place: clips each perturbation to ±linf, then
 * scales it down to `l2·(1 − 1e-6)` if longer. x + t·δ stays in [0, 1] for t ∈ [0, 1] (a box is
 * convex), so no re-clipping is needed. Returns the rows that were changed.
 */
export function projectToBudget(adv: Float32Array, clean: Float32Array, n: number, size: number, budget: ChallengeBudget): number[] {
  const changed: number[] = [];
  for (let i = 0; i < n; i++) {
    const o = i * size;
    let touched = false;
    if (budget.linf !== null) {
      const e = budget.linf;
      for (let j = o; j < o + size; j++) {
        const d = adv[j] - clean[j];
        if (d > e) { adv[j] = clean[j] + e; touched = true; }
        else if (d < -e) { adv[j] = clean[j] - e; touched = true; }
      }
    }
    let s = 0;
    for (let j = o; j < o + size; j++) s += (adv[j] - clean[j]) ** 2;
    const l2 = Math.sqrt(s);
    const target = budget.l2 * (1 - 1e-6);
    if (l2 > target) {
      const t = target / l2;
      for (let j = o; j < o + size; j++) adv[j] = clean[j] + t * (adv[j] - clean[j]);
      touched = true;
    }
    if (touched) changed.push(i);
  }
  return changed;
}
