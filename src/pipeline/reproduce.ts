import { denseLayerBefore, recommendedInputParams } from '../defense/recommended.js';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs';
import { checkQuantizeBits } from '../attacks/quantize.js';
import { loadDataset, disposeDataset, parseDatasetSpec, type Dataset } from '../data/index.js';
import { MahalanobisDetector, PcaCentreDetector } from '../defense/baselines/index.js';
import { LatentDefender } from '../defense/latent/latent-defender.js';
import { PCLDetector, splitHoldout, type PCLDetectorParams } from '../defense/pcl.js';
import { TwinDefender } from '../defense/output/twin-defender.js';
import { loadDetector } from '../defense/persistence.js';
import { writeDirAtomic, writeFileAtomic } from '../io/atomic.js';
import type { Detector } from '../defense/types.js';
import { initEngine } from '../engine/backend.js';
import { ArgumentError } from '../errors.js';
import { Classifier } from '../models/classifier.js';
import { loadClassifier, saveClassifier, type ClassifierMetrics } from '../models/io.js';
import { foldBatchNorm } from '../models/fold.js';
import { trainVictim, type TrainVictimOptions } from '../models/train.js';
import { buildModel, type Arch } from '../models/zoo.js';
import { info } from '../util/progress.js';
import { evaluatePCL, paperAttackPlans, type AttackPlan, type EvaluationResults } from './evaluate.js';
import { beyondBoundaryPlans } from './highconf-plans.js';
import { writeEvaluationOutputs } from './outputs.js';
import { attackSubset } from './attack-subset.js';

/** Options of {@link reproduce} (what `pcl reproduce` takes). */
export interface ReproduceOptions {
  /** 'mnist', 'cifar10:DIR' or 'imagenet10:DIR' (also 'idx:DIR' for any MNIST-shaped IDX dataset). */
  dataset: string;
  /** Reduced budget that runs in a few minutes (README quick start). */
  quick?: boolean;
  out: string;
  seed?: number;
  /** Test images (default 1,000; 300 with --quick). */
  n?: number;
  /** Attack plans (default: the paper's Table 3 and the beyond-the-boundary attacks of `beyondBoundaryPlans`, reduced with --quick). */
  attacks?: AttackPlan[];
  /** Use this trained victim folder (copied into `out/victim`) instead of training one. */
  victim?: string;
  /**
   * Which of the default attacks to run (ignored when `attacks` is given): any of 'paper' (the
   * paper's Table 3 set for the dataset), 'fgsm', 'jsma', 'deepfool', 'cw-l2' (its members),
   * 'highconf' (the beyond-the-boundary attacks) or its parts 'cw-high' (C&W κ 5–40) and 'pgd'
   * (PGD L∞ and L2). Default: paper + highconf.
   */
  attackSet?: string[];
  /** C&W schedule of every C&W row (κ = 0 and the high-confidence ones), instead of the dataset's default. */
  cw?: { binarySteps: number; iterations: number };
  /** Training images the defenders are fitted on (a seeded subset), instead of the dataset's default. */
  fitLimit?: number;
  /** Fine-tuning epochs of each latent replica, instead of the dataset's default. */
  latentEpochs?: number;
  /** Add the input noise defender (`NoiseDefender`, 'input:noise') to the PCL detector; default false (the paper's defenders). */
  noiseDefender?: boolean;
  /** Add the output margin defender (`MarginDefender`, 'output:margin') to the PCL detector; default false. */
  marginDefender?: boolean;
  /** Model folder of a twin (`TwinDefender`, 'output:twin'): another classifier trained on the same clean data. */
  twin?: string;
  /**
   * Fold a batch-normalised victim's batch norms into its convolutions (`foldBatchNorm`) before attacking and
   * defending it: the same function, cheaper attacks. Default false: the latent defenders then fine-tune replicas
   * without batch statistics, which on ImageNet-10 detected DeepFool and C&W worse (bench/results/reproduce-imagenet10.md § Session 8).
   * 'attacks': fold a copy (`out/victim-folded`) for the attack workers only; the defenders keep the batch-normalised
   * victim, which also re-checks every adversarial example's success.
   */
  foldBatchNorm?: boolean | 'attacks';
  /**
   * Attack only this many of the `n` test images (a seeded subset, the first `attackN` of the same draw, so it
   * is the set `n = attackN` would attack), while false positives are still counted on all `n`. Default: all `n`.
   */
  attackN?: number;
  /** Round the adversarial examples to this many bits per pixel value before scoring (see `EvaluateOptions.quantizeAdversarial`); the attack cache keeps them unrounded. */
  quantizeAdversarial?: number;
  /** Side of the input defender's patches in pixels, instead of its default (8; see `InputDefenderParams.patchSize`). */
  inputPatch?: number;
  /** Atoms of each class dictionary of the input defender, instead of its default (225). */
  dictionarySize?: number;
  /**
   * Latent checkpoint layers of the PCL detector, in order; the last is the table's single-checkpoint row. Default:
   * the second-to-last layer and the hidden dense layer before it (fc1 + fc2 on the paper's networks).
   */
  checkpoints?: string[];
}

