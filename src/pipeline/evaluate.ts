import { performance } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs';
import { checkOnGrid, checkQuantizeBits, makeAttack, quantizeOutcome, runAttack } from '../attacks/index.js';
import { runInPool } from '../attacks/attack-set.js';
import { defaultPoolSize } from '../engine/pool.js';
import type { PCLDetector } from '../defense/pcl.js';
import { ArgumentError, assert } from '../errors.js';
import { confusionMatrix } from '../eval/confusion.js';
import { calibratedFusionScores, calibratedFusionThreshold, type CalibratedFusionModel } from '../defense/fusion/index.js';
import type { Detector } from '../defense/types.js';
import { paperTable1 } from '../eval/paper.js';
import { riskOperatingPoint } from '../eval/risk.js';
import { flagRate } from '../eval/roc.js';
import { progressBar, info } from '../util/progress.js';
import { attackCache, type AttackOutcome } from './attack-cache.js';
import type { AttackPlan } from './attack-plans.js';
import type { AttackGroupResult, DetectorResult, EvaluateOptions, EvaluationResults, ScoredSet } from './evaluate-types.js';
import { concatSets, fusedRule, orRule, scoreSet, singleDetector } from './evaluation-rules.js';

export { paperAttackPlans, type AttackPlan } from './attack-plans.js';
export type { AttackGroupResult, DetectorResult, EvaluateOptions, EvaluationResults } from './evaluate-types.js';

