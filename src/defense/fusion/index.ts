/** Decision rules that combine several defenders: p-values, the paper's OR, the calibrated fusion. Re-exports only. */
export { pValueMatrix, negLogPValueMatrix, type PValueCalibration, type DefenderScores } from './p-values.js';
export { FUSION_METHODS, OMNIBUS_MAX_DEFENDERS, combinePValues, fusedScores, fusedScoresFromEvidence, logCombinedFromEvidence, logCombinedPValues, type FusionMethod } from './combine.js';
export { minFlagSp, orFlags } from './or-rule.js';
export {
  calibratedFusionFlags,
  calibratedFusionScores,
  calibratedFusionThreshold,
  fitCalibratedFusion,
  heldoutEvidenceOf,
  recalibrateEvidence,
  type CalibratedFusionModel,
} from './calibrated.js';