/** The names `ReproduceOptions.attackSet` accepts. */
export const REPRODUCE_ATTACK_SETS = ['paper', 'fgsm', 'jsma', 'deepfool', 'cw-l2', 'highconf', 'cw-high', 'pgd'] as const;

/**
 * The attack plans `reproduce` runs for `plan` with the selection `names` (see
 * `ReproduceOptions.attackSet`). Throws an ArgumentError naming an unknown entry, or a selection
 * that leaves nothing to run on this dataset (e.g. 'jsma' on ImageNet-10, which the paper skips).
 */
export function selectReproduceAttacks(plan: ReproducePlan, dataset: string, quick: boolean, names?: string[]): AttackPlan[] {
  const want = new Set(names && names.length > 0 ? names : ['paper', 'highconf']);
  for (const w of want) {
    if (!(REPRODUCE_ATTACK_SETS as readonly string[]).includes(w)) {
      throw new ArgumentError(`attacks: unknown '${w}'; expected some of ${REPRODUCE_ATTACK_SETS.join(', ')}`);
    }
  }
  const paper = attackPlansFor(plan, quick).filter((p) => want.has('paper') || want.has(p.name));
  const beyond = beyondBoundaryPlans(dataset, quick, plan.cw).filter(
    (p) => want.has('highconf') || (want.has('cw-high') && p.name === 'cw-l2') || (want.has('pgd') && p.name !== 'cw-l2'),
  );
  const out = [...paper, ...beyond];
  if (out.length === 0) throw new ArgumentError(`attacks: '${[...want].join(',')}' selects no attack on ${dataset}`);
  return out;
}

/** The reduced-width CIFAR victim that trains in under an hour on 2 cores (see bench/RESULTS.md). */
export const CIFAR_REPRO_WIDTH = 0.25;

/** What `reproduce` runs on one dataset (see {@link reproducePlan}). */
export interface ReproducePlan {
  arch: Arch;
  width: number;
  epochs?: number;
  /** Extra victim-training settings (CIFAR: the recipe of bench/results/train.md). */
  train?: Pick<TrainVictimOptions, 'batchSize' | 'lr' | 'lrSchedule' | 'augment' | 'batchNorm' | 'limit' | 'testLimit'>;
  fitLimit?: number;
  latentEpochs: number;
  patchesPerClass?: number;
  /** Dictionary-learning codes ('omp' is 2.4× faster than LARS at equal PSNR, bench/results/input.md). */
  inputCodes?: 'lars' | 'omp';
  /** C&W schedule when it differs from the paper's 20 × 500 (CIFAR: the CNN makes the paper's schedule ≈ 40 min on 2 cores). */
  cw?: { binarySteps: number; iterations: number };
  n: number;
  /** The paper's Table 3 for ImageNet: FGS ε ∈ {0.01, 0.05}, DeepFool, C&W; no JSMA. */
  imagenetAttacks?: boolean;
  /** Only the main checkpoint (the second-to-last layer), no second one for Fig. 10 (quick runs). */
  oneCheckpoint?: boolean;
}

/**
 * The victim, PCL and attack budgets `reproduce` uses for `dataset` (full or `quick`). Throws
 * `ArgumentError` for a dataset kind it has no plan for.
 */
