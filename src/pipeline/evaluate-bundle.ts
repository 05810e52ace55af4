import path from 'node:path';
import { performance } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs';
import { ATTACK_NAMES, checkQuantizeBits } from '../attacks/index.js';
import { loadDataset, disposeDataset } from '../data/index.js';
import { MahalanobisDetector, PcaCentreDetector } from '../defense/baselines/index.js';
import { PCLDetector } from '../defense/pcl.js';
import type { Detector } from '../defense/types.js';
import { initEngine } from '../engine/backend.js';
import { ArgumentError } from '../errors.js';
import { evaluatePCL, paperAttackPlans, type EvaluationResults } from './evaluate.js';
import { attackSubset } from './attack-subset.js';
import { beyondBoundaryPlans } from './highconf-plans.js';
import { writeEvaluationOutputs } from './outputs.js';
import { runSecurityProtocol, type SecuritySchedule } from './security.js';
import { info } from '../util/progress.js';

/** Options of {@link evaluateBundle} (what `pcl evaluate` takes). */
export interface EvaluateBundleOptions {
  defender: string;
  dataset: string;
  out: string;
  /** Attack names (default: fgsm, jsma, deepfool, cw-l2), each run with the paper's parameters. */
  attacks?: string[];
  /** Test images (default 1000). */
  n?: number;
  /** Attack only a seeded `attackN` of the `n` test images (see `ReproduceOptions.attackN`); FP still on all `n`. */
  attackN?: number;
  /** Round the adversarial examples to this many bits per pixel value before scoring (see `EvaluateOptions.quantizeAdversarial`). */
  quantizeAdversarial?: number;
  sp?: number;
  seed?: number;
  quick?: boolean;
  /** Fit and compare the Mahalanobis and PCA-centre baselines (default true). */
  baselines?: boolean;
  batchSize?: number;
  /**
   * Also run the adaptive-attack protocol (`runSecurityProtocol`: plain C&W, latent-adaptive, full
   * adaptive with BPDA, feature attack, at each SP) on the first `n` correctly classified test images
   * of the evaluation (default 100), and add the "Security" section to results.json and the report.
   */
  adaptive?: boolean | { n?: number; sps?: number[]; attacks?: string[]; schedule?: Partial<SecuritySchedule> };
}

/** What `evaluate` runs when `--attacks` is not given: the paper's four and the beyond-the-boundary attacks. */
export const DEFAULT_ATTACKS: readonly string[] = Object.freeze(['fgsm', 'jsma', 'deepfool', 'cw-l2', 'highconf']);

/** Evaluates a saved detector bundle against the paper's attacks (and, by default, the beyond-the-boundary ones) and writes the report files. */
export async function evaluateBundle(opts: EvaluateBundleOptions): Promise<EvaluationResults> {
  const engine = await initEngine();
  if (opts.quantizeAdversarial !== undefined) checkQuantizeBits(opts.quantizeAdversarial, 'evaluate: quantizeAdversarial (bits)');
  const names = opts.attacks ?? [...DEFAULT_ATTACKS];
  for (const a of names) {
    if (!(ATTACK_NAMES as string[]).includes(a) && a !== 'highconf') {
      throw new ArgumentError(`--attacks: unknown attack '${a}'; expected some of ${ATTACK_NAMES.join(', ')}, highconf`);
    }
  }
  const plans = paperAttackPlans(opts.quick).filter((p) => names.includes(p.name));
  if (names.includes('bim')) plans.push({ name: 'bim', params: { eps: 0.1 }, group: 'BIM', label: 'ε=0.1' });
  // 'highconf' = every beyond-the-boundary plan (C&W κ > 0, PGD L∞, PGD L2); 'pgd-l2' alone = its PGD L2 row
  const beyond = beyondBoundaryPlans(opts.dataset, opts.quick);
  if (names.includes('highconf')) plans.push(...beyond);
  else if (names.includes('pgd-l2')) plans.push(...beyond.filter((p) => p.name === 'pgd-l2'));
  const det = await PCLDetector.load(opts.defender);
  const extras: Detector[] = [];
  const seed = opts.seed ?? 0;
  const timings: { stage: string; seconds: number }[] = [];
  const test = await loadDataset(opts.dataset, { split: 'test', limit: opts.n ?? 1000, seed });
  try {
    if (opts.baselines ?? true) {
      const t0 = performance.now();
      const names = det.victim.layerNames();
      const layer = names[names.length - 2];
      const train = await loadDataset(opts.dataset, { split: 'train', seed });
      try {
        for (const d of [new MahalanobisDetector(det.victim, { layer }), new PcaCentreDetector(det.victim, { layer })]) {
          await d.fit(train.x as tf.Tensor4D, train.y);
          extras.push(d);
        }
      } finally {
        disposeDataset(train);
      }
      timings.push({ stage: 'fit baselines (Mahalanobis, PCA-centre)', seconds: (performance.now() - t0) / 1000 });
    }
    const attackRows = opts.attackN !== undefined && opts.attackN < test.x.shape[0] ? await attackSubset(opts.dataset, test, opts.attackN, seed) : undefined;
    const results = await evaluatePCL(det, { test, attackRows, attacks: plans, extraDetectors: extras, sp: opts.sp ?? det.params.sp, seed, batchSize: opts.batchSize, modelDir: path.join(opts.defender, 'victim'), quantizeAdversarial: opts.quantizeAdversarial });
    if (opts.adaptive) {
      const a = opts.adaptive === true ? {} : opts.adaptive;
      const t0 = performance.now();
      const yAll = Int32Array.from(await test.y.data());
      const pv = det.victim.predict(test.x);
      const pred = await pv.data();
      pv.dispose();
      const rows = Array.from(pred.keys()).filter((i) => pred[i] === yAll[i]).slice(0, a.n ?? 100);
      const x = tf.gather(test.x, tf.tensor1d(rows, 'int32')) as tf.Tensor4D;
      const needsGuides = (a.attacks ?? ['feature']).includes('feature');
      const pool = needsGuides ? await loadDataset(opts.dataset, { split: 'train', limit: 5000, seed }) : undefined;
      try {
        results.security = await runSecurityProtocol(det, x, Int32Array.from(rows, (i) => yAll[i]), {
          sps: a.sps,
          attacks: a.attacks,
          schedule: a.schedule,
          guidePool: pool && { x: pool.x, y: await pool.y.data() },
          batchSize: opts.batchSize,
          log: info,
        });
      } finally {
        x.dispose();
        if (pool) disposeDataset(pool);
      }
      timings.push({ stage: `security protocol (adaptive attacks, ${rows.length} images)`, seconds: (performance.now() - t0) / 1000 });
    }
    await writeEvaluationOutputs(opts.out, results, {
      title: `PCL evaluation — ${opts.dataset}`,
      settings: { defender: opts.defender, backend: engine.backend, quick: opts.quick ?? false },
      timings,
    });
    return results;
  } finally {
    disposeDataset(test);
    det.dispose();
    for (const d of extras) d.dispose();
  }
}
