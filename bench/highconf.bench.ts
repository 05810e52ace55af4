/**
 * Beyond the boundary (issue 12): high-confidence C&W and PGD attacks against PCL on MNIST, where
 * they land at each checkpoint, and which unsupervised levers detect them.
 *
 *   npx tsx bench/highconf.bench.ts --stage attacks   # adversarial sets, cached in bench/out/highconf/attacks/
 *   npx tsx bench/highconf.bench.ts --stage fit       # extra defenders (fc1 latent, logit density), cached
 *   npx tsx bench/highconf.bench.ts --stage eval      # scores, tables (stdout + bench/out/highconf/eval.json), figure
 *
 * Options: --victim runs/mlp  --bundle runs/pcl  --n 250 (test images drawn for PGD)  --n-cw 120 (for C&W, 20×500 each)
 *          --clean 2000 (clean test images for the FP side)  --out bench/out/highconf
 *
 * Nothing here is fitted on adversarial examples: every threshold, p-value and density comes from
 * clean data (the bundle's own training scores, or the bundle's held-out clean calibration split).
 */
import '../src/node.js';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs';
import { generateAttackSet, readAttackSet } from '../src/attacks/attack-set.js';
import { loadDataset } from '../src/data/index.js';
import { initEngine } from '../src/engine/backend.js';
import { gramMatrix } from '../src/defense/input/omp.js';
import { InputDefender } from '../src/defense/input/input-defender.js';
import { overlappingReconstruction, stridedGrid } from '../src/defense/input/overlap.js';
import { empiricalPValue } from '../src/defense/types.js';
import { fitHdda, hddaLogLikAll, type HddaClass } from '../src/defense/latent/hdda.js';
import { LatentDefender } from '../src/defense/latent/latent-defender.js';
import { negLogTailPValue } from '../src/defense/latent/scoring.js';
import { PCLDetector, splitHoldout } from '../src/defense/pcl.js';
import { fitCalibratedFusion, calibratedFusionScores } from '../src/defense/fusion/calibrated.js';
import type { DefenderScores } from '../src/defense/fusion/p-values.js';
import { orCurve } from '../src/eval/fusion.js';
import { DETECTION_LEVELS, auc, fprAtTprs, roc, tprAtFprFromCurve, aucFromCurve, fprAtTprFromCurve, type RatePoint } from '../src/eval/roc.js';
import { vegaLiteToSvg } from '../src/eval/report-html.js';

export interface AttackConfig {
  id: string;
  family: 'cw' | 'pgd-linf' | 'pgd-l2';
  attack: string;
  params: Record<string, unknown>;
  /** κ for C&W, ε for PGD. */
  level: number;
}

/** The attacks of issue 12 on MNIST. PGD L∞: 40 steps of 0.01 from a random start (the issue's setting). */
export const CONFIGS: AttackConfig[] = [
  ...[0, 5, 10, 20, 40].map((k) => ({ id: `cw-k${k}`, family: 'cw' as const, attack: 'cw-l2', params: { confidence: k }, level: k })),
  ...[0.05, 0.1, 0.2, 0.3].map((e) => ({
    id: `pgd-linf-${e}`,
    family: 'pgd-linf' as const,
    attack: 'bim',
    params: { eps: e, stepSize: 0.01, steps: 40, randomStart: true },
    level: e,
  })),
  ...[1, 2, 3].map((e) => ({ id: `pgd-l2-${e}`, family: 'pgd-l2' as const, attack: 'pgd-l2', params: { eps: e, steps: 50, relStepSize: 0.05 }, level: e })),
];

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

const OPTS = {
  stage: arg('stage', 'all'),
  victim: arg('victim', 'runs/mlp'),
  bundle: arg('bundle', 'runs/pcl'),
  n: Number(arg('n', '250')),
  nCw: Number(arg('n-cw', '120')),
  clean: Number(arg('clean', '2000')),
  ref: Number(arg('ref', '3000')),
  out: arg('out', 'bench/out/highconf'),
  only: arg('only', ''),
};