export function reproducePlan(dataset: string, quick: boolean): ReproducePlan {
  const kind = parseDatasetSpec(dataset).kind;
  if (kind === 'mnist' || kind === 'idx') {
    return quick
      ? { arch: 'mnist-mlp', width: 1, epochs: 3, fitLimit: 12000, latentEpochs: 1, patchesPerClass: 20000, n: 300 }
      : { arch: 'mnist-mlp', width: 1, latentEpochs: 3, inputCodes: 'omp', n: 1000 };
  }
  if (kind === 'cifar10') {
    // 71 % in 4 epochs (57 min on 2 cores): width 0.25, Adam 1e-3 with a cosine schedule, flips
    const train = { batchSize: 64, lr: 1e-3, lrSchedule: 'cosine' as const, augment: { flip: true } };
    // quick: a narrow victim (width 0.125) trained for 2 epochs on 5,000 images, one checkpoint, small budgets
    return quick
      ? { arch: 'cifar-cnn', width: QUICK_WIDTH, epochs: 2, train: { ...train, limit: 5000, testLimit: 1000 }, ...QUICK_PCL }
      : { arch: 'cifar-cnn', width: CIFAR_REPRO_WIDTH, epochs: 4, train, fitLimit: 20000, latentEpochs: 3, inputCodes: 'omp', cw: { binarySteps: 10, iterations: 200 }, n: 1000 };
  }
  if (kind === 'imagenet10') {
    // the 64×64 AlexNet-style victim with batch norm, flips and crops (TRAIN_DEFAULTS); quick: width 0.125,
    // 2 epochs on 4,000 of the 9,469 training images (38.6 % on the whole val split in one measured run)
    const train = { batchSize: 64, lr: 1e-3, lrSchedule: 'cosine' as const, augment: { flip: true, crop: 4 }, batchNorm: true };
    return quick
      ? { arch: 'imagenet-alexnet', width: QUICK_WIDTH, epochs: 2, train: { ...train, limit: 4000, testLimit: 1000 }, ...QUICK_PCL, imagenetAttacks: true }
      : { arch: 'imagenet-alexnet', width: 1, train, latentEpochs: 3, inputCodes: 'omp', cw: { binarySteps: 10, iterations: 200 }, n: 1000, imagenetAttacks: true };
  }
  throw new ArgumentError(`reproduce: --dataset must be mnist, idx:DIR, cifar10:DIR or imagenet10:DIR, got '${dataset}'`);
}

/** Conv-width multiplier of the small victims that `--quick` trains on CIFAR-10 and ImageNet-10. */
export const QUICK_WIDTH = 0.125;

/**
 * PCL and attack budgets of `--quick` on the CNN datasets (≤ 10 min of CPU time in all): PCL fitted on
 * 3,000 training images with one checkpoint (fc2), 2,000 patches per class, C&W 3 × 30, 60 test images.
 * (With 1,000 fitting images and a 20 % victim, a class had no correctly classified held-out image to
 * calibrate the fusion on.)
 */
const QUICK_PCL = {
  fitLimit: 3000,
  latentEpochs: 1,
  patchesPerClass: 2000,
  inputCodes: 'omp' as const,
  cw: { binarySteps: 3, iterations: 30 },
  n: 60,
  oneCheckpoint: true,
};

/**
 * The paper's Table 3 attacks for `plan`: ImageNet-10 runs FGS at ε ∈ {0.01, 0.05}, DeepFool and C&W
 * (the paper skips JSMA there); the other datasets take `paperAttackPlans`.
 */
export function attackPlansFor(plan: ReproducePlan, quick: boolean): AttackPlan[] {
  const base = paperAttackPlans(quick, plan.cw);
  if (!plan.imagenetAttacks) return base;
  const fgsm: AttackPlan[] = [0.01, 0.05].map((e) => ({ name: 'fgsm', params: { eps: e }, group: 'FGSM', label: `ε=${e}` }));
  return [...fgsm, ...base.filter((p) => p.name !== 'fgsm' && p.name !== 'jsma')];
}

/**
 * The detector bundle in `detDir`, if one exists that a fresh fit would reproduce: the same victim
 * weights, defenders and settings as `want` (an unfitted detector). Anything else (missing, damaged,
 * different) → undefined, and `reproduce` refits.
 */
async function reusableDetector(detDir: string, victimDir: string, want: PCLDetector, fitData: FitData): Promise<PCLDetector | undefined> {
  if (!(await exists(path.join(detDir, 'manifest.json')))) return undefined;
  if (!(await sameFitData(detDir, fitData))) return undefined;
  try {
    if (!(await sameVictim(detDir, victimDir))) return undefined;
    const det = await PCLDetector.load(detDir);
    const same = (u: unknown, v: unknown) => JSON.stringify(u) === JSON.stringify(v);
    const p = det.params;
    const q = want.params;
    // every defender's own settings too (a twin defender's include its twin's weights fingerprint)
    const settings = (d: PCLDetector) => d.defenders.map((x) => stableJson((x as unknown as { params: unknown }).params));
    if (same(det.labels, want.labels) && p.seed === q.seed && p.calibrationFraction === q.calibrationFraction && same(p.latent, q.latent) && same(p.input, q.input) && same(settings(det), settings(want))) return det;
    det.dispose();
    return undefined;
  } catch {
    return undefined;
  }
}

/** The model's layer names, input layer excluded. */
function layerNamesOf(model: tf.LayersModel): string[] {
  return model.layers.filter((l) => l.getClassName() !== 'InputLayer').map((l) => l.name);
}

