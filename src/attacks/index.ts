/**
 * Adversarial attacks (foolbox style): FGSM, BIM/PGD, JSMA, DeepFool, Carlini–Wagner L2, the
 * registry, batched runner and attack-set files, and the adaptive white-box attack on the latent
 * defenders (`AdaptiveLatentAttack`, which needs a fitted detector and so is not in the registry).
 * Re-exports only.
 */
export * from './types.js';
export { summarize, measure, perturbationNorms, logitsAndJacobian } from './common.js';
export { FGSM, FGSM_DEFAULTS, fgsmStep, type FgsmParams } from './fgsm.js';
export { BIM, PGD, BIM_DEFAULTS, type BimParams } from './bim.js';
export { DeepFool, DEEPFOOL_DEFAULTS, deepfoolStep, type DeepFoolParams } from './deepfool.js';
export { JSMA, JSMA_DEFAULTS, JSMA_TARGET_POLICIES, chooseTargets, bestPairs, type JsmaParams, type JsmaTargetPolicy } from './jsma.js';
export { CarliniWagnerL2, CW_L2_DEFAULTS, type CarliniWagnerL2Params } from './carlini-wagner-l2.js';
export { PgdL2, L2PGD, PGD_L2_DEFAULTS, projectL2, uniformL2Ball, type PgdL2Params } from './pgd-l2.js';

export { checkOnGrid, checkQuantizeBits, offGrid, quantizeImages, quantizeOutcome } from './quantize.js';
export { ATTACKS, ATTACK_NAMES, makeAttack, runAttack, type AttackName, type AttackParamsByName, type RunAttackOptions } from './registry.js';
export { hddaTensors, hddaLogLikTensor, disposeHddaTensors, type HddaTensors } from './hdda-tf.js';
export {
  AdaptiveLatentAttack,
  ADAPTIVE_LATENT_DEFAULTS,
  componentThresholds,
  type AdaptiveLatentParams,
  type AdaptiveTarget,
  type ComponentThresholds,
  type LatentComponent,
} from './adaptive-latent.js';
export { adaptiveAttack, type AdaptiveAttackReport } from './adaptive-report.js';
export {
  FullAdaptiveAttack,
  FULL_ADAPTIVE_DEFAULTS,
  ADAPTIVE_ATTACK_NAMES,
  makeAdaptiveAttack,
  chooseGuides,
  type FullAdaptiveParams,
  type FullAdaptiveTarget,
  type FeatureGuides,
  type AdaptiveAttackName,
} from './adaptive.js';
