import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ATTACK_SET_FILES } from '../attacks/attack-set.js';
import { measure, summarize } from '../attacks/common.js';
import { makeAttack, runAttack } from '../attacks/registry.js';
import type { Attack } from '../attacks/types.js';
import { PCLDetector } from '../defense/pcl.js';
import { writeDirAtomic } from '../io/atomic.js';
import { initEngine } from '../engine/backend.js';
import { writeIdx } from '../io/idx.js';
import { readChallenge, type Challenge } from './manifest.js';
import { projectToBudget, validateSubmission } from './submission.js';

/**
 * Builds the attack to run on a challenge. Registry attacks need only the name; attacks that know
 * the defense (adaptive, feature) get the challenge's loaded detector (or the one `--defender` names).
 */
export type ChallengeAttackFactory = (detector: PCLDetector) => Attack;

/** Options of {@link attackChallenge}. */
export interface ChallengeAttackOptions {
  /** Challenge folder (`pcl challenge pack`). */
  challenge: string;
  /** A registry attack name (`cw-l2`, `fgsm`, …) with `params`, or a factory given the detector. */
  attack: string | ChallengeAttackFactory;
  params?: Record<string, unknown>;
  /** Detector bundle handed to a factory; default the challenge's own. */
  defender?: string;
  batchSize?: number;
  seed?: number;
  /** Output folder (the attack-set layout; `x_adv.idx` is the submission), written atomically. */
  out: string;
  onProgress?: (done: number, total: number) => void;
}

/** `summary.json` of a challenge attack. */
export interface ChallengeAttackSummary {
  attack: string;
  params: Record<string, unknown>;
  challenge: string;
  n: number;
  /** After projection onto the budget: share of rows that fool the victim. */
  successRate: number;
  meanL2: number;
  meanLinf: number;
  /** Rows the attack left over budget, scaled back onto it (their success is re-checked). */
  projectedRows: number;
  /** Share of rows that fooled the victim before the projection. */
  successRateBeforeProjection: number;
  seconds: number;
  seed: number;
  batchSize: number;
  /** File to hand to `pcl challenge score --submission`. */
  submission: string;
}

/**
 * `pcl attack --challenge CH`: attacks exactly the challenge's rows on its victim, projects every
 * row onto the budget (L∞ clip, then L2 scaling), re-checks success with a forward pass, validates
 * the result as `challenge score` would, and writes an attack-set folder whose `x_adv.idx` is a
 * valid submission. Returns the summary.
 */
export async function attackChallenge(opts: ChallengeAttackOptions): Promise<ChallengeAttackSummary> {
  await initEngine();
  const ch: Challenge = await readChallenge(opts.challenge);
  const det = await PCLDetector.load(opts.defender ?? ch.detectorDir);
  const { n, imageShape, budget } = ch.manifest;
  const shape = [n, ...imageShape] as [number, number, number, number];
  const x = tf.tensor4d(ch.xClean, shape);
  const batchSize = opts.batchSize ?? 100;
  const seed = opts.seed ?? 0;
  let adv: tf.Tensor4D | undefined;
  try {
    const attack = typeof opts.attack === 'string' ? makeAttack(opts.attack, opts.params ?? {}) : opts.attack(det);
    const t0 = performance.now();
    const r = await runAttack(attack, det.victim, x, ch.yTrue, { batchSize, seed, onProgress: opts.onProgress });
    const seconds = (performance.now() - t0) / 1000;
    const before = summarize(r);
    const data = Float32Array.from((await r.adversarial.data()) as Float32Array);
    r.adversarial.dispose();
    const size = imageShape[0] * imageShape[1] * imageShape[2];
    const projected = projectToBudget(data, ch.xClean, n, size, budget);
    // the same check the scorer runs: a submission we write must never be refused
    validateSubmission({ dtype: 'float32', shape, data }, ch.xClean, shape, budget, 'projected attack');
    adv = tf.tensor4d(data, shape);
    const m = await measure(det.victim, x, adv, ch.yTrue);
    const after = summarize({ ...m, labels: ch.yTrue });
    const summary: ChallengeAttackSummary = {
      attack: attack.name,
      params: { ...attack.params },
      challenge: ch.manifest.id,
      n,
      successRate: after.successRate,
      meanL2: after.meanL2,
      meanLinf: after.meanLinf,
      projectedRows: projected.length,
      successRateBeforeProjection: before.successRate,
      seconds,
      seed,
      batchSize,
      submission: path.join(opts.out, ATTACK_SET_FILES.xAdv),
    };
    await writeDirAtomic(opts.out, async (tmp) => {
      await writeIdx(path.join(tmp, ATTACK_SET_FILES.xAdv), data, shape);
      await writeIdx(path.join(tmp, ATTACK_SET_FILES.yTrue), Uint8Array.from(ch.yTrue), [n]);
      await writeIdx(path.join(tmp, ATTACK_SET_FILES.cleanIndex), ch.indices, [n]);
      await writeIdx(path.join(tmp, ATTACK_SET_FILES.success), m.success, [n]);
      await writeIdx(path.join(tmp, ATTACK_SET_FILES.yAdv), m.predicted, [n]);
      await fs.writeFile(path.join(tmp, ATTACK_SET_FILES.summary), `${JSON.stringify(summary, null, 2)}\n`);
    });
    return summary;
  } finally {
    x.dispose();
    adv?.dispose();
    det.dispose();
  }
}
