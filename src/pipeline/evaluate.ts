import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs';
import { makeAttack, runAttack, type AttackName, type AttackResult } from '../attacks/index.js';
import { writeDirAtomic } from '../io/atomic.js';
import { readIdx, writeIdx } from '../io/idx.js';
import { runInPool } from '../attacks/attack-set.js';
import { defaultPoolSize } from '../engine/pool.js';
import type { Dataset } from '../data/index.js';
import type { PCLDetector } from '../defense/pcl.js';
import type { Detector } from '../defense/types.js';
import { assert } from '../errors.js';
import { confusionMatrix, type ConfusionMatrix } from '../eval/confusion.js';
import { calibratedFusionThreshold, fusedScores, pValueMatrix, type CalibratedFusionModel, type FusionMethod, type PValueCalibration } from '../defense/fusion/index.js';
import { orCurve, orRates } from '../eval/fusion.js';
import { paperTable1 } from '../eval/paper.js';
import { riskOperatingPoint, type RiskCosts } from '../eval/risk.js';
import {
  DETECTION_LEVELS,
  aucFromCurve,
  auc,
  flagRate,
  fprAtTprFromCurve,
  fprAtTprs,
  roc,
  spSweep,
  spGrid,
  type RatePoint,
  type SpPoint,
} from '../eval/roc.js';
import { progressBar, info } from '../util/progress.js';
import { concatTyped } from '../util/typed.js';

/** One attack configuration of an evaluation; several may share a table row (`group`). */
export interface AttackPlan {
  name: AttackName;
  params: Record<string, unknown>;
  /** Table row it is pooled into, e.g. 'FGSM' (the paper pools its Table 3 parameters). */
  group: string;
  /** Short label, e.g. 'ε=0.1'. */
  label: string;
}

/**
 * The paper's attack schedule (PCL-METHOD §5, Table 3). `quick` keeps each attack but cuts its
 * budget (fewer FGSM ε, C&W 5×100 instead of 20×500) so the whole pipeline runs in minutes.
 */
export function paperAttackPlans(quick = false, cw?: { binarySteps: number; iterations: number }): AttackPlan[] {
  const eps = quick ? [0.1, 0.2, 0.3] : [0.05, 0.1, 0.2, 0.3, 0.4, 0.5];
  const cwPlan = (binarySteps: number, iterations: number): AttackPlan => ({
    name: 'cw-l2',
    params: { confidence: 0, binarySteps, iterations, lr: 0.1 },
    group: 'C&W L2',
    label: `κ=0, ${binarySteps}×${iterations}`,
  });
  return [
    ...eps.map((e) => ({ name: 'fgsm' as const, params: { eps: e }, group: 'FGSM', label: `ε=${e}` })),
    { name: 'jsma', params: { theta: 1, gamma: 0.05 }, group: 'JSMA', label: 'θ=1, γ=5%' },
    { name: 'deepfool', params: { maxIter: 50, overshoot: 0.02 }, group: 'DeepFool', label: 'maxIter=50' },
    cw ? cwPlan(cw.binarySteps, cw.iterations) : quick ? cwPlan(5, 100) : cwPlan(20, 500),
  ];
}

/** Scores of the clean or adversarial samples under every evaluated detector. */
interface ScoredSet {
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
}

export interface EvaluationResults {
  dataset: string;
  n: number;
  sp: number;
  seed: number;
  victimAccuracy: number;
  defenders: string[];
  groups: AttackGroupResult[];
  /** Detection rate vs FGSM ε per defender at SP 0.1/1/5 % (Fig. 6). */
  fgsmSweep: { detector: string; sp: number; points: { epsilon: number; detectionRate: number }[] }[];
  /** Fig. 10: ROC with one vs several checkpoints, per attack group. */
  checkpointRocs: { group: string; curves: { label: string; auroc: number; fprAt: number[]; curve: RatePoint[] }[] }[];
  timings: { stage: string; seconds: number; items?: number; note?: string }[];
  /** Guarded-inference throughput relative to the bare victim (measured in one run). */
  guardedThroughputRatio: number;
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
}

const LEVELS = DETECTION_LEVELS as number[];

function gatherRows(x: tf.Tensor4D, idx: number[]): tf.Tensor4D {
  return tf.tidy(() => tf.gather(x, tf.tensor1d(idx, 'int32')) as tf.Tensor4D);
}

/** What the evaluation uses of an attack run. */
type AttackOutcome = Pick<AttackResult, 'adversarial' | 'success' | 'l2' | 'linf'>;
type CachedAttackResult = AttackOutcome & { seconds: number };

