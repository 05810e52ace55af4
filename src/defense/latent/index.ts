/** PCL latent defenders (re-exports only). */
export * from './hdda.js';
export * from './center-loss.js';
export { L2Normalize, buildReplica, disposeReplica, defaultCheckpoint, rescaleAfterCheckpoint, saveModelCopy, loadModelCopy, type Replica } from './replica.js';
export * from './latent-defender.js';
export { LATENT_DEFAULTS } from './params.js';
export * from './multi-latent-defender.js';
export * from './scoring.js';
