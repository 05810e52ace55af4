/**
 * Supervised choice of the fusion's mixing coefficients (the paper's Fig. 10 leaves them open).
 * Unlike the rest of PCL this uses adversarial examples; see {@link selectFusionWeights}.
 */
import { assert } from '../errors.js';
import { fusedScores, type FusionMethod } from '../defense/fusion/combine.js';
import { pValueMatrix, type DefenderScores, type PValueCalibration } from '../defense/fusion/p-values.js';
import { auc, fprAtTpr } from './roc.js';

export interface FusionWeightChoice {
  weights: number[];
  /** False-positive rate at the target detection rate on the validation data (fraction). */
  fpr: number;
  /** AUROC on the validation data. */
  auroc: number;
}

/**
 * Picks mixing coefficients for the fusion by grid search: every weight vector over `grid` (per
 * defender, at least one positive; vectors that are multiples of each other rank alike, so only those
 * whose largest weight is the grid's largest value are tried) is scored on validation data by the FP rate at detection `tpr`
 * (ties → higher AUROC, then the earlier vector). Weight 0 drops a defender, so the result is never
 * worse on the validation data than the best single defender or the unweighted fusion.
 *
 * **This step uses adversarial examples** (`validationAdv`), unlike the rest of PCL: use an attack or a
 * split that is not part of the evaluation, and report it. The paper leaves the choice of mixing
 * coefficients open (PCL-METHOD §7).
 *
 * @param validationClean clean samples (not the calibration data)
 * @param validationAdv adversarial samples for tuning only
 * @param opts.grid candidate weights per defender, default [0, 0.1, 0.25, 0.5, 1]
 * @param opts.tpr detection rate to optimise the FP rate at, default 0.9
 */
export function selectFusionWeights(
  calibrations: readonly PValueCalibration[],
  validationClean: DefenderScores,
  validationAdv: DefenderScores,
  opts: { method?: FusionMethod; grid?: readonly number[]; tpr?: number } = {},
): FusionWeightChoice {
  const method = opts.method ?? 'fisher';
  const grid = [...new Set(opts.grid ?? [0, 0.1, 0.25, 0.5, 1])].sort((a, b) => a - b);
  const tpr = opts.tpr ?? 0.9;
  assert(grid.every((w) => Number.isFinite(w) && w >= 0) && grid.some((w) => w > 0), () => `selectFusionWeights: expected 'grid' of finite weights ≥ 0 with one positive, got [${grid.join(', ')}]`);
  const m = calibrations.length;
  assert(m >= 1 && m <= 6, () => `selectFusionWeights: grid search supports 1 to 6 defenders, got ${m}`);
  assert(Math.pow(grid.length, m) <= 20000, () => `selectFusionWeights: ${grid.length}^${m} weight vectors is too many; pass a smaller 'grid'`);
  const pc = pValueMatrix(calibrations, validationClean);
  const pa = pValueMatrix(calibrations, validationAdv);
  const maxW = grid[grid.length - 1];
  let best: FusionWeightChoice | undefined;
  const w = new Array<number>(m).fill(0);
  const visit = (d: number): void => {
    if (d === m) {
      if (Math.max(...w) !== maxW) return;
      const sc = fusedScores(pc, method, w);
      const sa = fusedScores(pa, method, w);
      const fpr = fprAtTpr(sc, sa, tpr);
      const a = auc(sc, sa);
      if (best === undefined || fpr < best.fpr || (fpr === best.fpr && a > best.auroc)) best = { weights: [...w], fpr, auroc: a };
      return;
    }
    for (const g of grid) {
      w[d] = g;
      visit(d + 1);
    }
  };
  visit(0);
  return best!;
}
