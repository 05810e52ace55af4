/**
 * pcl-defense: Parallel Checkpointing Learners for TensorFlow.js classifiers.
 * Re-exports only. This is the platform-neutral core: no Node built-in in its import graph, so it
 * bundles for browsers (test/browser/bundle.test.ts). Node-only parts (file-system bundles, worker
 * threads, dataset files, the pipeline behind the CLI) come from the Node entry `pcl-defense/node`
 * (src/node.ts), which re-exports all of this too and is what Node resolves `pcl-defense` to.
 */
export * from './errors.js';
export { PACKAGE_VERSION } from './version.js';
export { initEngine, engineInfo, type BackendName, type EngineInfo } from './engine/backend.js';
export { Rng } from './util/rng.js';
export { progressBar, setProgressEnabled, registerTtyProgressBar, type Progress, type TtyBarFactory } from './util/progress.js';
export { createPool, registerPoolFactory, type ParallelPool, type PoolFactory } from './util/parallel.js';
export { Classifier } from './models/classifier.js';
export * from './models/zoo.js';
export type { Dataset, LoadOptions, Split } from './data/types.js';
export { disposeDataset } from './data/types.js';
export { subsetIndices } from './data/subset.js';
export * from './io/store/index.js';
export * from './defense/types.js';
export * from './defense/persistence.js';
export * from './defense/fusion/index.js';
export * from './eval/index.js';
export * from './defense/latent/index.js';
export * from './defense/input/index.js';
export * from './defense/baselines/index.js';
export * from './attacks/index.js';
export * from './defense/pcl.js';