/** `--checkpoints`: known hidden layers, each once, at least one (before any data is loaded). */
function checkCheckpoints(checkpoints: string[], names: string[]): void {
  if (checkpoints.length === 0) throw new ArgumentError('reproduce: checkpoints must name at least one layer');
  for (const c of checkpoints) {
    if (!names.includes(c)) throw new ArgumentError(`reproduce: checkpoint '${c}' is not a layer of the victim (layers: ${names.join(', ')})`);
    if (c === names[names.length - 1]) throw new ArgumentError(`reproduce: checkpoint '${c}' is the output layer; pick hidden layers (${names.slice(0, -1).join(', ')})`);
  }
  const dup = checkpoints.find((c, i) => checkpoints.indexOf(c) !== i);
  if (dup !== undefined) throw new ArgumentError(`reproduce: checkpoint '${dup}' is named twice`);
}

/** What the defenders of a `reproduce` detector were fitted on; written beside the bundle as `detector.fit.json`. */
interface FitData {
  dataset: string;
  fitLimit: number | null;
  seed: number;
}
const fitDataFile = (detDir: string) => `${detDir}.fit.json`;

/** True when `detDir`'s defenders were fitted on `want`'s data (or the bundle predates the record: earlier versions kept none). */
async function sameFitData(detDir: string, want: FitData): Promise<boolean> {
  const f = fitDataFile(detDir);
  if (!(await exists(f))) return true;
  try {
    return JSON.stringify(JSON.parse(await fs.readFile(f, 'utf8'))) === JSON.stringify(want);
  } catch {
    return false;
  }
}

/** JSON with sorted object keys, so equal settings compare equal whatever order they were built in. */
function stableJson(v: unknown): string {
  return JSON.stringify(v, (_, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x) && !ArrayBuffer.isView(x)
      ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : x,
  );
}

/**
 * When the bundle in `detDir` cannot be reused whole (another set of defenders, say), the defenders of
 * `want` that it already holds fitted — same victim weights, fitting data and split, label and settings —
 * loaded onto `victim`, with `want`'s unfitted defenders in the other places. Undefined when none can be
 * kept. Saves refitting every latent replica when only the input side changes.
 */
async function reusableDefenders(detDir: string, victimDir: string, want: PCLDetector, victim: Classifier, fitData: FitData): Promise<Detector[] | undefined> {
  if (!(await exists(path.join(detDir, 'manifest.json')))) return undefined;
  if (!(await sameFitData(detDir, fitData))) return undefined;
  const out: Detector[] = [];
  try {
    if (!(await sameVictim(detDir, victimDir))) return undefined;
    const manifest = JSON.parse(await fs.readFile(path.join(detDir, 'manifest.json'), 'utf8')) as {
      params: Partial<PCLDetectorParams>;
      attributes: { defenders: { label: string; kind: string; dir: string }[] };
    };
    if (manifest.params.seed !== want.params.seed || manifest.params.calibrationFraction !== want.params.calibrationFraction) return undefined;
    for (const d of want.defenders) {
      const old = manifest.attributes.defenders.find((o) => o.label === d.label && o.kind === d.kind);
      let loaded: Detector | undefined;
      if (old) {
        try {
          loaded = await loadDetector(path.join(detDir, old.dir), { victim });
          if (stableJson((loaded as unknown as { params: unknown }).params) !== stableJson((d as unknown as { params: unknown }).params)) {
            loaded.dispose();
            loaded = undefined;
          }
        } catch {
          loaded = undefined;
        }
      }
      out.push(loaded ?? d);
    }
    return out.some((d) => !want.defenders.includes(d)) ? out : undefined;
  } catch {
    for (const d of out) if (!want.defenders.includes(d)) d.dispose();
    return undefined;
  }
}

/** True when the bundle in `detDir` guards the victim in `victimDir` (byte-identical weights). */
async function sameVictim(detDir: string, victimDir: string): Promise<boolean> {
  const [a, b] = await Promise.all([fs.readFile(path.join(detDir, 'victim', 'weights.bin')), fs.readFile(path.join(victimDir, 'weights.bin'))]);
  return a.equals(b);
}

async function exists(f: string): Promise<boolean> {
  return fs.access(f).then(
    () => true,
    () => false,
  );
}

/**
 * The whole pipeline of the paper on one dataset: train (or reuse) the victim, fit PCL on clean
 * training data (latent defender at the second-to-last layer + input defender; plus a second
 * checkpoint and the Mahalanobis / PCA-centre baselines for comparison), attack `n` test images with
 * the paper's Table 3 attacks, and write `results.json`, `table.md` and `report.html` to `out`.
 * Re-running reuses `out/victim` and `out/detector` when they exist and match.
 */
