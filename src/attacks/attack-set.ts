import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../engine/backend.js';
import { WorkerPool } from '../engine/pool.js';
import { Rng } from '../util/rng.js';
import { concatField } from '../util/typed.js';
import { ArgumentError, DataFormatError, ShapeError } from '../errors.js';
import { writeDirAtomic } from '../io/atomic.js';
import { loadDataset, disposeDataset } from '../data/index.js';
import { readIdx, writeIdx } from '../io/idx.js';
import { Classifier } from '../models/classifier.js';
import { loadClassifier } from '../models/io.js';
import { checkInt, measure, summarize } from './common.js';
import { checkOnGrid, checkQuantizeBits, quantizeImages } from './quantize.js';
import { makeAttack, runAttack } from './registry.js';
import type { AttackBatchPayload, AttackBatchResult } from './pool-task.js';
import type { Attack, AttackModel, AttackResult } from './types.js';

/** File names of an attack set folder (INTERFACE.md). */
export const ATTACK_SET_FILES = Object.freeze({
  xAdv: 'x_adv.idx',
  yTrue: 'y_true.idx',
  cleanIndex: 'x_clean_index.idx',
  summary: 'summary.json',
  /** uint8 [n]: 1 where the attack succeeded. */
  success: 'success.idx',
  /** int32 [n]: the victim's label of each adversarial example. */
  yAdv: 'y_adv.idx',
});

/** Options of `generateAttackSet`. */
export interface AttackSetOptions {
  /** Folder of a classifier written by `pcl train`, or a loaded classifier. */
  model: string | AttackModel;
  /** Recorded as `model` in summary.json when `model` is an in-memory classifier (e.g. the folder it came from). */
  modelLabel?: string;
  /** Dataset spec (`mnist`, `idx:DIR`, `cifar10:DIR`, …); its test split is attacked. */
  dataset: string;
  /** Attack registry name (`fgsm`, `bim`, `jsma`, `deepfool`, `cw-l2`), or a built attack (e.g. an adaptive one, which needs a detector). */
  attack: string | Attack;
  /** Attack hyperparameters (see each attack's `…Params`); omitted ones take the defaults. */
  params?: Record<string, unknown>;
  /** Number of test images drawn (seeded subset); default 1000. Only the correctly classified ones are attacked unless `all`. */
  n?: number;
  /** Rows per attack call; default 100. */
  batchSize?: number;
  /** Seed of the test subset and of the attack; default 0. */
  seed?: number;
  /** Attack every drawn image, including those the victim already misclassifies. Default false. */
  all?: boolean;
  /**
   * Worker threads attacking batches in parallel (`WorkerPool`; each loads the model folder once).
   * Needs `model` to be a folder. Default 1 (this thread). Results equal the serial run's.
   */
  workers?: number;
  /**
   * Round the adversarial images to this many bits per pixel value (8: as saved as PNG) before they are
   * measured and written; success, distances and the victim's labels are those of the rounded images.
   */
  quantizeAdversarial?: number;
  /** Output folder; written atomically. Omit to only compute. */
  out?: string;
  /** Progress callback (rows done, rows to attack). */
  onProgress?: (done: number, total: number) => void;
}

/** `summary.json` of an attack set. */
export interface AttackSetSummary {
  attack: string;
  params: Record<string, unknown>;
  /** Rows attacked (= rows of x_adv.idx). */
  n: number;
  /** Test images drawn before dropping the misclassified ones. */
  nDrawn: number;
  /** Victim accuracy on the drawn images. */
  cleanAccuracy: number;
  /** Whether only correctly classified images were attacked. */
  onlyCorrect: boolean;
  successRate: number;
  /** Means over successful rows. */
  meanL2: number;
  meanLinf: number;
  meanL0: number;
  /** Fraction of rows the victim misclassifies after the attack. */
  misclassificationRate: number;
  /** Wall-clock seconds of the attack itself (excluding loading and writing). */
  seconds: number;
  /** CPU seconds of the attack (this process, worker threads included): the fair figure on a shared machine. */
  cpuSeconds: number;
  /** Worker threads used. */
  workers: number;
  /** Bits per pixel value the adversarial images were rounded to (`quantizeAdversarial`); absent when they were not. */
  quantizedBits?: number;
  /** JSMA: the target rule, e.g. "random: uniform over the 9 classes other than the true label (seeded)". */
  targetPolicy?: string;
  dataset: string;
  model: string;
  seed: number;
  batchSize: number;
  backend: string;
}