function log(msg: string): void {
  process.stderr.write(`[highconf ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

/** Cheap attacks first, then C&W by priority (the issue's κ = 20 first). */
const ATTACK_ORDER = ['pgd-linf-0.05', 'pgd-linf-0.1', 'pgd-linf-0.2', 'pgd-linf-0.3', 'pgd-l2-1', 'pgd-l2-2', 'pgd-l2-3', 'cw-k20', 'cw-k0', 'cw-k40', 'cw-k10', 'cw-k5'];

async function stageAttacks(): Promise<void> {
  for (const id of ATTACK_ORDER) {
    const c = CONFIGS.find((q) => q.id === id)!;
    if (OPTS.only && !OPTS.only.split(',').includes(c.id)) continue;
    const dir = path.join(OPTS.out, 'attacks', c.id);
    if (existsSync(path.join(dir, 'summary.json'))) {
      log(`${c.id}: cached`);
      continue;
    }
    const t0 = performance.now();
    let last = 0;
    const s = await generateAttackSet({
      model: OPTS.victim,
      dataset: 'mnist',
      attack: c.attack,
      params: c.params,
      n: c.family === 'cw' ? OPTS.nCw : OPTS.n,
      seed: 0,
      batchSize: 125,
      out: dir,
      onProgress: (d, t) => {
        if (d - last >= 50 || d === t) {
          last = d;
          log(`${c.id}: ${d}/${t}`);
        }
      },
    });
    log(`${c.id}: success ${(100 * s.successRate).toFixed(1)} %, mean L2 ${s.meanL2.toFixed(3)}, L∞ ${s.meanLinf.toFixed(3)}, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  }
}

/** One evaluated set of images: the reference (held-out clean training), clean test, or an attack's successful rows. */
interface ScoredSet {
  id: string;
  n: number;
  yPred: Int32Array;
  /** Raw features by name, [n] each; higher = more adversarial unless noted in RAW_DOC. */
  raw: Record<string, Float64Array>;
  /** What the figure shows (not scores): log-likelihood, distance, replica probability, PSNR, margin. */
  land: Record<string, Float64Array>;
  /** Per bundle defender, its deployed score [n] (bundle order). */
  bundle: Float32Array[];
  /** Per-patch residual MSE [n, patchesPerImage] of the PSNR variants in PATCH_FEATURES. */
  patch: Record<string, { ppi: number; mse: Float32Array }>;
  summary?: { successRate: number; meanL2: number; meanLinf: number; n: number };
}

const PSNR_VARIANTS: { name: string; stride: number; k: number }[] = [
  { name: 'psnr-s7-k5', stride: 7, k: 5 },
  { name: 'psnr-s7-k10', stride: 7, k: 10 },
  { name: 'psnr-s2-k5', stride: 2, k: 5 },
  { name: 'psnr-s2-k10', stride: 2, k: 10 },
];

/** PSNR variants whose per-patch residuals feed a patch-typicality feature. */
const PATCH_FEATURES = ['psnr-s7-k5', 'psnr-s2-k5'];
/** Residuals below one grey level of an 8-bit image ((1/255)²) count as zero (float round-off, tanh round trips). */
const PATCH_FLOOR = (1 / 255) ** 2;

/** Whether a raw feature is scored two-sided against the clean reference (atypically small OR large). */
const TWO_SIDED = new Set(['margin']);

function rowsOf(a: ArrayLike<number>, k: number, s: number): number[] {
  return Array.from({ length: k }, (_, j) => a[s * k + j]);
}

