/**
 * Why the PCL latent defenders barely work on CIFAR-10, and what clean-data-only change helps.
 *
 * Re-scores the cached artefacts of a `pcl reproduce` run (fitted detector bundle + attack cache):
 * no attack is re-run, no replica is re-fine-tuned. For each variant (a score computed from the
 * victim, the saved fine-tuned replicas and HDDA densities refitted on the same clean fit split)
 * it prints, per attack group, AUROC and FP % at 90 % detection of the paper's SP sweep (per-class
 * thresholds from the clean *training* scores of the victim-predicted class, exactly as
 * src/pipeline/evaluate.ts: `orCurve` with one calibration), clean = correctly classified test
 * images of the run's `n`, adversarial = successful examples. Nothing is fitted or calibrated on
 * adversarial data.
 *
 *   nice -n 10 npx tsx bench/cifar-latent.bench.ts --run runs/cifar-quick --fit-limit 10000
 *   nice -n 10 npx tsx bench/cifar-latent.bench.ts --run runs/mnist                (full MNIST train set)
 *        [--out bench/out/cifar-latent-<run>.json] [--no-cache]
 *
 * Features of every set are cached under bench/out/cifar-latent/<run>/ (delete to recompute).
 */
import '../src/node.js'; // the Node platform: native engine loader, fs bundles, worker threads
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../src/engine/backend.js';
import { loadDataset, disposeDataset } from '../src/data/index.js';
import { readIdx } from '../src/io/idx.js';
import { PCLDetector, splitHoldout } from '../src/defense/pcl.js';
import { LatentDefender } from '../src/defense/latent/latent-defender.js';
import { fitHdda, hddaLogLikAll, type HddaOptions } from '../src/defense/latent/hdda.js';
import { baseScores, disagreementScores, latentScores, negLogTailPValue } from '../src/defense/latent/scoring.js';
import { mapRows, sortedPerClass } from '../src/defense/latent/common.js';
import { orCurve } from '../src/eval/fusion.js';
import { aucFromCurve, fprAtTprFromCurve } from '../src/eval/roc.js';
import type { Replica } from '../src/defense/latent/replica.js';

function arg(name: string, def?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
}
const flag = (name: string) => process.argv.includes(`--${name}`);

/** Per-sample arrays of one image set; every matrix is [n, dim] row-major. */
interface FeatureSet {
  n: number;
  yTrue: Int32Array;
  yPred: Int32Array;
  m: Record<string, { data: Float32Array; dim: number }>;
}

const GROUP_OF: Record<string, string> = { fgsm: 'FGSM', jsma: 'JSMA', deepfool: 'DeepFool', 'cw-l2': 'C&W L2' };
const GROUPS = ['FGSM', 'JSMA', 'DeepFool', 'C&W L2'];

function replicaOf(d: LatentDefender): Replica {
  return (d as unknown as { state_: { replica: Replica } }).state_.replica;
}

async function extract(det: PCLDetector, x: tf.Tensor4D, yTrue: Int32Array): Promise<FeatureSet> {
  const victim = det.victim;
  const bs = 250;
  const m: FeatureSet['m'] = {};
  m.vlogits = mapRows(x, bs, (xb) => victim.logits(xb));
  for (const l of ['fc1', 'fc2']) if (victim.layerNames().includes(l)) m[`v${l}`] = mapRows(x, bs, (xb) => victim.activations(xb, l));
  for (const d of det.defenders) {
    if (!(d instanceof LatentDefender)) continue;
    const r = replicaOf(d);
    const tag = `r${d.params.checkpointLayer}`;
    m[`${tag}phi`] = mapRows(x, bs, (xb) => (r.model.apply(xb) as tf.Tensor[])[0]);
    m[`${tag}probs`] = mapRows(x, bs, (xb) => (r.model.apply(xb) as tf.Tensor[])[1]);
  }
  const k = m.vlogits.dim;
  const yPred = new Int32Array(yTrue.length);
  for (let s = 0; s < yPred.length; s++) {
    let b = 0;
    for (let j = 1; j < k; j++) if (m.vlogits.data[s * k + j] > m.vlogits.data[s * k + b]) b = j;
    yPred[s] = b;
  }
  return { n: yTrue.length, yTrue, yPred, m };
}

