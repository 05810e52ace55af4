/**
 * pcl-defense for Node (`pcl-defense/node`; Node resolves plain `pcl-defense` here too, through the
 * package's conditional exports): the whole platform-neutral core, plus the Node-only parts — bundles
 * in folders (paths, `file://`), worker threads, dataset files, victim training and model folders,
 * attack sets and the pipeline behind the CLI. Importing it registers those parts with the core.
 */
import { registerNodePlatform } from './node-platform.js';

registerNodePlatform();

export * from './index.js';
export { registerNodePlatform } from './node-platform.js';
export { FileSystemStore, fileSystemRouter, registerFileSystemStore } from './io/store/node-fs.js';
export { WorkerPool, defaultPoolSize, type WorkerPoolOptions, type MapOptions, type ModuleRef } from './engine/pool.js';
export { ttyProgressBar } from './util/progress-tty.js';
export { writeDirAtomic, writeFileAtomic } from './io/atomic.js';
export { loadDataset, parseDatasetSpec, mnistDir, CIFAR10_CLASSES, type DatasetKind, type DatasetSpec } from './data/index.js';
export { readIdx, writeIdx, decodeIdx, encodeIdx, type IdxArray, type IdxDtype, type IdxTypedArray } from './io/idx.js';
export {
  trainClassifier,
  makeTrainStep,
  insertBatchNorm,
  type TrainStep,
  trainVictim,
  evaluateAccuracy,
  TRAIN_DEFAULTS,
  type TrainOptions,
  type TrainResult,
  type TrainEpochLog,
  type TrainVictimOptions,
  type TrainOptimizer,
  type LrSchedule,
  type Augmentation,
} from './models/train.js';
export { loadClassifier, saveClassifier, type ClassifierMetrics } from './models/io.js';
export { generateAttackSet, readAttackSet, ATTACK_SET_FILES, type AttackSetOptions, type AttackSetSummary, type AttackSet } from './attacks/attack-set.js';
export { evaluatePCL, paperAttackPlans, type AttackPlan, type EvaluationResults, type EvaluateOptions } from './pipeline/evaluate.js';
export { writeEvaluationOutputs, reportData } from './pipeline/outputs.js';
export { defendVictim, type DefendOptions } from './pipeline/defend.js';
export { detectImages, type DetectOutput } from './pipeline/detect.js';
export { evaluateBundle, type EvaluateBundleOptions } from './pipeline/evaluate-bundle.js';
export { reproduce, type ReproduceOptions } from './pipeline/reproduce.js';
export { readImages } from './pipeline/images.js';
export { runSecurityProtocol, SECURITY_SCHEDULE, type SecurityOptions } from './pipeline/security.js';
// the PCL challenge (pack / attack / score; folders on disk)
export * from './challenge/index.js';