const POLICY_TEXT: Record<string, string> = {
  random: 'random: uniform over the classes other than the true label (seeded)',
  next: 'next: (true label + 1) mod K',
  'least-likely': 'least-likely: the class with the lowest clean logit',
};

/**
 * Draws `n` test images (seeded), keeps the ones the victim classifies correctly (unless `all`),
 * attacks them in batches and, when `out` is given, writes the attack set atomically:
 * `x_adv.idx` (float32 [n,h,w,c]), `y_true.idx` (uint8 [n]), `x_clean_index.idx` (int32 [n], the
 * test-set index of each row), `success.idx` (uint8), `y_adv.idx` (int32) and `summary.json`.
 * Returns the summary.
 */
export async function generateAttackSet(opts: AttackSetOptions): Promise<AttackSetSummary> {
  const engine = await initEngine();
  const n = opts.n ?? 1000;
  const batchSize = opts.batchSize ?? 100;
  const seed = opts.seed ?? 0;
  checkInt('attack', 'n', n, 1);
  checkInt('attack', 'batchSize', batchSize, 1);
  checkInt('attack', 'seed', seed, 0);
  const workers = opts.workers ?? 1;
  checkInt('attack', 'workers', workers, 1, 256);
  if (opts.quantizeAdversarial !== undefined) checkQuantizeBits(opts.quantizeAdversarial, 'attack: quantizeAdversarial (bits)');
  if (workers > 1 && typeof opts.model !== 'string') {
    throw new ArgumentError(`attack: workers > 1 needs 'model' to be a model folder (each worker loads it), got an in-memory model`);
  }
  if (workers > 1 && typeof opts.attack !== 'string') {
    throw new ArgumentError(`attack: workers > 1 needs 'attack' to be a registry name (each worker builds it), got a built attack`);
  }
  const attack = typeof opts.attack === 'string' ? makeAttack(opts.attack, opts.params ?? {}) : opts.attack;
  let owned: tf.LayersModel | undefined;
  let model: AttackModel;
  if (typeof opts.model === 'string') {
    owned = (await loadClassifier(opts.model)).model;
    model = new Classifier(owned);
  } else {
    model = opts.model;
  }
  const ds = await loadDataset(opts.dataset, { split: 'test', limit: n, seed });
  let x: tf.Tensor4D | undefined;
  try {
    const yAll = Int32Array.from(await ds.y.data());
    const pred = tf.tidy(() => tf.argMax(model.logits(ds.x), 1));
    const p = await pred.data();
    pred.dispose();
    const keep: number[] = [];
    let correct = 0;
    for (let i = 0; i < yAll.length; i++) {
      if (p[i] === yAll[i]) correct++;
      if (opts.all || p[i] === yAll[i]) keep.push(i);
    }
    if (keep.length === 0) throw new ArgumentError(`attack: the victim classifies none of the ${yAll.length} drawn test images correctly`);
    x = tf.tidy(() => tf.gather(ds.x, tf.tensor1d(keep, 'int32')) as tf.Tensor4D);
    const y = Int32Array.from(keep, (i) => yAll[i]);
    const indices = Int32Array.from(keep, (i) => ds.indices[i]);
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const bits = opts.quantizeAdversarial;
    if (bits !== undefined) checkOnGrid(x, bits, `attack: quantizeAdversarial ${bits}`);
    let r =
      workers > 1
        ? await runInPool(opts.model as string, attack.name, { ...attack.params }, x, y, batchSize, seed, workers, opts.onProgress)
        : await runAttack(attack, model, x, y, { batchSize, seed, onProgress: opts.onProgress });
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    if (bits !== undefined) {
      // as the attacker delivers them: every number below is of the rounded images
      const adversarial = quantizeImages(r.adversarial, bits);
      r.adversarial.dispose();
      r = { ...r, adversarial, ...(await measure(model, x, adversarial, y, r.targets)) };
    }
    try {
      const s = summarize(r);
      const summary: AttackSetSummary = {
        attack: attack.name,
        params: { ...attack.params },
        n: y.length,
        nDrawn: yAll.length,
        cleanAccuracy: correct / yAll.length,
        onlyCorrect: !opts.all,
        successRate: s.successRate,
        meanL2: s.meanL2,
        meanLinf: s.meanLinf,
        meanL0: s.meanL0,
        misclassificationRate: s.misclassificationRate,
        seconds,
        cpuSeconds: (cpu.user + cpu.system) / 1e6,
        workers,
        ...(bits !== undefined ? { quantizedBits: bits } : {}),
        ...(attack.name === 'jsma' ? { targetPolicy: POLICY_TEXT[(attack.params as { target: string }).target] } : {}),
        dataset: opts.dataset,
        model: typeof opts.model === 'string' ? opts.model : (opts.modelLabel ?? '<in-memory>'),
        seed,
        batchSize,
        backend: engine.backend,
      };
      if (opts.out) {
        const adv = (await r.adversarial.data()) as Float32Array;
        const out = opts.out;
        if (model.numClasses > 256) throw new ArgumentError(`attack: y_true.idx is uint8 but the model has ${model.numClasses} classes`);
        await writeDirAtomic(out, async (tmp) => {
          await writeIdx(path.join(tmp, ATTACK_SET_FILES.xAdv), adv, r.adversarial.shape);
          await writeIdx(path.join(tmp, ATTACK_SET_FILES.yTrue), Uint8Array.from(y), [y.length]);
          await writeIdx(path.join(tmp, ATTACK_SET_FILES.cleanIndex), indices, [y.length]);
          await writeIdx(path.join(tmp, ATTACK_SET_FILES.success), r.success, [y.length]);
          await writeIdx(path.join(tmp, ATTACK_SET_FILES.yAdv), r.predicted, [y.length]);
          await fs.writeFile(path.join(tmp, ATTACK_SET_FILES.summary), `${JSON.stringify(summary, null, 2)}\n`);
        });
      }
      return summary;
    } finally {
      r.adversarial.dispose();
    }
  } finally {
    x?.dispose();
    disposeDataset(ds);
    owned?.dispose();
  }
}