async function saveSet(dir: string, name: string, s: FeatureSet): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  const meta = { n: s.n, keys: Object.fromEntries(Object.entries(s.m).map(([k, v]) => [k, v.dim])) };
  await fs.writeFile(path.join(dir, `${name}.json`), JSON.stringify(meta));
  await fs.writeFile(path.join(dir, `${name}.yTrue.i32`), new Uint8Array(s.yTrue.buffer));
  await fs.writeFile(path.join(dir, `${name}.yPred.i32`), new Uint8Array(s.yPred.buffer));
  for (const [k, v] of Object.entries(s.m)) await fs.writeFile(path.join(dir, `${name}.${k}.f32`), new Uint8Array(v.data.buffer));
}

async function loadSet(dir: string, name: string): Promise<FeatureSet | undefined> {
  try {
    const meta = JSON.parse(await fs.readFile(path.join(dir, `${name}.json`), 'utf8')) as { n: number; keys: Record<string, number> };
    const i32 = async (f: string) => {
      const b = await fs.readFile(path.join(dir, f));
      return new Int32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    };
    const m: FeatureSet['m'] = {};
    for (const [k, dim] of Object.entries(meta.keys)) {
      const b = await fs.readFile(path.join(dir, `${name}.${k}.f32`));
      m[k] = { data: new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)), dim };
    }
    return { n: meta.n, yTrue: await i32(`${name}.yTrue.i32`), yPred: await i32(`${name}.yPred.i32`), m };
  } catch {
    return undefined;
  }
}