function gatherRows(x: tf.Tensor4D, idx: number[]): tf.Tensor4D {
  return tf.tidy(() => tf.gather(x, tf.tensor1d(idx, 'int32')) as tf.Tensor4D);
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
  // the attacked images: the correctly classified ones among `attackRows` (all by default)
  let attackRows: Set<number> | undefined;
  if (opts.attackRows !== undefined) {
    attackRows = new Set(Array.from(opts.attackRows));
    for (const r of attackRows) {
      assert(Number.isInteger(r) && r >= 0 && r < yAll.length, () => `evaluate: attackRows holds ${r}, not a row of the ${yAll.length} test images`, ArgumentError);
    }
  }
  const attackedPos = attackRows ? correct.flatMap((row, pos) => (attackRows!.has(row) ? [pos] : [])) : undefined;
  const xAttack = attackedPos ? gatherRows(xClean, attackedPos) : xClean;
  const yAttack = attackedPos ? Int32Array.from(attackedPos, (p) => yClean[p]) : yClean;
  const qBits = opts.quantizeAdversarial;
  if (qBits !== undefined) {
    // rounding to a grid the clean images are not on would add its own perturbation to every example
    try {
      checkQuantizeBits(qBits, 'evaluate: quantizeAdversarial (bits)');
      checkOnGrid(xClean, qBits, `evaluate: quantizeAdversarial ${qBits}`);
    } catch (e) {
      xClean.dispose();
      if (xAttack !== xClean) xAttack.dispose();
      throw e;
    }
  }
  if (opts.attacks.length > 0 && yAttack.length === 0) {
    xClean.dispose();
    if (xAttack !== xClean) xAttack.dispose();
    throw new ArgumentError(`evaluate: none of the ${attackRows?.size ?? yAll.length} test images to attack is classified correctly by the victim`);
  }
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
    const groups = new Map<string, { plans: AttackGroupResult['plans']; sets: ScoredSet[]; perPlan: { label: string; params: Record<string, unknown>; sweep?: AttackPlan['sweep']; set: ScoredSet }[]; attacked: number }>();
    for (const plan of opts.attacks) {
      const attack = makeAttack(plan.name, plan.params);
      const bar = progressBar(`${plan.group} ${plan.label}`, yAttack.length);
      t0 = performance.now();
      const workers = opts.workers ?? defaultPoolSize();
      const parallel = plan.name !== 'fgsm' && workers > 1 && opts.modelDir !== undefined;
      const cache = opts.cacheDir ? await attackCache(opts.cacheDir, { attack: attack.name, params: attack.params, seed, batchSize, yClean: yAttack, xClean: xAttack }) : undefined;
      const hit = cache ? await cache.read() : undefined;
      let res: AttackOutcome;
      if (hit) {
        res = hit;
      } else {
        res = parallel
          ? await runInPool(opts.modelDir!, attack.name, { ...attack.params }, xAttack, yAttack, batchSize, seed, workers, (done) => bar.update(done))
          : await runAttack(attack, victim, xAttack, yAttack, { batchSize, seed, onProgress: (done) => bar.update(done) });
        if (cache) await cache.write(res, (performance.now() - t0) / 1000);
      }
      bar.stop();
      const seconds = hit ? hit.seconds : (performance.now() - t0) / 1000;
      if (qBits !== undefined) {
        // as the attacker delivers them: on the pixel grid; the success check below is on the rounded images
        const q = quantizeOutcome(res, xAttack, qBits);
        res.adversarial.dispose();
        res = q;
      }
      // success as the guarded victim sees it (the attack may have run on an equivalent copy, e.g. with folded batch norms)
      const predAdv = victim.predict(res.adversarial);
      const yPredAdv = new Int32Array(await predAdv.data());
      predAdv.dispose();
      const ok: number[] = [];
      res.success.forEach((s, i) => s && yPredAdv[i] !== yAttack[i] && ok.push(i));
      const l2 = ok.reduce((a, i) => a + res.l2[i], 0) / Math.max(ok.length, 1);
      const linf = ok.reduce((a, i) => a + res.linf[i], 0) / Math.max(ok.length, 1);
      let set: ScoredSet = { yPred: new Int32Array(0), yTrue: new Int32Array(0), scores: {} };
      if (ok.length) {
        const xAdv = gatherRows(res.adversarial, ok);
        try {
          set = await scoreSet(det, extra, xAdv, Int32Array.from(ok.map((i) => yAttack[i])));
        } finally {
          xAdv.dispose();
        }
      }
      res.adversarial.dispose();
      info(`${plan.group} ${plan.label}: success ${ok.length}/${yAttack.length}, mean L2 ${l2.toFixed(3)}, ${seconds.toFixed(1)} s`);
      timings.push({ stage: `attack ${plan.group} ${plan.label}`, seconds, items: yAttack.length });
      const g = groups.get(plan.group) ?? { plans: [], sets: [], perPlan: [], attacked: 0 };
      g.plans.push({ label: plan.label, name: plan.name, params: plan.params, attacked: yAttack.length, successes: ok.length, successRate: ok.length / yAttack.length, meanL2: l2, meanLinf: linf, seconds });
      if (ok.length) {
        g.sets.push(set);
        g.perPlan.push({ label: plan.label, params: plan.params, sweep: plan.sweep, set });
      }
      g.attacked += yAttack.length;
      groups.set(plan.group, g);
    }

    // 3. metrics per group
    const latent = det.defenders.filter((d) => !['InputDefender', 'NoiseDefender', 'MarginDefender', 'TwinDefender'].includes(d.kind));
    const input = det.defenders.find((d) => d.kind === 'InputDefender');
    const noise = det.defenders.find((d) => d.kind === 'NoiseDefender');
    const margin = det.defenders.find((d) => d.kind === 'MarginDefender');
    const twin = det.defenders.find((d) => d.kind === 'TwinDefender');
    // the defenders beyond the paper's, and the suffix naming them in the OR / "without" rows
    const beyond = [noise, margin, twin].filter((d): d is Detector => d !== undefined);
    const beyondNames = [noise ? 'noise' : '', margin ? 'margin' : '', twin ? 'twin' : ''].filter(Boolean);
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
    /** The table's rows (each PCL rule, then the extra detectors) for one set of adversarial examples. */
    const detectorRows = (adv: ScoredSet): DetectorResult[] => {
      const rows: DetectorResult[] = [];
      const mainName = latent.length > 1 ? `PCL latent (${main.label.replace(/^latent:/, '')})` : 'PCL latent';
      if (main) rows.push(singleDetector(mainName, main, clean, adv, sp));
      if (latent.length > 1) {
        rows.push(orRule(`PCL latents OR (${latent.map((d) => d.label.replace(/^latent:/, '')).join(' + ')})`, latent, clean, adv, sp));
      }
      if (input) rows.push(singleDetector('PCL input', input, clean, adv, sp));
      if (noise) rows.push(singleDetector('PCL input noise', noise, clean, adv, sp));
      if (margin) rows.push(singleDetector('PCL output margin', margin, clean, adv, sp));
      if (twin) rows.push(singleDetector('PCL output twin', twin, clean, adv, sp));
      if (det.defenders.length > 1 && input) rows.push(orRule(['PCL latent OR input', ...beyondNames].join(' OR '), det.defenders, clean, adv, sp));
      if (det.defenders.length > 1) {
        // the detector's own calibrated fusion first, then the other combinations its held-out scores allow
        for (const model of fusions) {
          const name = model === fusion ? 'PCL calibrated fusion' : `PCL calibrated fusion (${model.method})`;
          rows.push(fusedRule(name, det.defenders, clean, adv, { threshold: calibratedFusionThreshold(model, sp), sp }, model.method, model.tail === true));
        }
      }
      if (beyond.length > 0 && input && fusion) {
        // the paper's defenders alone, from the same scores: what the noise / margin defenders add, on the same images
        const paperSet = det.defenders.filter((d) => !beyond.includes(d));
        const without = `(without ${beyondNames.join(' and ')})`;
        rows.push(orRule(`PCL latent OR input ${without}`, paperSet, clean, adv, sp));
        rows.push(fusedRule(`PCL calibrated fusion ${without}`, paperSet, clean, adv, undefined, fusion.method, fusion.tail === true));
      }
      // extra detectors (baselines, other scorings) get a row; other checkpoints only feed Fig. 10
      for (const d of extra) {
        if (ckptDetectors.includes(d)) continue;
        const name = d.label.endsWith(':likelihood') ? `PCL latent, paper scoring (${d.label})` : d.label;
        rows.push(singleDetector(name, d, clean, adv, sp));
      }
      return rows;
    };
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
      const rows = detectorRows(adv);
      base.detectors = rows;
      // a row of several plans (FGSM's ε list): each plan's own figures too
      if (g.plans.length > 1) {
        base.perPlan = g.plans.map((p) => {
          const set = g.perPlan.find((q) => q.label === p.label)?.set;
          return {
            label: p.label,
            successRate: p.successRate,
            meanL2: p.meanL2,
            nAdv: p.successes,
            detectors: set ? detectorRows(set).map((d) => ({ detector: d.detector, fprAt: d.fprAt, auroc: d.auroc })) : [],
          };
        });
      }

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

    // Fig. 6 layout for the beyond-the-boundary attacks: detection vs κ / ε at SP 1 % and 5 %
    const strengthSweeps: NonNullable<EvaluationResults['strengthSweeps']> = [];
    const swept = [...groups.values()].flatMap((g) => g.perPlan.filter((p) => p.sweep !== undefined));
    const kinds = [...new Set(swept.map((p) => p.sweep!.kind))];
    for (const kind of kinds) {
      const plans = swept.filter((p) => p.sweep!.kind === kind).sort((a, b) => a.sweep!.value - b.sweep!.value);
      if (plans.length < 2 && kind !== 'pgd-l2-eps') continue;
      for (const s of [1, 5]) {
        const rules: { detector: string; flags: (set: ScoredSet) => Uint8Array }[] = [];
        const perDefender = (d: Detector) => (set: ScoredSet) => {
          const t = d.thresholds(det.spFor(d.label, s));
          const sc = set.scores[d.label];
          return Uint8Array.from(sc, (v, i) => (v > t[set.yPred[i]] ? 1 : 0));
        };
        if (main) rules.push({ detector: 'PCL latent', flags: perDefender(main) });
        if (input) rules.push({ detector: 'PCL input', flags: perDefender(input) });
        if (det.defenders.length > 1) {
          rules.push({
            detector: 'PCL OR (all defenders)',
            flags: (set) => {
              const out = new Uint8Array(set.yPred.length);
              for (const d of det.defenders) perDefender(d)(set).forEach((f, i) => (out[i] |= f));
              return out;
            },
          });
        }
        if (fusion) {
          const t = calibratedFusionThreshold(fusion, s);
          rules.push({
            detector: 'PCL calibrated fusion',
            flags: (set) => Uint8Array.from(calibratedFusionScores(fusion, { scores: det.defenders.map((d) => set.scores[d.label]), classes: set.yPred }), (v) => (v > t ? 1 : 0)),
          });
        }
        for (const r of rules) {
          strengthSweeps.push({
            kind,
            detector: r.detector,
            sp: s,
            points: plans.map((p) => ({ value: p.sweep!.value, detectionRate: r.flags(p.set).reduce((a, f) => a + f, 0) / Math.max(p.set.yPred.length, 1) })),
          });
        }
      }
    }

    return {
      dataset: test.spec,
      n: yAll.length,
      ...(attackRows ? { nAttackRows: attackRows.size } : {}),
      ...(qBits !== undefined ? { quantizedBits: qBits } : {}),
      sp,
      seed,
      victimAccuracy,
      defenders: [...det.defenders, ...extra].map((d) => d.label),
      groups: groupResults,
      fgsmSweep,
      strengthSweeps,
      checkpointRocs,
      timings,
      guardedThroughputRatio: bareSeconds / guardedSeconds,
    };
  } finally {
    if (xAttack !== xClean) xAttack.dispose();
    xClean.dispose();
  }
}
