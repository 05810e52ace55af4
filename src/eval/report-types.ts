/** The data the evaluation report renders (see `report-html.ts`). All rates are fractions in [0, 1]. */
import type { SecurityResults } from './security.js';
import type { RatePoint, SpPoint } from './roc.js';
import type { ConfusionMatrix } from './confusion.js';
import type { RiskCosts } from './risk.js';

/** One detector's threshold-free metrics on one attack. */
export interface DetectorMetrics {
  /** e.g. 'PCL latent', 'PCL latent OR input', 'PCL calibrated fusion', 'Mahalanobis', 'PCA-centre'. */
  detector: string;
  /** Area under the ROC, in [0, 1]. */
  auroc: number;
  /** False-positive rate (fraction) at each detection level of `DETECTION_LEVELS` (90/95/98/99 %). */
  fprAt: readonly number[];
  /** The rule at the evaluation's nominal SP (percent): measured FP on the clean test samples and detection (fractions). */
  atSp?: { sp: number; fp: number; tp: number };
}

/** One row group of the per-attack table. */
export interface AttackEvaluation {
  /** Attack name as shown, e.g. 'FGSM'. */
  attack: string;
  /** Parameters as shown, e.g. 'ε = 0.1'. */
  params?: string;
  /** Correctly classified clean test samples the FP rate is counted on. */
  nClean: number;
  /** Successful adversarial samples the detection rate is counted on. */
  nAdv: number;
  /** Attack success rate on the victim, fraction. */
  successRate?: number;
  /** Mean ‖δ‖₂ and ‖δ‖∞ over the successful examples. */
  meanL2?: number;
  meanLinf?: number;
  detectors: DetectorMetrics[];
  /** The paper's FP rates (fractions) at the same levels (see `paperTable1`). */
  paperFprAt?: readonly number[];
  /** Remark on the paper's numbers (e.g. a suspected typo). */
  paperNote?: string;
  /** For a row of several plans (FGSM's ε list): each plan's own success, mean L2 and detector figures. */
  perPlan?: readonly PlanEvaluation[];
}

/** One plan (e.g. one FGSM ε) of a table row of several. */
export interface PlanEvaluation {
  /** The plan as shown, e.g. 'ε=0.1'. */
  label: string;
  successRate: number;
  meanL2: number;
  /** Its successful adversarial samples. */
  nAdv: number;
  detectors: readonly Pick<DetectorMetrics, 'detector' | 'fprAt' | 'auroc'>[];
}

/** A labelled curve of (fpr, tpr) points. */
export interface CurveSeries {
  label: string;
  points: readonly RatePoint[];
}

/** A labelled point drawn on a ROC chart (e.g. the risk-optimal operating point). */
export interface RocMarker {
  label: string;
  fpr: number;
  tpr: number;
}

/** A ROC chart: several detectors (or checkpoint sets, Fig. 10) on one plot. */
export interface RocChart {
  title: string;
  curves: readonly CurveSeries[];
  markers?: readonly RocMarker[];
}

/** FP and TP rate vs SP (Fig. 7); one or more rules, each drawn as an FP and a TP line. */
export interface SpChart {
  title: string;
  series: readonly { label: string; points: readonly SpPoint[] }[];
}

/** Detection rate vs FGSM ε (Fig. 6), or vs another attack strength (C&W κ, PGD ε); e.g. one series per defender × SP. */
export interface EpsilonChart {
  title: string;
  /** Title of the x axis (default 'FGSM ε (L∞)'); `epsilon` then holds that strength. */
  xTitle?: string;
  series: readonly { label: string; points: readonly { epsilon: number; detectionRate: number }[] }[];
}

/** Adversarial confusion matrices without and (optionally) with PCL (Fig. 9), drawn side by side. */
export interface ConfusionChart {
  title: string;
  without: ConfusionMatrix;
  with?: ConfusionMatrix;
}

/** The risk view (PCL-METHOD §2): where a cost/prior choice lands. Mark it on a ROC via `RocChart.markers`. */
export interface RiskView {
  attack: string;
  detector: string;
  costs: RiskCosts;
  /** Prior probability of an attack P(W2). */
  pAttack: number;
  /** Likelihood-ratio threshold λ. */
  lambda: number;
  fpr: number;
  tpr: number;
  /** SP of the chosen point, if it came from an SP sweep. */
  sp?: number;
  expectedCost: number;
}

/** One timing line. */
export interface TimingRow {
  stage: string;
  seconds: number;
  /** Items processed (images), to show a throughput. */
  items?: number;
  note?: string;
}

/** Everything a report can show. Only `title` and `dataset` are required. */
export interface ReportData {
  title: string;
  /** Dataset spec, e.g. 'mnist' or 'cifar10:DIR'. */
  dataset: string;
  /** ISO timestamp or free text. */
  generatedAt?: string;
  victim?: { name: string; testAccuracy?: number; details?: Readonly<Record<string, string | number>> };
  /** Free key/value settings (SP, seeds, n, package version …). */
  settings?: Readonly<Record<string, string | number | boolean>>;
  /** Per-attack table (Table 1 layout + AUROC). */
  attacks?: readonly AttackEvaluation[];
  /** ROC charts per attack (several detectors on one chart). */
  rocCharts?: readonly RocChart[];
  /** ROC with several parallel checkpoints (Fig. 10). */
  checkpointRocCharts?: readonly RocChart[];
  /** FP and TP vs SP (Fig. 7). */
  spCharts?: readonly SpChart[];
  /** Detection vs FGSM ε (Fig. 6). */
  epsilonCharts?: readonly EpsilonChart[];
  /** Confusion matrices with/without PCL (Fig. 9). */
  confusionCharts?: readonly ConfusionChart[];
  risk?: readonly RiskView[];
  /** The adaptive-attack protocol (`pcl evaluate --adaptive`): the "Security" section. */
  security?: SecurityResults;
  timings?: readonly TimingRow[];
  notes?: readonly string[];
}

// ---------------------------------------------------------------- formatting
