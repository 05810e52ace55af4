/**
 * pcl-defense: Parallel Checkpointing Learners for TensorFlow.js classifiers.
 * Re-exports only.
 */
export * from './errors.js';
export { initEngine, engineInfo, type BackendName, type EngineInfo } from './engine/backend.js';
export { WorkerPool, defaultPoolSize, type WorkerPoolOptions, type MapOptions, type ModuleRef } from './engine/pool.js';
export { Rng } from './util/rng.js';
export { progressBar, setProgressEnabled, type Progress } from './util/progress.js';
export { Classifier } from './models/classifier.js';
export * from './defense/types.js';
export * from './defense/persistence.js';
export * from './defense/fusion/index.js';
export { writeDirAtomic, writeFileAtomic } from './io/atomic.js';
export * from './io/idx.js';
export * from './data/index.js';
export * from './models/zoo.js';
export * from './models/train.js';
export * from './models/io.js';
export * from './eval/index.js';
export * from './defense/latent/index.js';
export * from './defense/input/index.js';
export * from './defense/baselines/index.js';
export * from './attacks/index.js';
export * from './defense/pcl.js';
export { evaluatePCL, paperAttackPlans, type AttackPlan, type EvaluationResults, type EvaluateOptions } from './pipeline/evaluate.js';
export { writeEvaluationOutputs, reportData } from './pipeline/outputs.js';
export { defendVictim, type DefendOptions } from './pipeline/defend.js';
export { detectImages, type DetectOutput } from './pipeline/detect.js';
export { evaluateBundle, type EvaluateBundleOptions } from './pipeline/evaluate-bundle.js';
export { reproduce, type ReproduceOptions } from './pipeline/reproduce.js';
export { readImages } from './pipeline/images.js';
export * from './challenge/index.js';
export { runSecurityProtocol, SECURITY_SCHEDULE, type SecurityOptions } from './pipeline/security.js';
export { securityFigures, budgetGrid, type SecurityFigures, type SecurityResults, type SecurityRow, type SecuritySchedule } from './eval/security.js';
export { renderSecurityHtml, securityMarkdown, securityCurveSpec } from './eval/security-report.js';
