/**
 * Figures of the adaptive-attack protocol (Carlini & Wagner 2017; Tramèr et al. 2020): pure math
 * on per-row verdicts, no tensors.
 */
import { ShapeError, assert } from '../errors.js';
import type { FusionRule } from '../defense/pcl.js';

/** What one attack achieved against the detector at one SP (one decision rule). */
export interface SecurityFigures {
  /** Rows attacked. */
  n: number;
  /** Share of rows whose adversarial example fools the victim. */
  fooledRate: number;
  /** Share of the fooling examples the detector flags (NaN when none fools the victim). */
  detectionRate: number;
  /** Share of rows that fool the victim AND raise no alarm. */
  evadeRate: number;
  /** Mean L2 of the evading examples (NaN when none). */
  meanL2Evading: number;
  /** meanL2Evading / the mean L2 of plain C&W on the undefended victim. */
  l2Ratio: number;
  /** The curve: share of rows that fool the victim AND evade within each L2 budget of `budgets`. */
  evadeWithinBudget: number[];
}

/**
 * Budgets for the curve: 0 to `upTo` × `reference` (the undefended C&W mean L2) in `steps` equal steps.
 */
export function budgetGrid(reference: number, upTo = 4, steps = 16): number[] {
  return Array.from({ length: steps + 1 }, (_, i) => Math.round(((reference * upTo * i) / steps) * 1e4) / 1e4);
}

/**
 * Figures of one attack's examples: `fooled[i]` (the victim is fooled), `alarm[i]` (the detector
 * flags the example at the SP), `l2[i]` (its perturbation). `referenceL2` is the mean L2 of plain
 * C&W on the undefended victim (the denominator of the cost ratio).
 */
export function securityFigures(fooled: ArrayLike<number>, alarm: ArrayLike<number>, l2: ArrayLike<number>, referenceL2: number, budgets: readonly number[]): SecurityFigures {
  const n = fooled.length;
  assert(alarm.length === n && l2.length === n, () => `securityFigures: expected fooled, alarm and l2 of one length, got ${n}, ${alarm.length}, ${l2.length}`, ShapeError);
  let nf = 0;
  let det = 0;
  let ev = 0;
  let l2ev = 0;
  const evL2: number[] = [];
  for (let i = 0; i < n; i++) {
    if (!fooled[i]) continue;
    nf++;
    if (alarm[i]) det++;
    else {
      ev++;
      l2ev += l2[i];
      evL2.push(l2[i]);
    }
  }
  const meanL2Evading = ev ? l2ev / ev : NaN;
  return {
    n,
    fooledRate: n ? nf / n : NaN,
    detectionRate: nf ? det / nf : NaN,
    evadeRate: n ? ev / n : NaN,
    meanL2Evading,
    l2Ratio: meanL2Evading / referenceL2,
    evadeWithinBudget: budgets.map((b) => (n ? evL2.filter((v) => v <= b).length / n : NaN)),
  };
}

/** The C&W schedule every attack of the protocol shares. */
export interface SecuritySchedule {
  binarySteps: number;
  iterations: number;
  lr: number;
  initialConst: number;
}

/** One attack judged at one SP. */
export interface SecurityRow extends SecurityFigures {
  attack: string;
  /** SP the attack aimed under (null for plain C&W, which knows no detector). */
  aimedSp: number | null;
  /** SP and rule the detector judged at. */
  sp: number;
  rule: FusionRule;
  /** Wall seconds of the attack run (shared between the SPs it is judged at). */
  seconds: number;
}

/** What {@link runSecurityProtocol} returns (the "security" section of results.json). */
export interface SecurityResults {
  n: number;
  sps: number[];
  rules: FusionRule[];
  schedule: SecuritySchedule;
  /** Mean L2 of plain C&W on the undefended victim (the cost reference). */
  referenceL2: number;
  /** L2 budgets of the curves. */
  budgets: number[];
  /** Clean false-alarm rate on the attacked (clean, correctly classified) rows, per SP and rule. */
  cleanFalseAlarm: { sp: number; rule: FusionRule; rate: number }[];
  rows: SecurityRow[];
}

