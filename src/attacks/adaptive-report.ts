/** Runs the adaptive attack and asks the detector which of its examples it flags. */
import type * as tf from '@tensorflow/tfjs';
import { PCLDetector, type PCLDetection } from '../defense/pcl.js';
import { AdaptiveLatentAttack, type AdaptiveLatentParams, type AdaptiveTarget } from './adaptive-latent.js';
import { runAttack, type RunAttackOptions } from './registry.js';
import type { AttackModel, AttackResult, Labels } from './types.js';

/** What {@link adaptiveAttack} returns: the attack result and the detector's verdict on it. */
export interface AdaptiveAttackReport {
  /** The attack result (`success` = the victim is fooled). Its tensor is owned by the caller. */
  result: AttackResult;
  /** Labels of the defenders in the attack's loss (those with a differentiable surrogate: the latent defenders), same order as `latentAlarms`. */
  latentLabels: string[];
  /** Per latent defender, its alarm (1 = flagged) on each adversarial example at `sp`. */
  latentAlarms: Uint8Array[];
  /** 1 where any latent defender flags the example. */
  latentAny: Uint8Array;
  /** The full detector's verdict (`PCLDetector.detect` at `sp`, its own fusion rule), for a PCLDetector target. */
  detection?: PCLDetection;
  /** Victim fooled AND no latent defender flags it. */
  evadesLatent: Uint8Array;
  /** Victim fooled AND the full PCL detector does not flag it (PCLDetector targets only). */
  evadesDetector?: Uint8Array;
}

/**
 * Runs {@link AdaptiveLatentAttack} against `victim` and the latent defenders of `detector` on
 * `x` [n,h,w,c] with true labels `y`, in batches, then asks the detector itself (`detect`, at
 * SP = `params.sp`, default 1 %) which adversarial examples it flags: latent defenders alone and,
 * for a PCLDetector, the full decision (input defender included, though the attack ignores it).
 * Inputs are not disposed; `report.result.adversarial` is owned by the caller.
 */
export async function adaptiveAttack(
  victim: AttackModel,
  detector: AdaptiveTarget,
  x: tf.Tensor4D,
  y: Labels,
  params: Partial<AdaptiveLatentParams> = {},
  opts: RunAttackOptions = {},
): Promise<AdaptiveAttackReport> {
  const attack = new AdaptiveLatentAttack(detector, params);
  const sp = attack.params.sp;
  const result = await runAttack(attack, victim, x, y, opts);
  try {
    const n = result.success.length;
    let latentLabels: string[];
    let latentAlarms: Uint8Array[];
    let detection: PCLDetection | undefined;
    if (detector instanceof PCLDetector) {
      detection = await detector.detect(result.adversarial, { sp });
      const inLoss = new Set(attack.defenders);
      const idx = detector.defenders.map((d, j) => (inLoss.has(d) ? j : -1)).filter((j) => j >= 0);
      latentLabels = idx.map((j) => detector.defenders[j].label);
      latentAlarms = idx.map((j) => detection!.alarms[j]);
    } else {
      latentLabels = attack.defenders.map((d) => d.label);
      latentAlarms = [];
      for (const d of attack.defenders) latentAlarms.push(await d.flags(result.adversarial, { sp }));
    }
    const latentAny = new Uint8Array(n);
    for (const a of latentAlarms) for (let i = 0; i < n; i++) latentAny[i] |= a[i];
    const evadesLatent = Uint8Array.from(result.success, (s, i) => (s && !latentAny[i] ? 1 : 0));
    const evadesDetector = detection ? Uint8Array.from(result.success, (s, i) => (s && !detection!.adversarial[i] ? 1 : 0)) : undefined;
    return { result, latentLabels, latentAlarms, latentAny, detection, evadesLatent, evadesDetector };
  } catch (e) {
    result.adversarial.dispose();
    throw e;
  }
}