/** `runAttack` split over a `WorkerPool`: same batches and per-batch seeds, so the same result. */
/**
 * Runs `attack` on `x` split into batches over `workers` worker threads, each loading the model from
 * `modelDir`. Same output as one thread (seeded per batch). Returns a tensor owned by the caller.
 */
export async function runInPool(
  modelDir: string,
  attack: string,
  params: Record<string, unknown>,
  x: tf.Tensor4D,
  y: Int32Array,
  batchSize: number,
  seed: number,
  workers: number,
  onProgress?: (done: number, total: number) => void,
): Promise<AttackResult> {
  const [n, h, w, c] = x.shape;
  const data = (await x.data()) as Float32Array;
  const rng = new Rng(seed);
  const payloads: AttackBatchPayload[] = [];
  for (let s = 0; s < n; s += batchSize) {
    const m = Math.min(batchSize, n - s);
    payloads.push({
      modelDir: path.resolve(modelDir),
      attack,
      params,
      x: data.slice(s * h * w * c, (s + m) * h * w * c),
      shape: [m, h, w, c],
      y: y.slice(s, s + m),
      seed: rng.seed(),
    });
  }
  // the task module with this file's extension (.ts under tsx/vitest, .js when compiled)
  const here = fileURLToPath(import.meta.url);
  const taskUrl = new URL(`./pool-task${path.extname(here)}`, import.meta.url);
  const pool = new WorkerPool({ size: Math.min(workers, payloads.length) });
  let parts: AttackBatchResult[];
  try {
    parts = await pool.map<AttackBatchPayload, AttackBatchResult>(taskUrl, 'attackBatchTask', payloads, {
      transfer: true,
      onProgress: onProgress ? (done) => onProgress(Math.min(n, done * batchSize), n) : undefined,
    });
  } finally {
    await pool.close();
  }
  const cat = <T extends Float32Array | Int32Array | Uint8Array>(get: (r: AttackBatchResult) => T | undefined, Ctor: new (k: number) => T) =>
    concatField(parts, get, Ctor);

  return {
    adversarial: tf.tensor4d(cat((r) => r.adversarial, Float32Array)!, [n, h, w, c]),
    success: cat((r) => r.success, Uint8Array)!,
    l2: cat((r) => r.l2, Float32Array)!,
    linf: cat((r) => r.linf, Float32Array)!,
    l0: cat((r) => r.l0, Int32Array)!,
    predicted: cat((r) => r.predicted, Int32Array)!,
    labels: cat((r) => r.labels, Int32Array)!,
    targets: cat((r) => r.targets, Int32Array),
    iterations: cat((r) => r.iterations, Int32Array),
  };
}