/**
 * A cache entry for one attack run: `<cacheDir>/<key>/` with `x_adv.idx`, `success.idx`, `l2.idx`,
 * `linf.idx` and `key.json`; the key hashes everything the result depends on (the victim is implied by
 * the images it classified correctly, which are hashed too).
 */
async function attackCache(
  cacheDir: string,
  k: { attack: string; params: object; seed: number; batchSize: number; yClean: Int32Array; xClean: tf.Tensor4D },
) {
  const h = createHash('sha256');
  h.update(JSON.stringify({ attack: k.attack, params: k.params, seed: k.seed, batchSize: k.batchSize }));
  h.update(new Uint8Array(k.yClean.buffer, k.yClean.byteOffset, k.yClean.byteLength));
  const xd = (await k.xClean.data()) as Float32Array;
  h.update(new Uint8Array(xd.buffer, xd.byteOffset, xd.byteLength));
  const dir = path.join(cacheDir, `${k.attack}-${h.digest('hex').slice(0, 16)}`);
  const shape = k.xClean.shape;
  return {
    async read(): Promise<CachedAttackResult | undefined> {
      try {
        const meta = JSON.parse(await fs.readFile(path.join(dir, 'key.json'), 'utf8')) as { seconds: number };
        const [x, success, l2, linf] = await Promise.all(['x_adv', 'success', 'l2', 'linf'].map((f) => readIdx(path.join(dir, `${f}.idx`))));
        return {
          adversarial: tf.tensor4d(x.data as Float32Array, shape),
          success: Uint8Array.from(success.data),
          l2: Float32Array.from(l2.data),
          linf: Float32Array.from(linf.data),
          seconds: meta.seconds,
        };
      } catch {
        return undefined;
      }
    },
    async write(r: AttackOutcome, seconds: number): Promise<void> {
      await writeDirAtomic(dir, async (tmp) => {
        await writeIdx(path.join(tmp, 'x_adv.idx'), (await r.adversarial.data()) as Float32Array, shape);
        await writeIdx(path.join(tmp, 'success.idx'), r.success, [r.success.length]);
        await writeIdx(path.join(tmp, 'l2.idx'), r.l2, [r.l2.length]);
        await writeIdx(path.join(tmp, 'linf.idx'), r.linf, [r.linf.length]);
        await fs.writeFile(path.join(tmp, 'key.json'), JSON.stringify({ attack: k.attack, params: k.params, seed: k.seed, batchSize: k.batchSize, seconds }));
      });
    },
  };
}

/** Median wall time of `fn` over 3 runs after one warm-up, in seconds. */
async function medianSeconds(fn: () => Promise<void>): Promise<number> {
  await fn();
  const ts: number[] = [];
  for (let k = 0; k < 3; k++) {
    const t = performance.now();
    await fn();
    ts.push((performance.now() - t) / 1000);
  }
  return ts.sort((a, b) => a - b)[1];
}

/** Scores `x` under the PCL defenders and every extra detector, given the victim's labels. */
async function scoreSet(det: PCLDetector, extra: Detector[], x: tf.Tensor4D, yTrue: Int32Array): Promise<ScoredSet> {
  const s = await det.scoreAll(x);
  const scores: Record<string, Float32Array> = {};
  det.defenders.forEach((d, j) => (scores[d.label] = s.scores[j]));
  if (extra.length) {
    const yT = tf.tensor1d(s.yPred, 'int32');
    try {
      for (const d of extra) scores[d.label] = await d.score(x, yT);
    } finally {
      yT.dispose();
    }
  }
  return { yPred: s.yPred, yTrue, scores };
}

function concatSets(sets: ScoredSet[]): ScoredSet {
  const scores: Record<string, Float32Array> = {};
  for (const key of Object.keys(sets[0]?.scores ?? {})) {
    scores[key] = concatTyped(sets.map((s) => s.scores[key]), Float32Array);
  }
  const ints = (f: (s: ScoredSet) => Int32Array) => concatTyped(sets.map(f), Int32Array);
  return { yPred: ints((s) => s.yPred), yTrue: ints((s) => s.yTrue), scores };
}

function calibrationOf(d: Detector): PValueCalibration {
  return { label: d.label, sortedScores: Array.from({ length: d.numClasses }, (_, k) => d.trainScores(k)) };
}

/**
 * The paper's ROC of per-class-threshold detectors swept over one shared SP: with one detector, that
 * detector alone; with several, their OR. The curve is exact (`orCurve`: every operating point of the
 * rule family); the FP/TP-vs-SP chart (Fig. 7) samples the same family on a log grid.
 */
