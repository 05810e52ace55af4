import { assert } from '../../errors.js';
import { HDDA_DEFAULTS, validateHddaOptions } from './hdda.js';
import { LATENT_SCORINGS, type LatentScoring } from './scoring.js';
import type { SpreadReduction } from './center-loss.js';

/** Optimizers the fine-tuning can use (the victim's own, from its metrics.json). */
export type OptimizerName = 'adam' | 'sgd' | 'rmsprop' | 'adagrad' | 'adamax';

/** What fine-tuning the replica gets (`'centre'` is PCL; the others are ablations). */
export type FineTuneMode = 'centre' | 'ce' | 'none';

/** Hyperparameters of a {@link LatentDefender}. */
export interface LatentDefenderParams {
  /** Checkpoint layer name in the victim (default: the second-to-last layer). */
  checkpointLayer: string;
  /** γ, the weight of the centre loss L+ (default 0.01). */
  gamma: number;
  /** 'centre' = CE + γ·L+ (PCL, default); 'ce' = cross-entropy only; 'none' = no fine-tuning. */
  fineTune: FineTuneMode;
  /** Reduction of L+'s spread term over the other classes: 'sum' (Eq. 1 as printed, default) or 'mean'. */
  spread: SpreadReduction;
  /** Fine-tuning epochs over the training data (default 3). */
  epochs: number;
  /** Fine-tuning batch size (default 128). */
  batchSize: number;
  /** Fine-tuning learning rate: the victim's / 10 (default 1e-4 = Adam 1e-3 / 10). */
  lr: number;
  /** Fine-tuning optimizer: the victim's (default 'adam'). */
  optimizer: OptimizerName;
  /** HDDA intrinsic dimension ('auto' = Cattell's scree test, default). */
  hddaDims: number | 'auto';
  /** Cattell scree threshold (default 0.2). */
  screeThreshold: number;
  /** Relative eigenvalue floor of HDDA (default 1e-6; see hdda.ts). */
  eigenFloor: number;
  /**
   * How class log-likelihoods become the score (see {@link LatentScoring}): 'likelihood' = −log p(φ|ŷ)
   * (PCL as described), 'ratio' = −log [p(φ|ŷ) / Σ_{k≠ŷ} p(φ|k)], 'combined' = the larger
   * −log p-value of the two, 'disagreement' = −log p_replica(ŷ|x) (the fine-tuned replica's
   * probability of the victim's class), 'combined-disagreement' = the largest −log p-value of
   * likelihood, ratio and disagreement (default: equal to or better than 'combined' on every attack on
   * MNIST and much better on CIFAR-10 against JSMA, DeepFool and C&W, see bench/results/cifar-latent.md). Changing it needs a refit (the calibration scores depend on it).
   */
  scoring: LatentScoring;
  /** Security parameter (percent) `detect` uses when none is given (default 1). */
  sp: number;
  /** Seed of the fine-tuning batch order (default 0). */
  seed: number;
  /** Rows per forward pass when scoring (default 1000). */
  scoreBatchSize: number;
}

export const LATENT_DEFAULTS: Readonly<Omit<LatentDefenderParams, 'checkpointLayer'>> = Object.freeze({
  gamma: 0.01,
  fineTune: 'centre',
  spread: 'sum',
  epochs: 3,
  batchSize: 128,
  lr: 1e-4,
  optimizer: 'adam',
  hddaDims: HDDA_DEFAULTS.dims,
  screeThreshold: HDDA_DEFAULTS.screeThreshold,
  eigenFloor: HDDA_DEFAULTS.eigenFloor,
  scoring: 'combined-disagreement',
  sp: 1,
  seed: 0,
  scoreBatchSize: 1000,
});

export const OPTIMIZERS: readonly OptimizerName[] = ['adam', 'sgd', 'rmsprop', 'adagrad', 'adamax'];

export function validateLatentParams(p: LatentDefenderParams): LatentDefenderParams {
  assert(p.gamma >= 0 && Number.isFinite(p.gamma), () => `LatentDefender: 'gamma' must be a finite number ≥ 0, got ${p.gamma}`);
  assert(['centre', 'ce', 'none'].includes(p.fineTune), () => `LatentDefender: 'fineTune' must be 'centre', 'ce' or 'none', got '${p.fineTune}'`);
  assert(p.spread === 'sum' || p.spread === 'mean', () => `LatentDefender: 'spread' must be 'sum' or 'mean', got '${p.spread}'`);
  assert(Number.isInteger(p.epochs) && p.epochs >= 0, () => `LatentDefender: 'epochs' must be an integer ≥ 0, got ${p.epochs}`);
  assert(Number.isInteger(p.batchSize) && p.batchSize >= 1, () => `LatentDefender: 'batchSize' must be an integer ≥ 1, got ${p.batchSize}`);
  assert(p.lr > 0 && Number.isFinite(p.lr), () => `LatentDefender: 'lr' must be > 0, got ${p.lr}`);
  assert(OPTIMIZERS.includes(p.optimizer), () => `LatentDefender: 'optimizer' must be one of ${OPTIMIZERS.join(', ')}, got '${p.optimizer}'`);
  assert(LATENT_SCORINGS.includes(p.scoring), () => `LatentDefender: 'scoring' must be one of ${LATENT_SCORINGS.join(', ')}, got '${p.scoring}'`);
  assert(p.sp >= 0 && p.sp <= 100, () => `LatentDefender: 'sp' must be a percentage in [0, 100], got ${p.sp}`);
  assert(Number.isInteger(p.scoreBatchSize) && p.scoreBatchSize >= 1, () => `LatentDefender: 'scoreBatchSize' must be an integer ≥ 1, got ${p.scoreBatchSize}`);
  validateHddaOptions({ dims: p.hddaDims, screeThreshold: p.screeThreshold, eigenFloor: p.eigenFloor });
  return p;
}

/** Fine-tuning settings from a victim's `metrics.json` (`optimizer`, `lr`): same optimizer, lr / 10. */
export function fineTuneSettingsFromMetrics(metrics: { optimizer?: string; lr?: number }): { optimizer: OptimizerName; lr: number } {
  const optimizer = (metrics.optimizer ?? 'adam').toLowerCase() as OptimizerName;
  assert(OPTIMIZERS.includes(optimizer), () => `metrics.json: optimizer '${metrics.optimizer}' is not one of ${OPTIMIZERS.join(', ')}`);
  return { optimizer, lr: (metrics.lr ?? 1e-3) / 10 };
}