/** An attack set read back from its folder. */
export interface AttackSet {
  /** Adversarial examples [n,h,w,c] (owned by the caller). */
  x: tf.Tensor4D;
  /** True labels [n]. */
  y: Int32Array;
  /** Test-set index of each row. */
  indices: Int32Array;
  /** 1 where the attack succeeded (all ones when the folder has no success.idx). */
  success: Uint8Array;
  summary: AttackSetSummary;
}

/** Reads a folder written by `generateAttackSet` / `pcl attack`. Throws DataFormatError naming the file on any mismatch. */
export async function readAttackSet(dir: string): Promise<AttackSet> {
  const f = (name: string) => path.join(dir, name);
  let summary: AttackSetSummary;
  try {
    summary = JSON.parse(await fs.readFile(f(ATTACK_SET_FILES.summary), 'utf8'));
  } catch (e) {
    throw new DataFormatError(`${f(ATTACK_SET_FILES.summary)}: cannot read (${(e as Error).message})`);
  }
  const xa = await readIdx(f(ATTACK_SET_FILES.xAdv));
  const ya = await readIdx(f(ATTACK_SET_FILES.yTrue));
  const ia = await readIdx(f(ATTACK_SET_FILES.cleanIndex));
  if (xa.shape.length !== 4) throw new ShapeError(`${f(ATTACK_SET_FILES.xAdv)}: expected shape [n,h,w,c], got [${xa.shape}]`);
  const n = xa.shape[0];
  for (const [file, a] of [[ATTACK_SET_FILES.yTrue, ya], [ATTACK_SET_FILES.cleanIndex, ia]] as const) {
    if (a.shape.length !== 1 || a.shape[0] !== n) throw new DataFormatError(`${f(file)}: expected shape [${n}], got [${a.shape}]`);
  }
  let success = new Uint8Array(n).fill(1);
  try {
    const sa = await readIdx(f(ATTACK_SET_FILES.success));
    if (sa.shape[0] === n) success = Uint8Array.from(sa.data);
  } catch (e) {
    if (!(e instanceof DataFormatError && /no such file/.test(e.message))) throw e;
  }
  return {
    x: tf.tensor4d(Float32Array.from(xa.data), xa.shape as [number, number, number, number]),
    y: Int32Array.from(ya.data),
    indices: Int32Array.from(ia.data),
    success,
    summary,
  };
}