function spRule(name: string, ds: Detector[], clean: ScoredSet, adv: ScoredSet, sp: number): DetectorResult {
  const cals = ds.map(calibrationOf);
  const c = { scores: ds.map((d) => clean.scores[d.label]), classes: clean.yPred };
  const a = { scores: ds.map((d) => adv.scores[d.label]), classes: adv.yPred };
  const exact = orCurve(cals, c, a);
  const rates = orRates(cals, c, a);
  const r = rates(sp);
  return {
    detector: name,
    auroc: aucFromCurve(exact),
    fprAt: LEVELS.map((l) => fprAtTprFromCurve(exact, l)),
    curve: exact.map(({ fpr, tpr }) => ({ fpr, tpr })),
    spCurve: spSweep(rates, spGrid()),
    atSp: { sp, fp: r.fp, tp: r.tp },
  };
}

function singleDetector(name: string, d: Detector, clean: ScoredSet, adv: ScoredSet, sp: number): DetectorResult {
  return spRule(name, [d], clean, adv, sp);
}

function orRule(name: string, ds: Detector[], clean: ScoredSet, adv: ScoredSet, sp: number): DetectorResult {
  return spRule(name, ds, clean, adv, sp);
}

/** Fusion of per-defender p-values (Fisher unless `method`); threshold-free ROC (+ the calibrated point when given). */
function fusedRule(
  name: string,
  ds: Detector[],
  clean: ScoredSet,
  adv: ScoredSet,
  calibrated?: { threshold: number; sp: number },
  method: FusionMethod = 'fisher',
): DetectorResult {
  const cals = ds.map(calibrationOf);
  const fc = fusedScores(pValueMatrix(cals, { scores: ds.map((d) => clean.scores[d.label]), classes: clean.yPred }), method);
  const fa = fusedScores(pValueMatrix(cals, { scores: ds.map((d) => adv.scores[d.label]), classes: adv.yPred }), method);
  const curve = roc(fc, fa).map(({ fpr, tpr }) => ({ fpr, tpr }));
  const out: DetectorResult = { detector: name, auroc: auc(fc, fa), fprAt: fprAtTprs(fc, fa, LEVELS), curve };
  if (calibrated) {
    const rate = (s: Float64Array) => s.reduce((k, v) => k + (v > calibrated.threshold ? 1 : 0), 0) / s.length;
    out.atSp = { sp: calibrated.sp, fp: rate(fc), tp: rate(fa) };
  }
  return out;
}

/**
 * Runs the paper's evaluation protocol (PCL-METHOD §6) for a fitted {@link PCLDetector}:
 * false positives on correctly classified clean test samples, detection on successful adversarial
 * samples, ROC by sweeping SP, AUROC, FP at 90/95/98/99 % detection, Figs. 6, 7, 9 and 10 data,
 * the risk view, and guarded-inference throughput. No adversarial data touches any fit.
 */
