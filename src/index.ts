/**
 * pcl-defense: Parallel Checkpointing Learners for TensorFlow.js classifiers.
 *
 * The public API, listed by hand (foolbox's `attacks/__init__.py` style): what a user scripts against,
 * with its aliases. Worker entry points (`*-task.ts`), bundle internals and scratch helpers are not
 * exported; import them from their modules inside this repository if you must.
 *
 * This is the platform-neutral core: no Node built-in in its import graph, so it bundles for browsers
 * (test/browser/bundle.test.ts). Node-only parts (folders on disk, worker threads, dataset files,
 * victim training, the pipeline behind the CLI) come from the Node entry `pcl-defense/node`
 * (src/node.ts), which re-exports all of this too and is what Node resolves `pcl-defense` to.
 */

// errors
export { PclError, ShapeError, NotFittedError, ManifestError, DataFormatError, ArgumentError, ResourceError } from './errors.js';
export { PACKAGE_VERSION } from './version.js';

// engine
export { initEngine, engineInfo, type BackendName, type EngineInfo } from './engine/backend.js';
export { FusedAdamOptimizer, fusedAdam, fusedAdamAvailable, adamStep, type AdamStepParams } from './engine/fused-adam.js';
export { dense, denseChain, softmaxCrossEntropy, type DenseChain } from './engine/dense-chain.js';
export { batchNormRelu } from './engine/batch-norm.js';
export { batchNormChain, layerChain, type BatchNormChain, type LayerChain } from './models/bn-chain.js';
export { foldBatchNorm, hasBatchNorm } from './models/fold.js';
export { Rng } from './util/rng.js';
export { progressBar, setProgressEnabled, registerTtyProgressBar, type Progress, type TtyBarFactory } from './util/progress.js';
export { createPool, registerPoolFactory, type ParallelPool, type PoolFactory } from './util/parallel.js';

// data and models
export { disposeDataset } from './data/types.js';
export { subsetIndices } from './data/subset.js';
export type { Dataset, LoadOptions, Split } from './data/types.js';
export { Classifier } from './models/classifier.js';
export { buildModel, ARCHS, DEFAULT_INPUT_SHAPE, type Arch, type BuildOptions } from './models/zoo.js';

// bundle stores (TensorFlow.js IO conventions: https://, indexeddb://, downloads://, memory, zip)
export * from './io/store/index.js';

// the detector contract and bundles
export {
  thresholdFromScores,
  empiricalPValue,
  tailPValue,
  type Detector,
  type DetectOptions,
  type DetectionReport,
  type DetectionSummary,
  type FitOptions,
  type Labels,
  type ScoreSurrogate,
} from './defense/types.js';
export {
  loadDetector,
  registerDetector,
  BUNDLE_FORMAT,
  BUNDLE_FORMAT_VERSION,
  type BundleManifest,
  type DetectorLoader,
  type LoadContext,
} from './defense/persistence.js';

// PCL and its defenders
export { PCLDetector, splitHoldout, type PCLDetectorParams, type PCLDetection, type PCLDetectOptions, type PCLScores, type FusionRule } from './defense/pcl.js';
export {
  LatentDefender,
  fineTuneSettingsFromMetrics,
  type LatentDefenderParams,
  type LatentFitInfo,
  type EpochLog,
  type FineTuneMode,
  type OptimizerName,
} from './defense/latent/latent-defender.js';
export { LATENT_DEFAULTS } from './defense/latent/params.js';
export { MultiLatentDefender, type MultiLatentParams, type CombineRule } from './defense/latent/multi-latent-defender.js';
export { LATENT_SCORINGS, latentScores, type LatentScoring, type ScoreComponents } from './defense/latent/scoring.js';
export { LatentScoreSurrogate, componentThresholds, type ComponentThresholds, type LatentComponent } from './defense/latent/surrogate.js';
export { fitHdda, hddaLogLikBatch, hddaLogLikAll, HDDA_DEFAULTS, type HddaClass, type HddaOptions } from './defense/latent/hdda.js';
export { centerLoss } from './defense/latent/center-loss.js';
export { InputDefender, type InputDefenderParams, type InputFitInfo, type ParallelMap } from './defense/input/input-defender.js';
export { NoiseDefender, haarNoiseSigma, type NoiseDefenderParams } from './defense/input/noise-defender.js';
export { MarginDefender, type MarginDefenderParams } from './defense/output/margin-defender.js';
export { TwinDefender, weightsFingerprint, type TwinDefenderParams } from './defense/output/twin-defender.js';
export { recommendedInputParams, recommendedCheckpoints } from './defense/recommended.js';
export { learnDictionary, DICTIONARY_LEARNING_DEFAULTS, type DictionaryLearningParams, type LearnedDictionary } from './defense/input/dictionary-learning.js';
export { omp, ompGram, gramMatrix, type SparseCodes, type OmpOptions } from './defense/input/omp.js';
export { psnr } from './defense/input/psnr.js';
export { MahalanobisDetector, PcaCentreDetector, type MahalanobisParams, type PcaCentreParams } from './defense/baselines/index.js';

// decision rules (fusion of several defenders)
export * from './defense/fusion/index.js';

// attacks
export {
  FGSM,
  BIM,
  PGD,
  JSMA,
  DeepFool,
  CarliniWagnerL2,
  FGSM_DEFAULTS,
  BIM_DEFAULTS,
  JSMA_DEFAULTS,
  DEEPFOOL_DEFAULTS,
  CW_L2_DEFAULTS,
  ATTACKS,
  ATTACK_NAMES,
  makeAttack,
  runAttack,
  summarize,
  AdaptiveLatentAttack,
  ADAPTIVE_LATENT_DEFAULTS,
  adaptiveAttack,
  type FgsmParams,
  type BimParams,
  type JsmaParams,
  type DeepFoolParams,
  type CarliniWagnerL2Params,
  type AdaptiveLatentParams,
  type AdaptiveAttackReport,
  type AdaptiveTarget,
  type AttackName,
  type RunAttackOptions,
} from './attacks/index.js';
export type { Attack, AttackModel, AttackResult, RunOptions } from './attacks/types.js';

// evaluation
export {
  roc,
  auc,
  fprAtTpr,
  fprAtTprs,
  spSweep,
  spGrid,
  dominates,
  DETECTION_LEVELS,
  type RocPoint,
  type RatePoint,
  type SpPoint,
  type FlagRates,
  type ScoreArray,
} from './eval/roc.js';
export { orRates, orCurve, calibratedFusionRates } from './eval/fusion.js';
export { selectFusionWeights, type FusionWeightChoice } from './eval/fusion-weights.js';
export { riskOperatingPoint, likelihoodRatioThreshold, expectedCost, type RiskCosts, type RiskOperatingPoint } from './eval/risk.js';
export { confusionMatrix, summarizeConfusion, type ConfusionMatrix, type ConfusionSummary } from './eval/confusion.js';
export { PAPER_TABLE1, paperTable1 } from './eval/paper.js';
export { renderReport, renderTableMarkdown, type ReportData } from './eval/report-html.js';
export { securityFigures, budgetGrid, type SecurityFigures, type SecurityResults, type SecurityRow, type SecuritySchedule } from './eval/security.js';
export { renderSecurityHtml, securityMarkdown, securityCurveSpec } from './eval/security-report.js';