function concatSets(sets: FeatureSet[]): FeatureSet {
  const n = sets.reduce((a, s) => a + s.n, 0);
  const cat = <T extends Int32Array | Float32Array>(parts: T[], C: new (n: number) => T): T => {
    const out = new C(parts.reduce((a, p) => a + p.length, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  };
  const m: FeatureSet['m'] = {};
  for (const k of Object.keys(sets[0].m)) m[k] = { data: cat(sets.map((s) => s.m[k].data), Float32Array), dim: sets[0].m[k].dim };
  return { n, yTrue: cat(sets.map((s) => s.yTrue), Int32Array), yPred: cat(sets.map((s) => s.yPred), Int32Array), m };
}

/** Row-wise L2 normalisation (as the replica's checkpoint normalisation). */
function l2rows(f: { data: Float32Array; dim: number }): { data: Float32Array; dim: number } {
  const out = new Float32Array(f.data.length);
  const p = f.dim;
  for (let s = 0; s < f.data.length / p; s++) {
    let q = 0;
    for (let j = 0; j < p; j++) q += f.data[s * p + j] ** 2;
    const inv = 1 / Math.max(Math.sqrt(q), 1e-6);
    for (let j = 0; j < p; j++) out[s * p + j] = f.data[s * p + j] * inv;
  }
  return { data: out, dim: p };
}

/** −log p(ŷ | x) from a [n, K] matrix of probabilities (or logits with `logits`). */
function nllOfPred(f: { data: Float32Array; dim: number }, cls: Int32Array, logits = false): Float64Array {
  const k = f.dim;
  return Float64Array.from(cls, (c, s) => {
    const row = f.data.subarray(s * k, (s + 1) * k);
    if (!logits) return -Math.log(Math.max(row[c], 1e-30));
    let mx = -Infinity;
    for (const v of row) mx = Math.max(mx, v);
    let acc = 0;
    for (const v of row) acc += Math.exp(v - mx);
    return mx + Math.log(acc) - row[c];
  });
}

interface Ctx {
  fit: FeatureSet;
  k: number;
  correct: Uint8Array;
}

/** Per-class sorted clean fit scores (correctly classified fit samples, grouped by victim prediction = true label). */
function calibrate(ctx: Ctx, fitScores: ArrayLike<number>): Float32Array[] {
  return sortedPerClass(fitScores, ctx.fit.yPred, ctx.k, ctx.correct);
}

/** max (or sum, 'fisher') over components of −log tailPValue among the clean fit scores of the predicted class. */
function maxNegLogP(ctx: Ctx, comps: { fit: Float64Array; cal: Float32Array[] }[], scores: Float64Array[], cls: Int32Array, how: 'max' | 'sum' = 'max'): Float64Array {
  return Float64Array.from(cls, (c, s) => {
    let m = 0;
    comps.forEach((cp, j) => {
      const v = negLogTailPValue(cp.cal[c], scores[j][s]);
      m = how === 'max' ? Math.max(m, v) : m + v;
    });
    return m;
  });
}

/** −(log p(ŷ) − max_{k≠ŷ} log p(k)) from probabilities: minus the log-margin of the predicted class. */
function negMargin(f: { data: Float32Array; dim: number }, cls: Int32Array, logits = false): Float64Array {
  const k = f.dim;
  const lg = (v: number) => (logits ? v : Math.log(Math.max(v, 1e-30)));
  return Float64Array.from(cls, (c, s) => {
    let m = -Infinity;
    for (let j = 0; j < k; j++) if (j !== c) m = Math.max(m, lg(f.data[s * k + j]));
    return m - lg(f.data[s * k + c]);
  });
}

interface Row {
  variant: string;
  group: string;
  auroc: number;
  fp90: number;
  fp95: number;
  nClean: number;
  nAdv: number;
}

async function main(): Promise<void> {
  const engine = await initEngine();
  const run = arg('run', 'runs/cifar-quick')!;
  const runName = path.basename(run);
  const results = JSON.parse(await fs.readFile(path.join(run, 'results.json'), 'utf8')) as { dataset: string; n: number; seed: number };
  const fitLimitArg = arg('fit-limit');
  const fitLimit = fitLimitArg ? Number(fitLimitArg) : undefined;
  const cacheDir = path.join('bench/out/cifar-latent', runName);
  const t0 = performance.now();
  const det = await PCLDetector.load(path.join(run, 'detector'));
  const k = det.victim.numClasses;
  console.log(`# ${runName}: ${results.dataset}, n = ${results.n}, fit limit ${fitLimit ?? 'all'}, backend ${engine.backend}`);

  // ---- feature extraction (cached) ----
  let fit = flag('no-cache') ? undefined : await loadSet(cacheDir, 'fit');
  let clean = flag('no-cache') ? undefined : await loadSet(cacheDir, 'clean');
  const advByGroup = new Map<string, FeatureSet[]>();
  const cachedAdv = flag('no-cache') ? undefined : await loadSet(cacheDir, 'adv-index');
  if (!fit || !clean || !cachedAdv) {
    const train = await loadDataset(results.dataset, { split: 'train', limit: fitLimit, seed: results.seed });
    const { fitIdx } = splitHoldout(await train.y.data(), 0.1, results.seed);
    const xFit = tf.gather(train.x, tf.tensor1d(fitIdx, 'int32')) as tf.Tensor4D;
    const yAllTrain = Int32Array.from(await train.y.data());
    disposeDataset(train);
    fit = await extract(det, xFit, Int32Array.from(fitIdx, (i) => yAllTrain[i]));
    xFit.dispose();
    await saveSet(cacheDir, 'fit', fit);
    const test = await loadDataset(results.dataset, { split: 'test', limit: results.n, seed: results.seed });
    const yp = det.victim.predict(test.x);
    const yPredAll = Int32Array.from(await yp.data());
    yp.dispose();
    const yAll = Int32Array.from(await test.y.data());
    const correctIdx: number[] = [];
    yAll.forEach((y, i) => y === yPredAll[i] && correctIdx.push(i));
    const xClean = tf.gather(test.x, tf.tensor1d(correctIdx, 'int32')) as tf.Tensor4D;
    const yClean = Int32Array.from(correctIdx, (i) => yAll[i]);
    disposeDataset(test);
    clean = await extract(det, xClean, yClean);
    await saveSet(cacheDir, 'clean', clean);
    const index: string[] = [];
    const root = path.join(run, 'attack-cache');
    for (const name of (await fs.readdir(root)).sort()) {
      const key = JSON.parse(await fs.readFile(path.join(root, name, 'key.json'), 'utf8')) as { attack: string; params: Record<string, unknown> };
      const xa = await readIdx(path.join(root, name, 'x_adv.idx'));
      const succ = await readIdx(path.join(root, name, 'success.idx'));
      if (xa.shape[0] !== yClean.length) {
        console.log(`skip ${name}: ${xa.shape[0]} rows, expected ${yClean.length}`);
        continue;
      }
      const ok: number[] = [];
      succ.data.forEach((v, i) => v && ok.push(i));
      const xAll = tf.tensor4d(Float32Array.from(xa.data), xa.shape as [number, number, number, number]);
      const xAdv = tf.gather(xAll, tf.tensor1d(ok, 'int32')) as tf.Tensor4D;
      xAll.dispose();
      const set = await extract(det, xAdv, Int32Array.from(ok, (i) => yClean[i]));
      xAdv.dispose();
      const setName = `adv-${name}`;
      await saveSet(cacheDir, setName, set);
      index.push(`${GROUP_OF[key.attack]}\t${setName}\t${JSON.stringify(key.params)}`);
    }
    await fs.writeFile(path.join(cacheDir, 'adv-index.txt'), index.join('\n'));
    await saveSet(cacheDir, 'adv-index', { n: 0, yTrue: new Int32Array(0), yPred: new Int32Array(0), m: {} });
    console.log(`features extracted in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  for (const line of (await fs.readFile(path.join(cacheDir, 'adv-index.txt'), 'utf8')).split('\n').filter(Boolean)) {
    const [group, setName] = line.split('\t');
    const set = (await loadSet(cacheDir, setName))!;
    advByGroup.set(group, [...(advByGroup.get(group) ?? []), set]);
  }
  const adv = new Map(GROUPS.filter((g) => advByGroup.has(g)).map((g) => [g, concatSets(advByGroup.get(g)!)]));

  const correct = Uint8Array.from(fit.yPred, (p, s) => (p === fit!.yTrue[s] ? 1 : 0));
  const ctx: Ctx = { fit, k, correct };
  const accFit = correct.reduce((a, b) => a + b, 0) / fit.n;
  console.log(`fit set ${fit.n} images, victim accuracy on it ${(100 * accFit).toFixed(2)} %; clean test (correct) ${clean.n}`);

  // ---- diagnostics: replica vs victim agreement ----
  const agree = (s: FeatureSet, key: string) => {
    const f = s.m[key];
    let a = 0;
    for (let i = 0; i < s.n; i++) {
      let b = 0;
      for (let j = 1; j < k; j++) if (f.data[i * k + j] > f.data[i * k + b]) b = j;
      a += b === s.yPred[i] ? 1 : 0;
    }
    return 1 - a / Math.max(s.n, 1);
  };
  for (const key of Object.keys(fit.m).filter((q) => q.endsWith('probs'))) {
    const parts = [`fit ${(100 * agree(fit, key)).toFixed(1)}`, `clean ${(100 * agree(clean, key)).toFixed(1)}`];
    for (const [g, s] of adv) parts.push(`${g} ${(100 * agree(s, key)).toFixed(1)}`);
    console.log(`replica ${key.replace('probs', '')} disagrees with the victim (%): ${parts.join(', ')}`);
  }

  // ---- variants ----
  const rows: Row[] = [];
  const evalScorer = (variant: string, score: (s: FeatureSet) => Float64Array, calOverride?: Float32Array[]) => {
    const cal = calOverride ?? calibrate(ctx, score(fit!));
    const sc = score(clean!);
    const line: string[] = [];
    for (const [g, a] of adv) {
      const sa = score(a);
      const curve = orCurve([{ label: variant, sortedScores: cal }], { scores: [sc], classes: clean!.yPred }, { scores: [sa], classes: a.yPred });
      const r = { variant, group: g, auroc: aucFromCurve(curve), fp90: fprAtTprFromCurve(curve, 0.9), fp95: fprAtTprFromCurve(curve, 0.95), nClean: clean!.n, nAdv: a.n };
      rows.push(r);
      line.push(`${g} ${r.auroc.toFixed(3)} / ${(100 * r.fp90).toFixed(1)}`);
    }
    console.log(`${variant.padEnd(44)} ${line.join(' | ')}`);
  };

  /** Likelihood / ratio / combined scorers of an HDDA density on feature `key`. */
  const hddaScorers = (key: string, opts: Partial<HddaOptions>, tr: (f: { data: Float32Array; dim: number }) => { data: Float32Array; dim: number }, groupBy: 'true' | 'pred' | 'correct' = 'true') => {
    const f = tr(fit!.m[key]);
    let x = f.data;
    let labels: Int32Array = fit!.yTrue;
    if (groupBy === 'pred') labels = fit!.yPred;
    if (groupBy === 'correct') {
      const idx: number[] = [];
      correct.forEach((c, s) => c && idx.push(s));
      x = new Float32Array(idx.length * f.dim);
      idx.forEach((s, r) => x.set(f.data.subarray(s * f.dim, (s + 1) * f.dim), r * f.dim));
      labels = Int32Array.from(idx, (s) => fit!.yTrue[s]);
    }
    const hdda = fitHdda(x, f.dim, labels, k, opts);
    const memo = new Map<FeatureSet, Float64Array>();
    const ll = (s: FeatureSet) => {
      if (!memo.has(s)) memo.set(s, hddaLogLikAll(hdda, tr(s.m[key]).data));
      return memo.get(s)!;
    };
    const lik = (s: FeatureSet) => baseScores(ll(s), k, s.yPred, 'likelihood');
    const ratio = (s: FeatureSet) => baseScores(ll(s), k, s.yPred, 'ratio');
    return { hdda, lik, ratio };
  };
  const combine = (parts: ((s: FeatureSet) => Float64Array)[], how: 'max' | 'sum' = 'max') => {
    const comps = parts.map((p) => {
      const fs0 = p(fit!);
      return { fit: fs0, cal: calibrate(ctx, fs0) };
    });
    return (s: FeatureSet) => maxNegLogP(ctx, comps, parts.map((p, j) => (s === fit ? comps[j].fit : p(s))), s.yPred, how);
  };

  const id = (f: { data: Float32Array; dim: number }) => f;
  const latentLayers = det.defenders.filter((d): d is LatentDefender => d instanceof LatentDefender).map((d) => d.params.checkpointLayer);
  const t1 = performance.now();
  const hd: Record<string, ReturnType<typeof hddaScorers>> = {};
  for (const l of latentLayers) {
    hd[l] = hddaScorers(`r${l}phi`, {}, id);
    console.log(`HDDA dims r${l}: ${hd[l].hdda.map((h) => h.d).join(',')}`);
  }
  console.log('\nvariant (AUROC / FP % at 90 % detection, SP sweep)');
  for (const l of latentLayers) {
    evalScorer(`${l} likelihood (paper)`, hd[l].lik);
    evalScorer(`${l} ratio`, hd[l].ratio);
    evalScorer(`${l} combined (current default)`, combine([hd[l].lik, hd[l].ratio]));
  }
  // replica–victim disagreement: −log p_replica(ŷ_victim | x)
  const dis = (l: string) => (s: FeatureSet) => nllOfPred(s.m[`r${l}probs`], s.yPred);
  for (const l of latentLayers) {
    evalScorer(`${l} disagreement −log p_rep(ŷ)`, dis(l));
    evalScorer(`${l} combined + disagreement`, combine([hd[l].lik, hd[l].ratio, dis(l)]));
  }
  const msp = (s: FeatureSet) => nllOfPred(s.m.vlogits, s.yPred, true);
  evalScorer('victim −log p(ŷ) (softmax baseline)', msp);
  const main = latentLayers[latentLayers.length - 1];
  evalScorer(`${main} combined + victim −log p(ŷ)`, combine([hd[main].lik, hd[main].ratio, msp]));

  // HDDA grouping: by victim prediction / correctly classified only
  for (const g of ['pred', 'correct'] as const) {
    const h = hddaScorers(`r${main}phi`, {}, id, g);
    evalScorer(`${main} combined, HDDA on ${g === 'pred' ? 'victim-predicted' : 'correct-only'} groups`, combine([h.lik, h.ratio]));
    evalScorer(`${main} combined+dis, HDDA ${g}`, combine([h.lik, h.ratio, dis(main)]));
  }
  // fixed intrinsic dimensions
  for (const d of [10, 20, 40]) {
    const h = hddaScorers(`r${main}phi`, { dims: d }, id);
    evalScorer(`${main} combined, d = ${d}`, combine([h.lik, h.ratio]));
  }
  // victim layers without fine-tuning (L2-normalised), and the logits
  for (const l of latentLayers) {
    const h = hddaScorers(`v${l}`, {}, l2rows);
    evalScorer(`victim ${l} (no fine-tune) combined`, combine([h.lik, h.ratio]));
  }
  const hl = hddaScorers('vlogits', { dims: k }, id);
  evalScorer('victim logits, full Gaussian, likelihood', hl.lik);
  evalScorer('victim logits, full Gaussian, ratio', hl.ratio);
  evalScorer('victim logits, full Gaussian, combined', combine([hl.lik, hl.ratio]));
  // more combinations
  console.log('-- combinations');
  for (const l of latentLayers) {
    evalScorer(`${l} Fisher-sum(lik, ratio, dis)`, combine([hd[l].lik, hd[l].ratio, dis(l)], 'sum'));
    evalScorer(`${l} max(lik, dis)`, combine([hd[l].lik, dis(l)]));
    evalScorer(`${l} max(ratio, dis)`, combine([hd[l].ratio, dis(l)]));
    evalScorer(`${l} replica −log-margin of ŷ`, (s) => negMargin(s.m[`r${l}probs`], s.yPred));
  }
  evalScorer('victim −log-margin of ŷ (baseline)', (s) => negMargin({ data: Float32Array.from(s.m.vlogits.data), dim: k }, s.yPred, true));
  evalScorer(`${main} max(lik, ratio, replica margin)`, combine([hd[main].lik, hd[main].ratio, (s) => negMargin(s.m[`r${main}probs`], s.yPred)]));
  evalScorer(`${main} dis + logits-lik (max)`, combine([dis(main), hl.lik]));
  evalScorer(`${main} dis + logits-combined (max)`, combine([dis(main), hl.lik, hl.ratio]));
  evalScorer(`${main} lik + ratio + dis + logits-lik (max)`, combine([hd[main].lik, hd[main].ratio, dis(main), hl.lik]));
  // a class-conditional Gaussian on the replica's log-probabilities
  const logp = (_key: string) => (f: { data: Float32Array; dim: number }) => ({ data: Float32Array.from(f.data, (v) => Math.log(Math.max(v, 1e-30))), dim: f.dim });
  for (const l of latentLayers) {
    const rl = hddaScorers(`r${l}probs`, { dims: k }, logp(l));
    evalScorer(`replica ${l} log-probs Gaussian, combined`, combine([rl.lik, rl.ratio]));
    evalScorer(`replica ${l} log-probs Gaussian + dis (max)`, combine([rl.lik, rl.ratio, dis(l)]));
  }
  // the library's scoring: 'combined-disagreement' exactly as LatentDefender.fit / scoreUnder compute it
  for (const l of latentLayers) {
    const h = hd[l];
    const lp = (s: FeatureSet) => Float32Array.from(s.m[`r${l}probs`].data, (v) => Math.log(Math.max(v, 1e-30)));
    const ll = (s: FeatureSet) => hddaLogLikAll(h.hdda, s.m[`r${l}phi`].data);
    const llFit = ll(fit);
    const components = {
      likelihood: sortedPerClass(baseScores(llFit, k, fit.yTrue, 'likelihood'), fit.yTrue, k, correct),
      ratio: sortedPerClass(baseScores(llFit, k, fit.yTrue, 'ratio'), fit.yTrue, k, correct),
      disagreement: sortedPerClass(disagreementScores(lp(fit), k, fit.yTrue), fit.yTrue, k, correct),
    };
    const lib = (s: FeatureSet) => latentScores(s === fit ? llFit : ll(s), k, s === fit ? fit!.yTrue : s.yPred, 'combined-disagreement', components, lp(s));
    evalScorer(`${l} library 'combined-disagreement'`, lib, sortedPerClass(lib(fit), fit.yTrue, k, correct));
  }
  console.log(`\nscoring took ${((performance.now() - t1) / 1000).toFixed(1)} s`);

  const out = arg('out', `bench/out/cifar-latent-${runName}.json`)!;
  await fs.mkdir(path.dirname(out), { recursive: true });
  await fs.writeFile(out, JSON.stringify({ run, rows }, null, 1));
  det.dispose();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
