import type { HddaClass } from './hdda.js';
import type { EpochLog } from './fine-tune.js';
import type { Replica } from './replica.js';
import type { ScoreComponents } from './scoring.js';

/** What `fit` measured; stored in the bundle. */
export interface LatentFitInfo {
  epochs: EpochLog[];
  /** HDDA intrinsic dimension per class. */
  dims: number[];
  /** Training samples used for HDDA per class. */
  samples: number[];
  /** Mean ‖h‖ of the un-normalised checkpoint features, absorbed into the next kernel (see rescaleAfterCheckpoint). */
  meanFeatureNorm: number;
  /** Seconds spent in fine-tuning and in HDDA + calibration. */
  fineTuneSeconds: number;
  densitySeconds: number;
}

/** Everything a {@link LatentDefender} learns in `fit` (or reads in `load`). */
export interface LatentState {
  replica: Replica;
  hdda: HddaClass[];
  scores: Float32Array[];
  /** Per-class clean training scores of the likelihood and ratio (and disagreement) components ('combined', 'combined-disagreement'). */
  components?: ScoreComponents;
  info: LatentFitInfo;
}
