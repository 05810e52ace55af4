/**
 * Calibrated fusion: combine the defenders' p-values into one statistic, then choose the threshold on
 * the statistic of a *held-out* clean set, so that the combined false-alarm rate equals the target SP
 * by construction, whatever the dependence between defenders. The held-out set must be disjoint from
 * the data the defenders were fitted and calibrated on. This is the decision model a detector uses at
 * inference; it is plain data (JSON-able after `Array.from` of the typed arrays).
 */
import { ArgumentError, ShapeError, assert } from '../../errors.js';
import { fusedScores, fusedScoresFromEvidence, type FusionMethod } from './combine.js';
import { negLogPValueMatrix, negLogTailEvidence, pValueMatrix, tailScale, toF32, type DefenderScores, type PValueCalibration } from './p-values.js';

/**
 * A fitted calibrated fusion: plain data (JSON-serialisable after `Array.from` of the typed arrays).
 * Decision: adversarial iff the fused score > {@link calibratedFusionThreshold}(model, sp).
 */
export interface CalibratedFusionModel {
  method: FusionMethod;
  /** Per defender, the clean calibration scores the p-values are taken against. */
  calibrations: PValueCalibration[];
  /** Fused scores of the held-out clean set, ascending; the SP quantiles of these are the thresholds. */
  heldoutSorted: Float64Array;
  /** Mixing coefficients, one per defender (see {@link fusedScores}); undefined = unweighted. */
  weights?: number[];
  /** p-values with the exponential tail past the largest calibration score ({@link negLogPValueMatrix}); what `PCLDetector` uses. */
  tail?: boolean;
  /**
   * Second calibration stage ({@link recalibrateEvidence}): per defender, the held-out clean samples'
   * evidence (−ln tail p-value against the calibration scores), ascending. Each defender's evidence is
   * re-expressed as a p-value against these before the combination. Undefined = one stage (bundles
   * before this option).
   */
  heldoutEvidence?: Float64Array[];
}

/**
 * Re-expresses evidence values `e` (−ln p, as {@link negLogPValueMatrix} gives) as −ln of a p-value
 * against `ref`, the same defender's evidence on held-out clean samples (ascending): empirical,
 * (#{ref ≥ v} + 1)/(n + 1), up to the largest reference, then the exponential tail of
 * {@link tailScale} past it, in the log domain.
 *
 * Why: a defender's first-stage p-values are taken against its *own training* scores (in-sample). For
 * a latent defender those are tighter than its scores on unseen clean images, so a few clean held-out
 * images get evidence of 15–35 (p ≈ 1e-7…1e-15) — and they, not the attacks, set the fused threshold at a
 * small SP; an input that only one other defender finds absurd (random noise: input evidence ≈ 12) then
 * stays below it. Against held-out references every defender speaks in the same out-of-sample units:
 * clean evidence is ≤ ln(n + 1) except past the held-out maximum.
 */
export function recalibrateEvidence(e: Float64Array, ref: Float64Array): Float64Array {
  if (ref.length === 0) return Float64Array.from(e);
  const beta = tailScale(ref);
  return e.map((v) => negLogTailEvidence(ref, v, beta));
}

/** Per defender, the held-out evidence sorted ascending: the reference of {@link recalibrateEvidence}. */
export function heldoutEvidenceOf(calibrations: readonly PValueCalibration[], heldout: DefenderScores): Float64Array[] {
  return negLogPValueMatrix(calibrations, heldout).map((e) => Float64Array.from(e).sort());
}

