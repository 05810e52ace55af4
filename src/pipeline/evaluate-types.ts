import type { StrengthSweepKind } from './attack-plans.js';
/** What {@link evaluatePCL} takes and returns. */
import type { SecurityResults } from '../eval/security.js';
import type { Dataset } from '../data/index.js';
import type { Detector } from '../defense/types.js';
import type { ConfusionMatrix } from '../eval/confusion.js';
import type { RiskCosts } from '../eval/risk.js';
import type { RatePoint, SpPoint } from '../eval/roc.js';
import type { PlanEvaluation } from '../eval/report-types.js';
import type { AttackPlan } from './attack-plans.js';

/** Scores of the clean or adversarial samples under every evaluated detector. */
export interface ScoredSet {
  /** Victim's prediction per sample. */
  yPred: Int32Array;
  /** True label per sample. */
  yTrue: Int32Array;
  /** detector label → score [n] (higher = more adversarial). */
  scores: Record<string, Float32Array>;
}

/** Metrics of one detector (or rule) on one attack group. */
export interface DetectorResult {
  detector: string;
  auroc: number;
  /** FP rate (fraction) at 90/95/98/99 % detection. */
  fprAt: number[];
  /** ROC points (for the plots). */
  curve: RatePoint[];
  /** FP/TP vs SP, for rules with a security parameter. */
  spCurve?: SpPoint[];
  /** FP and TP at the evaluation's SP (per-class thresholds or calibrated fusion). */
  atSp?: { sp: number; fp: number; tp: number };
}

export interface AttackGroupResult {
  group: string;
  plans: { label: string; name: string; params: Record<string, unknown>; attacked: number; successes: number; successRate: number; meanL2: number; meanLinf: number; seconds: number }[];
  nClean: number;
  nAdv: number;
  successRate: number;
  detectors: DetectorResult[];
  paperFprAt?: number[];
  paperNote?: string;
  confusion?: { without: ConfusionMatrix; with: ConfusionMatrix };
  risk?: { detector: string; costs: RiskCosts; pAttack: number; lambda: number; sp: number; fpr: number; tpr: number; expectedCost: number };
  /** For a row of several plans (FGSM's ε list): each plan's figures on its own successful examples. */
  perPlan?: PlanEvaluation[];
}

export interface EvaluationResults {
  dataset: string;
  n: number;
  /** Test images the attacks ran on (of them, the correctly classified ones); `n` when all were. */
  nAttackRows?: number;
  /** Bits per pixel value the adversarial examples were rounded to before scoring (`quantizeAdversarial`); absent when they were not. */
  quantizedBits?: number;
  sp: number;
  seed: number;
  victimAccuracy: number;
  defenders: string[];
  groups: AttackGroupResult[];
  /** Detection rate vs FGSM ε per defender at SP 0.1/1/5 % (Fig. 6). */
  fgsmSweep: { detector: string; sp: number; points: { epsilon: number; detectionRate: number }[] }[];
  /**
   * Detection rate vs attack strength (C&W confidence κ, PGD L∞ / L2 budget ε) at SP 1 % and 5 %, per
   * rule (the main latent defender, the input defender, the paper's OR of every defender, the
   * calibrated fusion): the Fig. 6 layout for the beyond-the-boundary attacks. Empty when no plan has a sweep.
   */
  strengthSweeps?: { kind: StrengthSweepKind; detector: string; sp: number; points: { value: number; detectionRate: number }[] }[];
  /** Fig. 10: ROC with one vs several checkpoints, per attack group. */
  checkpointRocs: { group: string; curves: { label: string; auroc: number; fprAt: number[]; curve: RatePoint[] }[] }[];
  timings: { stage: string; seconds: number; items?: number; note?: string }[];
  /** Guarded-inference throughput relative to the bare victim (measured in one run). */
  guardedThroughputRatio: number;
  /** The adaptive-attack protocol, when asked for (`pcl evaluate --adaptive`). */
  security?: SecurityResults;
}

export interface EvaluateOptions {
  /** Test images to use (their first `n`, already subset by the caller). */
  test: Dataset;
  attacks: AttackPlan[];
  /** Security parameter (percent) of the single operating points (default 1). */
  sp?: number;
  /** Extra fitted detectors evaluated beside PCL: baselines, other checkpoints. */
  extraDetectors?: Detector[];
  /** Labels of latent detectors (from the PCL bundle and `extraDetectors`) combined for Fig. 10. */
  checkpointLabels?: string[];
  batchSize?: number;
  seed?: number;
  /**
   * Folder of the victim model (e.g. the bundle's `victim/`): lets the iterative attacks (JSMA,
   * DeepFool, C&W) run on `workers` worker threads, each loading the model.
   */
  modelDir?: string;
  /** Worker threads for the iterative attacks (default: `defaultPoolSize()`; needs `modelDir`). */
  workers?: number;
  /**
   * Folder caching attack results (keyed by attack, parameters, seed, batch size and a hash of the
   * attacked images): re-running an evaluation with a refitted detector skips the attacks.
   */
  cacheDir?: string;
  /** The risk view: costs and prior P(attack) that choose an operating point. */
  risk?: { costs: RiskCosts; pAttack: number };
  /**
   * Rows of `test` to attack (of them, those the victim classifies correctly); default all. False
   * positives are still counted on every correctly classified row, so a large clean set can go
   * beside a smaller attacked one.
   */
  attackRows?: ArrayLike<number>;
  /**
   * Round every adversarial example to the grid of this many bits per pixel value before it is scored
   * (8: as the attacker saves it as a PNG), re-check its success on the victim and measure its distances
   * again. Needs clean test images on that grid (8-bit datasets: MNIST, CIFAR-10, JPEG/PNG folders).
   */
  quantizeAdversarial?: number;
}
