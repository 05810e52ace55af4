/**
 * The security protocol: plain C&W and the attacks that know PCL (latent-adaptive, full adaptive
 * with BPDA, feature-space), each judged by the detector itself at every SP, reported by L2 budget.
 */
import * as tf from '@tensorflow/tfjs';
import { makeAdaptiveAttack, type FullAdaptiveParams } from '../attacks/adaptive.js';
import { CarliniWagnerL2 } from '../attacks/carlini-wagner-l2.js';
import { runAttack } from '../attacks/registry.js';
import type { AttackResult } from '../attacks/types.js';
import { ArgumentError } from '../errors.js';
import type { FusionRule, PCLDetector } from '../defense/pcl.js';
import { budgetGrid, securityFigures, type SecurityResults, type SecurityRow, type SecuritySchedule } from '../eval/security.js';

export type { SecurityResults, SecurityRow, SecuritySchedule } from '../eval/security.js';

/** Default schedule: 6 binary steps × 200 Adam iterations, lr 0.1, c₀ 0.01 (bench/attacks' cw-fast). */
export const SECURITY_SCHEDULE: Readonly<SecuritySchedule> = Object.freeze({ binarySteps: 6, iterations: 200, lr: 0.1, initialConst: 1e-2 });

/** Options of {@link runSecurityProtocol}. */
export interface SecurityOptions {
  /** SPs (percent) the adaptive attacks aim at and everything is judged at. Default [1, 5]. */
  sps?: number[];
  /** Attacks: 'cw-l2' (plain, on the undefended victim), 'adaptive-latent', 'adaptive', 'feature'. Default all four. */
  attacks?: string[];
  schedule?: Partial<SecuritySchedule>;
  /** Clean images (with labels) the feature attack picks its guides from (required for 'feature'). */
  guidePool?: { x: tf.Tensor4D; y: ArrayLike<number> };
  batchSize?: number;
  /** Progress messages. */
  log?: (msg: string) => void;
  onProgress?: (done: number, total: number) => void;
  /**
   * Called with every attack's result before its tensor is freed (e.g. to write a challenge
   * submission); `aimedSp` is null for plain C&W. The result's tensor stays owned by the protocol.
   */
  onResult?: (attack: string, aimedSp: number | null, result: AttackResult) => Promise<void>;
}

const ALL = ['cw-l2', 'adaptive-latent', 'adaptive', 'feature'];

/**
 * Runs the protocol on clean, correctly classified rows `x` [n,h,w,c] with true labels `y`: plain C&W
 * L2 once (its mean L2 is the reference cost), then every adaptive attack once per SP, aiming under
 * that SP's thresholds. Every example is judged by the detector at each SP under the OR rule
 * (what the attacks aim at) and, when the bundle has one, the calibrated fusion. Inputs are not disposed.
 */
export async function runSecurityProtocol(detector: PCLDetector, x: tf.Tensor4D, y: Int32Array, opts: SecurityOptions = {}): Promise<SecurityResults> {
  const sps = opts.sps ?? [1, 5];
  const attacks = opts.attacks ?? ALL;
  for (const a of attacks) if (!ALL.includes(a)) throw new ArgumentError(`security: unknown attack '${a}'; expected some of ${ALL.join(', ')}`);
  if (!attacks.includes('cw-l2')) throw new ArgumentError(`security: 'cw-l2' is required (its mean L2 is the reference cost)`);
  if (attacks.includes('feature') && !opts.guidePool) throw new ArgumentError(`security: the 'feature' attack needs guidePool (clean images to pick guides from)`);
  const schedule = { ...SECURITY_SCHEDULE, ...opts.schedule };
  // the OR rule is what the attacks aim at; the calibrated fusion (when the bundle has one) is judged too
  const rules: FusionRule[] = detector.params.fusion === 'calibrated' || detector.fusionModel ? ['or', 'calibrated'] : ['or'];
  const victim = detector.victim;
  const batchSize = opts.batchSize ?? 100;
  const n = y.length;
  const total = attacks.reduce((a, name) => a + (name === 'cw-l2' ? 1 : sps.length), 0) * n;
  let done = 0;
  const run = async (make: () => Promise<AttackResult>) => {
    const t0 = performance.now();
    const r = await make();
    done += n;
    opts.onProgress?.(done, total);
    return { r, seconds: (performance.now() - t0) / 1000 };
  };
  const judge = async (r: AttackResult) => {
    const s = await detector.scoreAll(r.adversarial);
    return { s, fooled: r.success };
  };
  const cleanScores = await detector.scoreAll(x);
  const cleanFalseAlarm = sps.flatMap((sp) =>
    rules.map((rule) => {
      const d = detector.decide(cleanScores, sp, rule);
      return { sp, rule, rate: d.adversarial.reduce((a, b) => a + b, 0) / n };
    }),
  );
  const rows: SecurityRow[] = [];
  opts.log?.(`security: plain C&W on ${n} rows`);
  const cw = await run(() => runAttack(new CarliniWagnerL2({ ...schedule }), victim, x, y, { batchSize }));
  let referenceL2: number;
  let budgets: number[];
  try {
    let sum = 0;
    let k = 0;
    for (let i = 0; i < n; i++) {
      if (!cw.r.success[i]) continue;
      sum += cw.r.l2[i];
      k++;
    }
    referenceL2 = k ? sum / k : NaN;
    budgets = budgetGrid(referenceL2);
    await opts.onResult?.('cw-l2', null, cw.r);
    const j = await judge(cw.r);
    for (const sp of sps) {
      for (const rule of rules) {
        const d = detector.decide(j.s, sp, rule);
        rows.push({ attack: 'cw-l2', aimedSp: null, sp, rule, seconds: cw.seconds, ...securityFigures(j.fooled, d.adversarial, cw.r.l2, referenceL2, budgets) });
      }
    }
  } finally {
    cw.r.adversarial.dispose();
  }
  for (const name of attacks) {
    if (name === 'cw-l2') continue;
    for (const sp of sps) {
      opts.log?.(`security: ${name} aimed at SP ${sp} % on ${n} rows`);
      const params: Partial<FullAdaptiveParams> = { ...schedule, sp };
      const attack = makeAdaptiveAttack(name, detector, params, opts.guidePool);
      const a = await run(() => runAttack(attack, victim, x, y, { batchSize }));
      try {
        await opts.onResult?.(name, sp, a.r);
        const j = await judge(a.r);
        // the feature attack is targeted: "fooled" is the victim's verdict (any wrong label), as for the others
        const fooled = Uint8Array.from(a.r.predicted, (p, i) => (p !== y[i] ? 1 : 0));
        for (const rule of rules) {
          const d = detector.decide(j.s, sp, rule);
          rows.push({ attack: name, aimedSp: sp, sp, rule, seconds: a.seconds, ...securityFigures(fooled, d.adversarial, a.r.l2, referenceL2, budgets) });
        }
      } finally {
        a.r.adversarial.dispose();
      }
    }
  }
  return { n, sps, rules, schedule, referenceL2, budgets, cleanFalseAlarm, rows };
}