export async function reproduce(opts: ReproduceOptions): Promise<EvaluationResults> {
  const engine = await initEngine();
  const quick = opts.quick ?? false;
  const seed = opts.seed ?? 0;
  const plan: ReproducePlan = {
    ...reproducePlan(opts.dataset, quick),
    ...(opts.cw ? { cw: opts.cw } : {}),
    ...(opts.fitLimit ? { fitLimit: opts.fitLimit } : {}),
    ...(opts.latentEpochs ? { latentEpochs: opts.latentEpochs } : {}),
  };
  const n = opts.n ?? plan.n;
  const attacks = opts.attacks ?? selectReproduceAttacks(plan, opts.dataset, quick, opts.attackSet); // validates before any work
  const stages: { stage: string; seconds: number; items?: number; note?: string }[] = [];
  if (opts.quantizeAdversarial !== undefined) checkQuantizeBits(opts.quantizeAdversarial, 'reproduce: quantizeAdversarial (bits)');
  if (opts.twin) (await loadClassifier(opts.twin)).model.dispose(); // a bad --twin folder fails before any training or fitting
  await fs.mkdir(opts.out, { recursive: true });

  // 1. victim
  const victimDir = path.join(opts.out, 'victim');
  let metrics: ClassifierMetrics | undefined;
  if (opts.victim) {
    const given = await loadClassifier(opts.victim); // validates the folder before copying it
    given.model.dispose();
    if (path.resolve(opts.victim) !== path.resolve(victimDir)) {
      await writeDirAtomic(victimDir, async (tmp) => {
        await fs.cp(opts.victim!, tmp, { recursive: true });
      });
    }
    metrics = given.metrics;
    info(`using the victim in ${opts.victim} (test accuracy ${(100 * metrics.testAccuracy).toFixed(2)} %)`);
  }
  if (!metrics && (await exists(path.join(victimDir, 'metrics.json')))) {
    const m = JSON.parse(await fs.readFile(path.join(victimDir, 'metrics.json'), 'utf8')) as ClassifierMetrics;
    const sameRecipe =
      (plan.epochs === undefined || m.epochs === plan.epochs) &&
      (plan.train?.limit === undefined || m.trainSamples === plan.train.limit) &&
      (m.batchNorm === true || m.batchNormFolded === true) === (plan.train?.batchNorm ?? false);
    if (m.arch === plan.arch && m.dataset === opts.dataset && m.width === plan.width && sameRecipe) {
      info(`reusing the victim in ${victimDir} (test accuracy ${(100 * m.testAccuracy).toFixed(2)} %)`);
      metrics = m;
    }
  }
  if (!metrics) {
    if (opts.checkpoints) {
      // check the layer names on an untrained copy before hours of training
      const probe = await loadDataset(opts.dataset, { split: 'test', limit: 1, seed });
      const [, h, w, c] = probe.x.shape;
      const numClasses = probe.numClasses;
      disposeDataset(probe);
      const untrained = buildModel(plan.arch, { inputShape: [h, w, c], numClasses, width: plan.width, batchNorm: plan.train?.batchNorm ?? false });
      try {
        checkCheckpoints(opts.checkpoints, layerNamesOf(untrained));
      } finally {
        untrained.dispose();
      }
    }
    const t0 = performance.now();
    metrics = await trainVictim({ dataset: opts.dataset, arch: plan.arch, width: plan.width, epochs: plan.epochs, ...plan.train, out: victimDir, seed });
    stages.push({ stage: `train victim ${plan.arch}`, seconds: (performance.now() - t0) / 1000, note: `test accuracy ${(100 * metrics.testAccuracy).toFixed(2)} %` });
  }
  if (metrics.batchNorm === true && opts.foldBatchNorm === true) metrics = await foldVictim(victimDir, metrics);
  let attackModelDir: string | undefined;
  if (metrics.batchNorm === true && opts.foldBatchNorm === 'attacks') {
    attackModelDir = path.join(opts.out, 'victim-folded');
    await writeDirAtomic(attackModelDir, async (tmp) => {
      await fs.cp(victimDir, tmp, { recursive: true });
      await foldVictim(tmp, metrics!);
    });
  }
  const { model } = await loadClassifier(victimDir);
  const victim = new Classifier(model);
  const names = victim.layerNames();
  const main = names[names.length - 2];
  // a second checkpoint for Fig. 10: the hidden dense layer before the main one, if any
  const before = plan.oneCheckpoint ? undefined : denseLayerBefore(names, main);
  const checkpoints = opts.checkpoints ?? (before ? [before, main] : [main]);
  checkCheckpoints(checkpoints, layerNamesOf(victim.model));

  // 2. defenders (clean training data only)
  const train = await loadDataset(opts.dataset, { split: 'train', limit: plan.fitLimit, seed });
  let test: Dataset | undefined;
  const extras: Detector[] = [];
  let det: PCLDetector | undefined;
  // the detector's bundle keeps its own copy of the twin
  const twin = opts.twin ? new Classifier((await loadClassifier(opts.twin)).model) : undefined;
  try {
    const detDir = path.join(opts.out, 'detector');
    const latent = {
      epochs: plan.latentEpochs,
      seed,
      ...(typeof metrics.lr === 'number' ? { lr: metrics.lr / 10 } : {}),
    };
    // beyond the paper: overlapping patches and 10 atoms on MNIST-like images (recommendedInputParams)
    const input = {
      ...recommendedInputParams(victim.inputShape),
      seed,
      ...(plan.patchesPerClass ? { patchesPerClass: plan.patchesPerClass } : {}),
      ...(plan.inputCodes ? { codes: plan.inputCodes } : {}),
      ...(opts.inputPatch ? { patchSize: opts.inputPatch } : {}),
      ...(opts.dictionarySize ? { nAtoms: opts.dictionarySize } : {}),
    };
    let t0 = performance.now();
    // Fig. 10 of the paper: more checkpoints, fewer false alarms. The PCL bundle holds the latent
    // defenders at both hidden dense layers plus the input defender.
    const params: Partial<PCLDetectorParams> = { checkpoints, inputDefender: true, noiseDefender: opts.noiseDefender === true, marginDefender: opts.marginDefender === true, sp: 1, seed, latent, input };
    const fresh = new PCLDetector(victim, params, twin ? [...PCLDetector.defaultDefenders(victim, params), new TwinDefender(victim, twin, { sp: 1 })] : undefined);
    const fitData: FitData = { dataset: opts.dataset, fitLimit: plan.fitLimit ?? null, seed };
    det = await reusableDetector(detDir, victimDir, fresh, fitData);
    if (det) {
      fresh.dispose();
      info(`reusing the detector in ${detDir} (${det.labels.join(' + ')}; same victim and settings)`);
      // recalibrate the fusion on the same held-out split (cheap; bundles from older versions calibrated
      // on every held-out image, or kept no held-out scores)
      const { calIdx } = splitHoldout(await train.y.data(), det.params.calibrationFraction, seed);
      if (calIdx.length > 0) {
        const ci = tf.tensor1d(calIdx, 'int32');
        const xCal = tf.gather(train.x, ci) as tf.Tensor4D;
        const yAll = await train.y.data();
        try {
          await det.calibrate(xCal, Array.from(calIdx, (i) => yAll[i]));
          await det.save(detDir);
          await writeFileAtomic(fitDataFile(detDir), `${JSON.stringify(fitData)}\n`);
        } finally {
          tf.dispose([ci, xCal]);
        }
      }
    } else {
      const partial = await reusableDefenders(detDir, victimDir, fresh, victim, fitData);
      if (partial) {
        info(`reusing the fitted ${partial.filter((d) => d.isFitted).map((d) => d.label).join(', ')} from ${detDir}; fitting the rest`);
        for (const d of fresh.defenders) if (!partial.includes(d)) d.dispose();
        det = new PCLDetector(victim, fresh.params, partial);
      } else {
        det = fresh;
      }
      await det.fit(train.x, train.y, { seed, keepFitted: true });
      await det.save(detDir);
      await writeFileAtomic(fitDataFile(detDir), `${JSON.stringify(fitData)}\n`);
      stages.push({ stage: `fit PCL (${det.labels.join(' + ')})`, seconds: (performance.now() - t0) / 1000, items: train.x.shape[0] });
    }

    // the same fitting split for the comparison detectors
    const { fitIdx } = splitHoldout(await train.y.data(), det.params.calibrationFraction, seed);
    const idx = tf.tensor1d(fitIdx, 'int32');
    const xFit = tf.gather(train.x, idx) as tf.Tensor4D;
    const yFit = tf.gather(train.y, idx) as tf.Tensor1D;
    idx.dispose();
    try {
      // fitted comparison detectors are kept in out/detector-extras/ and reused while the victim, the fitting data
      // and their settings stay the same (detector-extras.key.json)
      const extrasDir = path.join(opts.out, 'detector-extras');
      const extrasKey = stableJson({ ...fitData, victim: createHash('sha256').update(await fs.readFile(path.join(victimDir, 'weights.bin'))).digest('hex') });
      const keyFile = `${extrasDir}.key.json`;
      const sameKey = (await exists(keyFile)) && (await fs.readFile(keyFile, 'utf8')).trim() === extrasKey;
      const fitOrReuse = async (d: Detector, name: string, fit: () => Promise<unknown>): Promise<void> => {
        const dir = path.join(extrasDir, name);
        if (sameKey && (await exists(path.join(dir, 'manifest.json')))) {
          const loaded = await loadDetector(dir, { victim }).catch(() => undefined);
          if (loaded && stableJson((loaded as unknown as { params: unknown }).params) === stableJson((d as unknown as { params: unknown }).params)) {
            info(`reusing the fitted ${loaded.label} from ${dir}`);
            d.dispose();
            extras.push(loaded);
            return;
          }
          loaded?.dispose();
        }
        await fit();
        await d.save(dir);
        extras.push(d);
      };
      // the paper's likelihood scoring at the same checkpoint, for the paper-faithful row
      t0 = performance.now();
      const paperLatent = new LatentDefender(victim, { ...latent, checkpointLayer: main, scoring: 'likelihood' });
      await fitOrReuse(paperLatent, 'latent-likelihood', () => paperLatent.fit(xFit, yFit, { seed }));
      stages.push({ stage: `fit ${paperLatent.label} (paper scoring)`, seconds: (performance.now() - t0) / 1000 });
      t0 = performance.now();
      const maha = new MahalanobisDetector(victim, { layer: main });
      await fitOrReuse(maha, 'mahalanobis', () => maha.fit(xFit, yFit));
      const pca = new PcaCentreDetector(victim, { layer: main });
      await fitOrReuse(pca, 'pca-centre', () => pca.fit(xFit, yFit));
      stages.push({ stage: 'fit baselines (Mahalanobis, PCA-centre)', seconds: (performance.now() - t0) / 1000 });
      if (!sameKey) await writeFileAtomic(keyFile, `${extrasKey}\n`);
    } finally {
      xFit.dispose();
      yFit.dispose();
    }
    disposeDataset(train);

    // 3. attacks + evaluation on n test images
    test = await loadDataset(opts.dataset, { split: 'test', limit: n, seed });
    const attackRows = opts.attackN !== undefined && opts.attackN < test.x.shape[0] ? await attackSubset(opts.dataset, test, opts.attackN, seed) : undefined;
    const results = await evaluatePCL(det, {
      attackRows,
      test,
      attacks,
      extraDetectors: extras,
      checkpointLabels: before ? [`latent:${before}`, `latent:${main}`] : undefined,
      sp: 1,
      seed,
      modelDir: attackModelDir ?? path.join(detDir, 'victim'),
      cacheDir: path.join(opts.out, 'attack-cache'),
      quantizeAdversarial: opts.quantizeAdversarial,
      risk: { costs: { eta11: 0, eta12: 10, eta21: 1, eta22: 0 }, pAttack: 0.05 },
    });
    await writeEvaluationOutputs(opts.out, results, {
      title: `PCL reproduction — ${opts.dataset}${quick ? ' (quick)' : ''}`,
      victim: {
        // the victim actually used (a --victim folder may differ from the plan's recipe)
        name: `${metrics.arch ?? plan.arch}${(metrics.width ?? plan.width) !== 1 ? ` (width ${metrics.width ?? plan.width})` : ''}${metrics.batchNorm ? ', batch norm' : ''}`,
        testAccuracy: metrics.testAccuracy,
      },
      settings: { quick, backend: engine.backend, tfjs: engine.tfjsVersion, victimDir, detectorDir: detDir },
      timings: stages,
      notes: [
        'FP rates are counted on correctly classified clean test images; detection on successful adversarial examples (the paper\'s protocol).',
        'Each table row pools the attack parameters listed (the paper pools its Table 3 parameters per attack).',
        'Risk view: costs η12 (missed attack) = 10, η21 (false alarm) = 1, prior P(attack) = 5 %.',
        "Latent scoring: 'combined-disagreement' (p-values of the class likelihood, the class likelihood ratio and the fine-tuned replica's probability of the victim's class, all against clean training data); the paper's likelihood scoring has its own row.",
        "'PCL latent OR input' is the paper's rule: adversarial when any defender exceeds its own per-class threshold at the shared SP, so its false alarms add up over defenders.",
        "Calibrated fusion (the default decision rule of a `pcl defend` bundle): per-defender p-values (with an exponential tail past the largest clean score) combined by Fisher's method (and, in its own row, the 'omnibus' over subsets of defenders), thresholded on held-out clean training images so that the combined false-alarm rate is SP.",
        ...(plan.cw && !(plan.cw.binarySteps === 20 && plan.cw.iterations === 500)
          ? [`C&W L2 ran ${plan.cw.binarySteps} binary-search steps × ${plan.cw.iterations} iterations instead of the paper's 20 × 500, to fit the attack time on 2 cores.`]
          : []),
        ...(attackRows
          ? [`False positives counted on the ${Math.round(results.victimAccuracy * results.n)} correctly classified of ${results.n} test images; the attacks ran on the correctly classified of a seeded ${attackRows.length} of them.`]
          : []),
        ...(opts.marginDefender
          ? ["'PCL output margin' (beyond the paper): the victim's logit margin against the clean training images of its class. It detects attacks that stop on the decision boundary (DeepFool, C&W at κ = 0) and none that push past it (PGD, large-ε FGS, high-confidence C&W)."]
          : []),
        ...(opts.twin
          ? [`'PCL output twin' (beyond the paper): how unlikely a second network trained on the same clean data (${opts.twin}) finds the victim's label, against the clean training images of that class. It sees examples that do not transfer from the victim to the twin; an attack that transfers, or one aimed at both, passes it.`]
          : []),
        ...(opts.checkpoints ? [`Latent checkpoints: ${opts.checkpoints.join(', ')} (chosen with --checkpoints).`] : []),
        ...(opts.inputPatch ? [`Input defender on ${opts.inputPatch} × ${opts.inputPatch} patches (the paper's: 8 × 8).`] : []),
        ...(opts.dictionarySize ? [`Input defender dictionaries of ${opts.dictionarySize} atoms per class (default 225).`] : []),
        ...(attackModelDir ? ["The attacks ran on the victim with its batch norms folded into its convolutions (the same function within 1e-5); every adversarial example's success was re-checked on the batch-normalised victim the defenders guard."] : []),
        ...(plan.fitLimit ? [`PCL fitted on a seeded subset of ${plan.fitLimit} training images (${plan.latentEpochs} fine-tuning epoch(s) per latent replica).`] : []),
        ...(quick && plan.train?.limit && !opts.victim
          ? [
              `Quick run: a width-${plan.width} ${plan.arch} trained for ${plan.epochs} epoch(s) on ${plan.train.limit} training images ` +
                `(accuracy measured on ${plan.train.testLimit ?? 'all'} test images); PCL fitted on ${plan.fitLimit} training images` +
                `${plan.oneCheckpoint ? ' with one checkpoint' : ''}; ${n} test images attacked. A first look, not the paper's setting.`,
            ]
          : []),
        ...(plan.imagenetAttacks ? ["ImageNet-10 attacks as the paper's Table 3: FGS ε ∈ {0.01, 0.05}, DeepFool, C&W L2; JSMA skipped, as in the paper."] : []),
      ],
    });
    return results;
  } finally {
    if (!train.x.isDisposed) disposeDataset(train);
    if (test) disposeDataset(test);
    det?.dispose();
    twin?.model.dispose();
    for (const d of extras) d.dispose();
  }
}