/**
 * Fits a calibrated fusion: computes the held-out clean samples' fused scores
 * (−ln combined p-value, see {@link fusedScores}) and keeps them sorted, so that for any SP the threshold
 * flags exactly ⌊SP·n/100⌋ held-out samples (fewer on ties) — the *combined* false-alarm rate is SP
 * up to sampling error, whatever the dependence between defenders.
 *
 * @param calibrations per defender, its clean calibration scores (usually the detector's training scores)
 * @param heldout clean samples disjoint from the calibration data (e.g. a validation split), scored by
 *   every defender, with the victim's predicted classes
 * @param method how to combine p-values; default 'fisher' (pools evidence from all defenders)
 * @param weights optional mixing coefficients, one per defender (see {@link fusedScores}, {@link selectFusionWeights})
 * @param opts.tail p-values with an exponential tail past every calibration score (see {@link negLogPValueMatrix})
 * @param opts.recalibrate with `tail`, the second calibration stage of {@link recalibrateEvidence} (what
 *   `PCLDetector` fits since pcl-defense 0.2)
 */
export function fitCalibratedFusion(
  calibrations: readonly PValueCalibration[],
  heldout: DefenderScores,
  method: FusionMethod = 'fisher',
  weights?: readonly number[],
  opts: { tail?: boolean; recalibrate?: boolean } = {},
): CalibratedFusionModel {
  assert(Array.isArray(calibrations) && calibrations.length > 0, () => `fitCalibratedFusion: expected at least one calibration, got ${calibrations?.length}`);
  assert(!opts.recalibrate || opts.tail, () => 'fitCalibratedFusion: recalibrate needs tail p-values', ArgumentError);
  const heldoutEvidence = opts.recalibrate ? heldoutEvidenceOf(calibrations, heldout) : undefined;
  const model: CalibratedFusionModel = {
    method,
    calibrations: calibrations.map((c) => ({ label: c.label, sortedScores: c.sortedScores.map(toF32) })),
    heldoutSorted: new Float64Array(0),
    ...(weights ? { weights: [...weights] } : {}),
    ...(opts.tail ? { tail: true } : {}),
    ...(heldoutEvidence ? { heldoutEvidence } : {}),
  };
  model.heldoutSorted = calibratedFusionScores(model, heldout).sort();
  return model;
}

/** Fused scores of new samples under a fitted model; shape [n], higher = more adversarial. */
export function calibratedFusionScores(model: CalibratedFusionModel, data: DefenderScores): Float64Array {
  if (!model.tail) return fusedScores(pValueMatrix(model.calibrations, data), model.method, model.weights);
  let evidence = negLogPValueMatrix(model.calibrations, data);
  const ref = model.heldoutEvidence;
  if (ref) {
    assert(ref.length === evidence.length, () => `calibratedFusionScores: the model recalibrates ${ref.length} defenders, the data has ${evidence.length}`, ShapeError);
    evidence = evidence.map((e, d) => recalibrateEvidence(e, ref[d]!));
  }
  return fusedScoresFromEvidence(evidence, model.method, model.weights);
}

/**
 * Threshold on the fused score for a target combined false-alarm rate `sp` (percent): the same
 * quantile rule as `thresholdFromScores`, on the held-out fused scores (flag iff score > threshold).
 */
export function calibratedFusionThreshold(model: CalibratedFusionModel, sp: number): number {
  assert(sp >= 0 && sp <= 100, () => `calibratedFusionThreshold: expected sp in [0, 100] (percent), got ${sp}`);
  const s = model.heldoutSorted;
  assert(s.length > 0, () => `calibratedFusionThreshold: the model has no held-out scores`, ShapeError);
  const nOut = Math.floor((sp / 100) * s.length + 1e-9);
  if (nOut >= s.length) return -Infinity;
  return s[s.length - 1 - nOut];
}

/** Flags (1 = adversarial) at combined false-alarm target `sp` (percent); shape [n]. */
export function calibratedFusionFlags(model: CalibratedFusionModel, data: DefenderScores, sp: number): Uint8Array {
  const t = calibratedFusionThreshold(model, sp);
  return calibratedFusionScores(model, data).reduce((f, v, i) => ((f[i] = v > t ? 1 : 0), f), new Uint8Array(data.scores[0]?.length ?? 0));
}