async function scoreSet(
  id: string,
  x: tf.Tensor4D,
  det: PCLDetector,
  latents: LatentDefender[],
  input: InputDefender,
  dicts: Float32Array[],
  grams: Float64Array[],
  logitDensity: HddaClass[],
): Promise<ScoredSet> {
  const n = x.shape[0];
  const K = det.victim.numClasses;
  const t0 = performance.now();
  const logitsT = tf.tidy(() => tf.concat(Array.from({ length: Math.ceil(n / 1000) }, (_, b) => det.victim.logits(x.slice([b * 1000, 0, 0, 0], [Math.min(1000, n - b * 1000), -1, -1, -1])))));
  const logits = Float64Array.from(await logitsT.data());
  logitsT.dispose();
  const yPred = new Int32Array(n);
  const margin = new Float64Array(n);
  for (let s = 0; s < n; s++) {
    const z = rowsOf(logits, K, s);
    let c = 0;
    for (let j = 1; j < K; j++) if (z[j] > z[c]) c = j;
    yPred[s] = c;
    let o = -Infinity;
    for (let j = 0; j < K; j++) if (j !== c) o = Math.max(o, z[j]);
    margin[s] = z[c] - o;
  }
  const raw: Record<string, Float64Array> = { margin, 'margin-upper': margin };
  const land: Record<string, Float64Array> = { 'logit margin': margin };
  const ll = hddaLogLikAll(logitDensity, logits);
  raw['logits-lik'] = Float64Array.from(yPred, (c, s) => -ll[s * K + c]);
  raw['logits-anylik'] = Float64Array.from(yPred, (_, s) => -Math.max(...rowsOf(ll, K, s)));
  for (const d of latents) {
    const L = d.params.checkpointLayer;
    const { data: phi, dim } = d.features(x);
    const lla = hddaLogLikAll(d.densities, phi);
    const lp = d.replicaLogProbs(x);
    const mu = d.densities.map((h) => h.mean);
    raw[`${L}-lik`] = Float64Array.from(yPred, (c, s) => -lla[s * K + c]);
    raw[`${L}-anylik`] = Float64Array.from(yPred, (_, s) => -Math.max(...rowsOf(lla, K, s)));
    raw[`${L}-ratio`] = Float64Array.from(yPred, (c, s) => {
      const r = rowsOf(lla, K, s);
      const others = r.filter((_, j) => j !== c);
      const m = Math.max(...others);
      return -(r[c] - (m + Math.log(others.reduce((a, v) => a + Math.exp(v - m), 0))));
    });
    raw[`${L}-dis`] = Float64Array.from(yPred, (c, s) => -lp[s * K + c]);
    raw[`${L}-anydis`] = Float64Array.from(yPred, (_, s) => -Math.max(...rowsOf(lp, K, s)));
    const dist = Float64Array.from(yPred, (c, s) => {
      let q = 0;
      for (let j = 0; j < dim; j++) q += (phi[s * dim + j] - mu[c][j]) ** 2;
      return Math.sqrt(q);
    });
    raw[`${L}-dist`] = dist;
    raw[`${L}-deployed`] = Float64Array.from(d.scoreUnder(x, yPred));
    land[`${L} log-lik under ŷ`] = Float64Array.from(yPred, (c, s) => lla[s * K + c]);
    land[`${L} distance to centre of ŷ`] = dist;
    land[`${L} replica p(ŷ)`] = Float64Array.from(yPred, (c, s) => Math.exp(lp[s * K + c]));
  }
  const img = Float32Array.from(await x.data());
  const patch: ScoredSet['patch'] = {};
  for (const v of PSNR_VARIANTS) {
    const grid = stridedGrid(28, 28, 1, input.grid.p, v.stride);
    const rec = await overlappingReconstruction(img, n, grid, dicts, grams, yPred, v.k);
    const ps = rec.psnr;
    raw[v.name] = Float64Array.from(ps, (q) => -q);
    if (PATCH_FEATURES.includes(v.name)) patch[v.name] = { ppi: grid.patchesPerImage, mse: rec.patchMse };
    if (v.name === 'psnr-s7-k5') land['PSNR (dB)'] = Float64Array.from(ps);
  }
  const yT = tf.tensor1d(yPred, 'int32');
  const bundle: Float32Array[] = [];
  for (const d of det.defenders) bundle.push(await d.score(x, yT));
  yT.dispose();
  log(`${id}: ${n} images scored in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  return { id, n, yPred, raw, land, bundle, patch };
}

/** −log p-value of every row's raw feature among the reference rows of the same predicted class. */
function negLogP(name: string, set: ScoredSet, ref: ScoredSet): Float64Array {
  const K = 10;
  const sorted: Float32Array[] = [];
  const sortedNeg: Float32Array[] = [];
  for (let k = 0; k < K; k++) {
    const v = Array.from(ref.raw[name]).filter((_, s) => ref.yPred[s] === k);
    sorted.push(Float32Array.from(v).sort());
    sortedNeg.push(Float32Array.from(v, (q) => -q).sort());
  }
  const two = TWO_SIDED.has(name);
  return Float64Array.from(set.raw[name], (v, s) => {
    const c = set.yPred[s];
    const hi = negLogTailPValue(sorted[c], v);
    if (!two) return hi;
    const lo = negLogTailPValue(sortedNeg[c], -v);
    // two-sided: 2·min(p_hi, p_lo), capped at 1
    return Math.max(0, Math.max(hi, lo) - Math.LN2);
  });
}

interface RuleMetrics {
  auroc: number;
  fprAt: number[];
  detAtFp5: number;
  detAtFp1: number;
}

function metricsOf(clean: ArrayLike<number>, adv: ArrayLike<number>): RuleMetrics {
  const curve = roc(clean, adv);
  return { auroc: auc(clean, adv), fprAt: fprAtTprs(clean, adv, DETECTION_LEVELS), detAtFp5: tprAtFprFromCurve(curve, 0.05), detAtFp1: tprAtFprFromCurve(curve, 0.01) };
}

function metricsOfCurve(points: RatePoint[]): RuleMetrics {
  return {
    auroc: aucFromCurve(points),
    fprAt: DETECTION_LEVELS.map((l) => fprAtTprFromCurve(points, l)),
    detAtFp5: tprAtFprFromCurve(points, 0.05),
    detAtFp1: tprAtFprFromCurve(points, 0.01),
  };
}

const pct = (v: number) => (Number.isFinite(v) ? (100 * v).toFixed(1) : '–');

async function stageEval(): Promise<void> {
  const det = await PCLDetector.load(OPTS.bundle);
  const latents = det.defenders.filter((d): d is LatentDefender => d instanceof LatentDefender);
  const input = det.defenders.find((d): d is InputDefender => d instanceof InputDefender);
  if (!input) throw new Error(`${OPTS.bundle}: the bundle has no input defender`);
  log(`bundle ${OPTS.bundle}: ${det.labels.join(', ')}`);
  const dicts = Array.from({ length: 10 }, (_, k) => input.dictionary(k));
  const grams = dicts.map((d) => gramMatrix(d, d.length / input.grid.dim, input.grid.dim));

  // clean reference = the bundle's held-out calibration split (never used to fit any defender), correctly classified
  const train = await loadDataset('mnist', { split: 'train' });
  const yTrain = Int32Array.from(await train.y.data());
  const { fitIdx, calIdx } = splitHoldout(yTrain, det.params.calibrationFraction, det.params.seed);
  // logit density: HDDA per class on the victim's logits of (a seeded 20,000 of) the fitting split, correctly classified, by true label
  const fitSub = Int32Array.from(fitIdx.filter((_, i) => i % 3 === 0));
  const fitX = tf.gather(train.x, fitSub);
  const fitLogits = tf.tidy(() => det.victim.logits(fitX));
  const fl = await fitLogits.data();
  const fitPred = tf.tidy(() => tf.argMax(fitLogits, 1));
  const fp = await fitPred.data();
  tf.dispose([fitX, fitLogits, fitPred]);
  const keep = Array.from(fitSub.keys()).filter((i) => fp[i] === yTrain[fitSub[i]]);
  const logitDensity = fitHdda(Float64Array.from(keep.flatMap((i) => Array.from(fl.subarray(i * 10, i * 10 + 10)))), 10, keep.map((i) => yTrain[fitSub[i]]), 10, { dims: 'auto' });
  log(`logit density: HDDA on ${keep.length} clean training logits, dims ${logitDensity.map((h) => h.d).join(',')}`);

  const every = Math.max(1, Math.floor(calIdx.length / OPTS.ref));
  const refIdx = Int32Array.from(calIdx.filter((_, i) => i % every === 0).slice(0, OPTS.ref)); // evenly spaced over the held-out split
  const refX = tf.gather(train.x, refIdx);
  const refAll = await scoreSet('reference (held-out clean train)', refX, det, latents, input, dicts, grams, logitDensity);
  const refOk = Array.from(refAll.yPred.keys()).filter((s) => refAll.yPred[s] === yTrain[refIdx[s]]);
  const ref = subset(refAll, refOk, 'reference');
  refX.dispose();
  train.x.dispose();
  train.y.dispose();

  const test = await loadDataset('mnist', { split: 'test', limit: OPTS.clean, seed: 1 });
  const yTest = Int32Array.from(await test.y.data());
  const cleanAll = await scoreSet('clean test', test.x, det, latents, input, dicts, grams, logitDensity);
  const clean = subset(cleanAll, Array.from(cleanAll.yPred.keys()).filter((s) => cleanAll.yPred[s] === yTest[s]), 'clean');
  test.x.dispose();
  test.y.dispose();

  const advs: { cfg: AttackConfig; set: ScoredSet }[] = [];
  for (const cfg of CONFIGS) {
    if (OPTS.only && !OPTS.only.split(',').includes(cfg.id)) continue;
    const dir = path.join(OPTS.out, 'attacks', cfg.id);
    if (!existsSync(path.join(dir, 'summary.json'))) {
      log(`${cfg.id}: no cached attack set (run --stage attacks), skipped`);
      continue;
    }
    const a = await readAttackSet(dir);
    const ok = Array.from(a.success.keys()).filter((s) => a.success[s]);
    const xs = tf.gather(a.x, ok);
    a.x.dispose();
    const set = await scoreSet(cfg.id, xs, det, latents, input, dicts, grams, logitDensity);
    xs.dispose();
    set.summary = { successRate: a.summary.successRate, meanL2: a.summary.meanL2, meanLinf: a.summary.meanLinf, n: a.summary.n };
    advs.push({ cfg, set });
  }

  // patch typicality: per class ŷ and patch position, the empirical p-value of the patch's residual among the
  // reference images (residuals floored at one grey level); the feature is Σ_positions −log p (bounded per patch)
  for (const name of PATCH_FEATURES) {
    const { ppi } = ref.patch[name];
    const sorted: Float32Array[][] = Array.from({ length: 10 }, (_, c) =>
      Array.from({ length: ppi }, (_, j) => Float32Array.from(Array.from(ref.yPred.keys()).filter((s) => ref.yPred[s] === c), (s) => Math.max(ref.patch[name].mse[s * ppi + j], PATCH_FLOOR)).sort()),
    );
    for (const s of [ref, clean, ...advs.map((a) => a.set)]) {
      s.raw[`patchtyp-${name.slice(5)}`] = Float64Array.from({ length: s.n }, (_, i) => {
        let acc = 0;
        for (let j = 0; j < ppi; j++) acc -= Math.log(empiricalPValue(sorted[s.yPred[i]][j], Math.max(s.patch[name].mse[i * ppi + j], PATCH_FLOOR)));
        return acc;
      });
    }
  }

  // ---- rules -------------------------------------------------------------------------------
  const names = Object.keys(clean.raw);
  const nlp = new Map<string, Map<string, Float64Array>>(); // set id → feature → −log p
  for (const s of [clean, ...advs.map((a) => a.set)]) nlp.set(s.id, new Map(names.map((f) => [f, negLogP(f, s, ref)])));
  const maxOf = (feats: string[]) => (s: ScoredSet) => Float64Array.from({ length: s.n }, (_, i) => Math.max(...feats.map((f) => nlp.get(s.id)!.get(f)![i])));
  const fisherOf = (feats: string[]) => (s: ScoredSet) => Float64Array.from({ length: s.n }, (_, i) => feats.reduce((a, f) => a + nlp.get(s.id)!.get(f)![i], 0));

  const labels = det.labels;
  const li = (l: string) => labels.indexOf(l);
  const bundleIdx = { fc2: li('latent:fc2'), fc1: li('latent:fc1'), input: li('input') };
  const DEFAULT = ['latent:fc2', 'input'].filter((l) => labels.includes(l));
  const ALL = labels;
  const cal = det.calibrations();
  const ds = (s: ScoredSet, sel: string[]): DefenderScores => ({ scores: sel.map((l) => s.bundle[li(l)]), classes: s.yPred });
  const calSel = (sel: string[]) => sel.map((l) => cal[li(l)]);
  const fusionFor = (sel: string[]) => fitCalibratedFusion(calSel(sel), ds(ref, sel), 'fisher');

  type Rule = { name: string; doc: string; kind: 'score'; f: (s: ScoredSet) => ArrayLike<number> } | { name: string; doc: string; kind: 'or'; sel: string[] };
  const single = (name: string, f: (s: ScoredSet) => ArrayLike<number>, doc: string): Rule => ({ name, doc, kind: 'score', f });
  const rules: Rule[] = [
    { name: 'bundle OR (fc2 + input), SP sweep', doc: 'the default bundle, the paper\'s OR rule over the SP grid', kind: 'or', sel: DEFAULT },
    single('bundle calibrated Fisher (fc2 + input)', ((m) => (s: ScoredSet) => calibratedFusionScores(m, ds(s, DEFAULT)))(fusionFor(DEFAULT)), 'the default bundle, calibrated fusion refitted on the reference split'),
    single('latent fc2 (deployed score)', (s) => s.bundle[bundleIdx.fc2], 'combined-disagreement at fc2'),
    single('input PSNR (deployed)', (s) => s.bundle[bundleIdx.input], '−PSNR, 7×7 grid, k = 5'),
  ];
  if (bundleIdx.fc1 >= 0) {
    rules.push(single('latent fc1 (deployed score)', (s) => s.bundle[bundleIdx.fc1], 'combined-disagreement at fc1'));
    rules.push({ name: 'bundle OR (fc1 + fc2 + input), SP sweep', doc: 'all bundle defenders, OR rule', kind: 'or', sel: ALL });
    rules.push(single('bundle calibrated Fisher (fc1 + fc2 + input)', ((m) => (s: ScoredSet) => calibratedFusionScores(m, ds(s, ALL)))(fusionFor(ALL)), 'all bundle defenders'));
  }
  for (const f of names) rules.push(single(`feature ${f}`, (s) => s.raw[f], TWO_SIDED.has(f) ? 'raw (one-sided, upper)' : 'raw'));
  for (const f of ['margin']) rules.push(single(`feature ${f} (two-sided p)`, (s) => nlp.get(s.id)!.get(f)!, 'two-sided p-value vs reference'));
  const L = latents.map((d) => d.params.checkpointLayer);
  const comb = (l: string) => [`${l}-lik`, `${l}-ratio`, `${l}-dis`];
  const FUSIONS: Record<string, string[]> = {
    'max: fc2 comb + psnr (≈ default)': [...comb('fc2'), 'psnr-s7-k5'],
    'max: fc1,fc2 comb + psnr': [...L.flatMap(comb), 'psnr-s7-k5'],
    'max: fc2 comb + psnr s2': [...comb('fc2'), 'psnr-s2-k5'],
    'max: fc1,fc2 comb + psnr s2': [...L.flatMap(comb), 'psnr-s2-k5'],
    'max: fc1,fc2 comb + psnr s2 k10': [...L.flatMap(comb), 'psnr-s2-k10'],
    'max: fc1 lik,ratio + fc2 comb + psnr s2': ['fc1-lik', 'fc1-ratio', ...comb('fc2'), 'psnr-s2-k5'],
    'max: fc1,fc2 comb + margin2 + logits-lik + psnr s2': [...L.flatMap(comb), 'margin', 'logits-lik', 'psnr-s2-k5'],
    'max: fc1,fc2 comb + psnr s2 + patchtyp s7': [...L.flatMap(comb), 'psnr-s2-k5', 'patchtyp-s7-k5'],
  };

  for (const [name, feats] of Object.entries(FUSIONS)) {
    if (!feats.every((f) => names.includes(f))) continue;
    rules.push(single(name, maxOf(feats), feats.join(', ')));
    rules.push(single(name.replace('max:', 'fisher:'), fisherOf(feats), feats.join(', ')));
  }

  // ---- evaluate -------------------------------------------------------------------------------
  const results: { rule: string; doc: string; attack: string; m: RuleMetrics }[] = [];
  for (const r of rules) {
    for (const { cfg, set } of advs) {
      let m: RuleMetrics;
      if (r.kind === 'or') m = metricsOfCurve(orCurve(calSel(r.sel), ds(clean, r.sel), ds(set, r.sel)));
      else m = metricsOf(r.f(clean), r.f(set));
      results.push({ rule: r.name, doc: r.doc, attack: cfg.id, m });
    }
  }
  const ids = advs.map((a) => a.cfg.id);
  const out: string[] = [];
  out.push(`clean test images (correctly classified): ${clean.n}; reference (held-out clean training, correct): ${ref.n}`);
  out.push('');
  out.push('| attack | successful / attacked | success | mean L2 | mean L∞ |');
  out.push('|---|---:|---:|---:|---:|');
  for (const { cfg, set } of advs) out.push(`| ${cfg.id} | ${set.n} / ${set.summary!.n} | ${pct(set.summary!.successRate)} % | ${set.summary!.meanL2.toFixed(3)} | ${set.summary!.meanLinf.toFixed(3)} |`);
  out.push('');
  out.push('Detection (%) of successful examples at clean FP ≤ 5 % (threshold from the clean test scores):');
  out.push('');
  out.push(`| rule | ${ids.join(' | ')} |`);
  out.push(`|---|${ids.map(() => '---:').join('|')}|`);
  for (const r of rules) out.push(`| ${r.name} | ${ids.map((id) => pct(results.find((q) => q.rule === r.name && q.attack === id)!.m.detAtFp5)).join(' | ')} |`);
  out.push('');
  out.push('AUROC:');
  out.push('');
  out.push(`| rule | ${ids.join(' | ')} |`);
  out.push(`|---|${ids.map(() => '---:').join('|')}|`);
  for (const r of rules) out.push(`| ${r.name} | ${ids.map((id) => results.find((q) => q.rule === r.name && q.attack === id)!.m.auroc.toFixed(3)).join(' | ')} |`);
  out.push('');
  out.push('FP (%) at 90 / 95 / 98 / 99 % detection:');
  out.push('');
  out.push(`| rule | ${ids.join(' | ')} |`);
  out.push(`|---|${ids.map(() => '---').join('|')}|`);
  for (const r of rules) out.push(`| ${r.name} | ${ids.map((id) => results.find((q) => q.rule === r.name && q.attack === id)!.m.fprAt.map(pct).join(' / ')).join(' | ')} |`);
  out.push('');

  // ---- where they land --------------------------------------------------------------------------
  const landNames = Object.keys(clean.land);
  const q = (a: Float64Array, p: number) => {
    const s = Float64Array.from(a).sort();
    return s[Math.min(s.length - 1, Math.floor(p * (s.length - 1)))];
  };
  out.push('Where the examples land (median [25 %, 75 %]):');
  out.push('');
  out.push(`| set | n | ${landNames.join(' | ')} |`);
  out.push(`|---|---:|${landNames.map(() => '---').join('|')}|`);
  for (const s of [clean, ...advs.map((a) => a.set)]) {
    out.push(`| ${s.id} | ${s.n} | ${landNames.map((f) => `${q(s.land[f], 0.5).toFixed(2)} [${q(s.land[f], 0.25).toFixed(2)}, ${q(s.land[f], 0.75).toFixed(2)}]`).join(' | ')} |`);
  }
  const text = out.join('\n');
  process.stdout.write(`${text}\n`);
  const tag = arg('tag', '');
  await fs.writeFile(path.join(OPTS.out, `eval${tag}.md`), text);
  await fs.writeFile(
    path.join(OPTS.out, `eval${tag}.json`),
    JSON.stringify({ clean: clean.n, ref: ref.n, attacks: advs.map((a) => ({ id: a.cfg.id, ...a.set.summary, successful: a.set.n })), results }, null, 1),
  );

  // figure: box plots of where each set lands, one panel per quantity
  const rows: { set: string; quantity: string; value: number }[] = [];
  for (const s of [clean, ...advs.map((a) => a.set)]) for (const f of landNames) s.land[f].forEach((v) => rows.push({ set: s.id, quantity: f, value: v }));
  const order = [clean.id, ...ids];
  const svg = await vegaLiteToSvg({
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: 'Where high-confidence and PGD examples land (MNIST MLP, default PCL bundle + fc1)',
    data: { values: rows },
    facet: { field: 'quantity', type: 'nominal', title: null },
    columns: 3,
    spec: {
      width: 300,
      height: 180,
      mark: { type: 'boxplot', extent: 'min-max', size: 10 },
      encoding: {
        x: { field: 'set', type: 'nominal', sort: order, title: null, axis: { labelAngle: -60 } },
        y: { field: 'value', type: 'quantitative', title: null, scale: { zero: false } },
        color: { field: 'set', type: 'nominal', sort: order, legend: null },
      },
    },
    resolve: { scale: { y: 'independent' } },
  } as never);
  // the committed figure shows every attack: a partial run (--only, --tag) writes its own file
  const fig = `bench/results/highconf-landing${tag || (OPTS.only ? '-partial' : '')}.svg`;
  await fs.mkdir('bench/results', { recursive: true });
  await fs.writeFile(`${fig}.tmp`, svg);
  await fs.rename(`${fig}.tmp`, fig);
  log(`wrote ${fig}`);
}

function subset(s: ScoredSet, idx: number[], id: string): ScoredSet {
  const pick = (a: Float64Array) => Float64Array.from(idx, (i) => a[i]);
  return {
    id,
    n: idx.length,
    yPred: Int32Array.from(idx, (i) => s.yPred[i]),
    raw: Object.fromEntries(Object.entries(s.raw).map(([k, v]) => [k, pick(v)])),
    land: Object.fromEntries(Object.entries(s.land).map(([k, v]) => [k, pick(v)])),
    bundle: s.bundle.map((b) => Float32Array.from(idx, (i) => b[i])),
    patch: Object.fromEntries(
      Object.entries(s.patch).map(([k, v]) => [k, { ppi: v.ppi, mse: Float32Array.from({ length: idx.length * v.ppi }, (_, q) => v.mse[idx[Math.floor(q / v.ppi)] * v.ppi + (q % v.ppi)]) }]),
    ),
  };
}

async function main(): Promise<void> {
  const engine = await initEngine();
  log(`backend ${JSON.stringify(engine)}, node ${process.version}, tfjs ${tf.version.tfjs}, ${os.cpus()[0]?.model} × ${os.cpus().length}, load ${os.loadavg()[0].toFixed(1)}`);
  await fs.mkdir(OPTS.out, { recursive: true });
  if (OPTS.stage === 'attacks' || OPTS.stage === 'all') await stageAttacks();
  if (OPTS.stage === 'eval' || OPTS.stage === 'all') await stageEval();
}

await main();