/**
 * Replaces the batch-normalised victim in `victimDir` by its folded copy (`foldBatchNorm`: the same
 * function in inference mode, without the batch-norm layers), so the attacks, the defenders and the
 * worker threads that load the folder all run the cheaper network. metrics.json keeps the original's
 * figures with `batchNorm: false, batchNormFolded: true` and the largest probability difference
 * measured on 64 random images.
 */
async function foldVictim(victimDir: string, metrics: ClassifierMetrics): Promise<ClassifierMetrics> {
  const { model } = await loadClassifier(victimDir);
  try {
    const arch = metrics.arch as Arch;
    const folded = foldBatchNorm(model, arch, typeof metrics.width === 'number' ? metrics.width : 1);
    try {
      const maxDiff = tf.tidy(() => {
        const x = tf.randomUniform([64, ...(model.inputs[0]!.shape.slice(1) as number[])], 0, 1, 'float32', 0);
        return tf.max(tf.abs(tf.sub(model.predict(x) as tf.Tensor, folded.predict(x) as tf.Tensor))).dataSync()[0]!;
      });
      if (!(maxDiff < 1e-3)) throw new Error(`folding the victim's batch norms changed its probabilities by up to ${maxDiff}`);
      const next: ClassifierMetrics = { ...metrics, batchNorm: false, batchNormFolded: true, foldMaxProbDiff: maxDiff };
      await saveClassifier(victimDir, folded, next);
      info(`folded the victim's batch norms into its convolutions (max probability difference ${maxDiff.toExponential(1)} on 64 random images)`);
      return next;
    } finally {
      folded.dispose();
    }
  } finally {
    model.dispose();
  }
}