export async function evaluatePCL(det: PCLDetector, opts: EvaluateOptions): Promise<EvaluationResults> {
  const sp = opts.sp ?? 1;
  const batchSize = opts.batchSize ?? 100;
  const seed = opts.seed ?? 0;
  const extra = opts.extraDetectors ?? [];
  const victim = det.victim;
  const test = opts.test;
  assert(test.x.shape[0] > 0, () => `evaluate: the test set is empty`);
  const timings: EvaluationResults['timings'] = [];

  // 1. victim on the clean test images; keep the correctly classified ones (the paper's FP protocol)
  const yPredT = victim.predict(test.x);
  const yPredAll = new Int32Array(await yPredT.data());
  yPredT.dispose();
  let t0: number;
  const yAll = new Int32Array(await test.y.data());
  const correct: number[] = [];
  yAll.forEach((y, i) => y === yPredAll[i] && correct.push(i));
  const victimAccuracy = correct.length / yAll.length;
  const xClean = gatherRows(test.x, correct);
  const yClean = Int32Array.from(correct.map((i) => yAll[i]));
  try {
    t0 = performance.now();
    const clean = await scoreSet(det, extra, xClean, yClean);
    const guardedSeconds = (performance.now() - t0) / 1000;
    // time the bare victim on the same images in the same run (after a warm-up), for the throughput ratio
    const bareSeconds = await medianSeconds(async () => {
      const p = victim.predict(xClean);
      await p.data();
      p.dispose();
    });
    timings.push({ stage: 'victim inference (clean)', seconds: bareSeconds, items: correct.length });
    timings.push({ stage: 'guarded inference: victim + all detectors (clean)', seconds: guardedSeconds, items: correct.length });

    // 2. attacks, grouped into table rows
    const groups = new Map<string, { plans: AttackGroupResult['plans']; sets: ScoredSet[]; perPlan: { label: string; params: Record<string, unknown>; set: ScoredSet }[]; attacked: number }>();
    for (const plan of opts.attacks) {
      const attack = makeAttack(plan.name, plan.params);
      const bar = progressBar(`${plan.group} ${plan.label}`, yClean.length);
      t0 = performance.now();
      const workers = opts.workers ?? defaultPoolSize();
      const parallel = plan.name !== 'fgsm' && workers > 1 && opts.modelDir !== undefined;
      const cache = opts.cacheDir ? await attackCache(opts.cacheDir, { attack: attack.name, params: attack.params, seed, batchSize, yClean, xClean }) : undefined;
      const hit = cache ? await cache.read() : undefined;
      let res: AttackOutcome;
      if (hit) {
        res = hit;
      } else {
        res = parallel
          ? await runInPool(opts.modelDir!, attack.name, { ...attack.params }, xClean, yClean, batchSize, seed, workers, (done) => bar.update(done))
          : await runAttack(attack, victim, xClean, yClean, { batchSize, seed, onProgress: (done) => bar.update(done) });
        if (cache) await cache.write(res, (performance.now() - t0) / 1000);
      }
      bar.stop();
      const seconds = hit ? hit.seconds : (performance.now() - t0) / 1000;
      const ok: number[] = [];
      res.success.forEach((s, i) => s && ok.push(i));
      const l2 = ok.reduce((a, i) => a + res.l2[i], 0) / Math.max(ok.length, 1);
      const linf = ok.reduce((a, i) => a + res.linf[i], 0) / Math.max(ok.length, 1);
      let set: ScoredSet = { yPred: new Int32Array(0), yTrue: new Int32Array(0), scores: {} };
      if (ok.length) {
        const xAdv = gatherRows(res.adversarial, ok);
        try {
          set = await scoreSet(det, extra, xAdv, Int32Array.from(ok.map((i) => yClean[i])));
        } finally {
          xAdv.dispose();
        }
      }
      res.adversarial.dispose();
      info(`${plan.group} ${plan.label}: success ${ok.length}/${yClean.length}, mean L2 ${l2.toFixed(3)}, ${seconds.toFixed(1)} s`);
      timings.push({ stage: `attack ${plan.group} ${plan.label}`, seconds, items: yClean.length });
      const g = groups.get(plan.group) ?? { plans: [], sets: [], perPlan: [], attacked: 0 };
      g.plans.push({ label: plan.label, name: plan.name, params: plan.params, attacked: yClean.length, successes: ok.length, successRate: ok.length / yClean.length, meanL2: l2, meanLinf: linf, seconds });
      if (ok.length) {
        g.sets.push(set);
        g.perPlan.push({ label: plan.label, params: plan.params, set });
      }
      g.attacked += yClean.length;
      groups.set(plan.group, g);
    }

    // 3. metrics per group
    const latent = det.defenders.filter((d) => d.kind !== 'InputDefender');
    const input = det.defenders.find((d) => d.kind === 'InputDefender');
    const main = latent[latent.length - 1];
    const fusion = det.fusionModel && !det.fusionModel.weights ? det.fusionModel : undefined;
    const fusions: CalibratedFusionModel[] = fusion ? [fusion] : [];
    for (const m of ['fisher', 'omnibus'] as const) {
      if (fusions.some((f) => f.method === m)) continue;
      const model = det.fusionModelFor(m);
      if (model) fusions.push(model);
    }
    const groupResults: AttackGroupResult[] = [];
    const checkpointRocs: EvaluationResults['checkpointRocs'] = [];
    const ckptDetectors = (opts.checkpointLabels ?? [])
      .map((l) => [...det.defenders, ...extra].find((d) => d.label === l))
      .filter((d): d is Detector => d !== undefined);
    for (const [group, g] of groups) {
      const nAdv = g.sets.reduce((a, s) => a + s.yPred.length, 0);
      const base: AttackGroupResult = {
        group,
        plans: g.plans,
        nClean: yClean.length,
        nAdv,
        successRate: nAdv / Math.max(g.attacked, 1),
        detectors: [],
      };
      const paper = paperTable1(test.spec, group);
      if (paper) {
        base.paperFprAt = [...paper.fprAt];
        base.paperNote = paper.note;
      }
      if (nAdv === 0) {
        groupResults.push(base);
        continue;
      }
      const adv = concatSets(g.sets);
      const rows: DetectorResult[] = [];
      const mainName = latent.length > 1 ? `PCL latent (${main.label.replace(/^latent:/, '')})` : 'PCL latent';
      if (main) rows.push(singleDetector(mainName, main, clean, adv, sp));
      if (latent.length > 1) {
        rows.push(orRule(`PCL latents OR (${latent.map((d) => d.label.replace(/^latent:/, '')).join(' + ')})`, latent, clean, adv, sp));
      }
      if (input) rows.push(singleDetector('PCL input', input, clean, adv, sp));
      if (det.defenders.length > 1 && input) rows.push(orRule('PCL latent OR input', det.defenders, clean, adv, sp));
      if (det.defenders.length > 1) {
        // the detector's own calibrated fusion first, then the other combinations its held-out scores allow
        for (const model of fusions) {
          const name = model === fusion ? 'PCL calibrated fusion' : `PCL calibrated fusion (${model.method})`;
          rows.push(fusedRule(name, det.defenders, clean, adv, { threshold: calibratedFusionThreshold(model, sp), sp }, model.method));
        }
      }
      // extra detectors (baselines, other scorings) get a row; other checkpoints only feed Fig. 10
      for (const d of extra) {
        if (ckptDetectors.includes(d)) continue;
        const name = d.label.endsWith(':likelihood') ? `PCL latent, paper scoring (${d.label})` : d.label;
        rows.push(singleDetector(name, d, clean, adv, sp));
      }
      base.detectors = rows;

      // Fig. 9: adversarial confusion matrix without / with PCL (OR at SP)
      const flags = new Uint8Array(adv.yPred.length);
      det.defenders.forEach((d) => {
        const t = d.thresholds(det.spFor(d.label, sp));
        const s = adv.scores[d.label];
        for (let i = 0; i < flags.length; i++) if (s[i] > t[adv.yPred[i]]) flags[i] = 1;
      });
      const names = test.classNames;
      base.confusion = {
        without: confusionMatrix(adv.yTrue, adv.yPred, victim.numClasses, undefined, names),
        with: confusionMatrix(adv.yTrue, adv.yPred, victim.numClasses, flags, names),
      };

      // the risk view on the OR rule (or the latent defender alone)
      const riskRow = rows.find((r) => r.detector.includes('OR')) ?? rows[0];
      if (opts.risk && riskRow?.spCurve) {
        const r = riskOperatingPoint(riskRow.spCurve, opts.risk.costs, opts.risk.pAttack);
        base.risk = {
          detector: riskRow.detector,
          costs: opts.risk.costs,
          pAttack: opts.risk.pAttack,
          lambda: r.lambda,
          sp: r.point.sp,
          fpr: r.point.fpr,
          tpr: r.point.tpr,
          expectedCost: r.expectedCost,
        };
      }
      groupResults.push(base);

      // Fig. 10: one vs several checkpoints
      if (ckptDetectors.length > 1) {
        const curves = ckptDetectors.map((d) => {
          const r = singleDetector(d.label, d, clean, adv, sp);
          return { label: d.label, auroc: r.auroc, fprAt: r.fprAt, curve: r.curve };
        });
        const or = orRule(`OR of ${ckptDetectors.length} checkpoints`, ckptDetectors, clean, adv, sp);
        const fz = fusedRule(`Fisher fusion of ${ckptDetectors.length} checkpoints`, ckptDetectors, clean, adv);
        for (const r of [or, fz]) curves.push({ label: r.detector, auroc: r.auroc, fprAt: r.fprAt, curve: r.curve });
        checkpointRocs.push({ group, curves });
      }
    }

    // Fig. 6: detection vs FGSM ε per defender at SP 0.1 / 1 / 5 %
    const fgsmSweep: EvaluationResults['fgsmSweep'] = [];
    const fg = [...groups.values()].find((g) => g.perPlan.some((p) => 'eps' in p.params) && g.plans.every((p) => p.name === 'fgsm'));
    if (fg) {
      for (const d of [main, input].filter((q): q is Detector => q !== undefined)) {
        for (const s of [0.1, 1, 5]) {
          const t = d.thresholds(s);
          fgsmSweep.push({
            detector: d === main ? 'PCL latent' : 'PCL input',
            sp: s,
            points: fg.perPlan.map((p) => ({
              epsilon: Number(p.params.eps),
              detectionRate: flagRate({ scores: p.set.scores[d.label], classes: p.set.yPred }, t),
            })),
          });
        }
      }
    }

    return {
      dataset: test.spec,
      n: yAll.length,
      sp,
      seed,
      victimAccuracy,
      defenders: [...det.defenders, ...extra].map((d) => d.label),
      groups: groupResults,
      fgsmSweep,
      checkpointRocs,
      timings,
      guardedThroughputRatio: bareSeconds / guardedSeconds,
    };
  } finally {
    xClean.dispose();
  }
}
