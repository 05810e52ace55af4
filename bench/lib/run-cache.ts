/**
 * Shared by the benches that re-score a `pcl reproduce` run folder: command-line options, and the
 * cached attacks of its `attack-cache/` (one folder per attack: key.json, x_adv.idx, success.idx, l2.idx;
 * rows = the correctly classified images among the run's seeded test images, in order).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { disposeDataset, loadDataset } from '../../src/data/index.js';
import { readIdx } from '../../src/io/idx.js';
import os from 'node:os';
import { engineInfo, initEngine } from '../../src/engine/backend.js';
import { Classifier } from '../../src/models/classifier.js';
import { loadClassifier } from '../../src/models/io.js';
import { setProgressEnabled } from '../../src/util/progress.js';
import { attackSubset } from '../../src/pipeline/attack-subset.js';

/** `--name VALUE` from the command line, else `dflt`. */
export function benchArg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : dflt;
}

/** One cached attack: its successful adversarial examples. */
export interface CachedAttack {
  /** Folder name in attack-cache/. */
  entry: string;
  attack: string;
  params: Record<string, unknown>;
  /** The successful rows' images [n, h, w, c]; the caller disposes it. */
  x: tf.Tensor4D;
  /** Mean L2 of the successful rows. */
  meanL2: number;
}

/** A readable name: 'FGSM ε=0.1', 'PGD L∞ ε=8/255' (`eps255`) or 'PGD L∞ ε=0.1', 'PGD L2 ε=2', 'C&W κ=0', or the attack's id. */
export function attackName(c: Pick<CachedAttack, 'attack' | 'params'>, eps255 = false): string {
  const p = c.params;
  const eps = Number(p.eps ?? p.epsilon);
  if (c.attack === 'fgsm') return `FGSM ε=${eps}`;
  if (c.attack === 'bim') return eps255 ? `PGD L∞ ε=${Math.round(eps * 255)}/255` : `PGD L∞ ε=${eps}`;
  if (c.attack === 'pgd-l2') return `PGD L2 ε=${eps}`;
  if (c.attack === 'cw-l2') return `C&W κ=${p.confidence ?? 0}`;
  return c.attack;
}

/**
 * Calls `fn` for every cached attack of `run` (sorted by folder name) with at least `minSuccess`
 * successful rows, one at a time (so only one attack's images are held). Folders whose row count is
 * not `rows` are skipped with a line through `log`.
 */
export async function forEachCachedAttack(
  run: string,
  shape: [number, number, number, number],
  rows: number,
  fn: (c: CachedAttack) => Promise<void>,
  log: (m: string) => void = () => {},
  minSuccess = 5,
): Promise<void> {
  const cacheDir = path.join(run, 'attack-cache');
  for (const entry of (await fs.readdir(cacheDir)).sort()) {
    const dir = path.join(cacheDir, entry);
    const key = JSON.parse(await fs.readFile(path.join(dir, 'key.json'), 'utf8')) as { attack: string; params: Record<string, unknown> };
    const xa = await readIdx(path.join(dir, 'x_adv.idx'));
    const sa = await readIdx(path.join(dir, 'success.idx'));
    const l2 = await readIdx(path.join(dir, 'l2.idx'));
    if (xa.shape[0] !== rows) {
      log(`${entry}: ${xa.shape[0]} rows, expected ${rows}; skipped`);
      continue;
    }
    const ok = Array.from(sa.data.keys()).filter((i) => sa.data[i]);
    if (ok.length < minSuccess) continue;
    const x = tf.tidy(() => tf.gather(tf.tensor4d(Float32Array.from(xa.data), [rows, shape[1], shape[2], shape[3]]), tf.tensor1d(ok, 'int32'))) as tf.Tensor4D;
    try {
      await fn({ entry, attack: key.attack, params: key.params, x, meanL2: ok.reduce((a, i) => a + l2.data[i]!, 0) / ok.length });
    } finally {
      x.dispose();
    }
  }
}

/**
 * The clean rows of a `pcl reproduce` run, as its protocol counts them: the test images the victim classifies
 * correctly among the seeded `n`, and how many of them were attacked (the correctly classified of the seeded
 * `attackN`, the row count of every cached attack). The caller disposes `clean`.
 */
export async function runCleanRows(
  ds: string,
  victim: Classifier,
  n: number,
  attackN: number,
): Promise<{ clean: tf.Tensor4D; shape: [number, number, number, number]; nAttacked: number }> {
  const test = await loadDataset(ds, { split: 'test', limit: n, seed: 0 });
  try {
    const rows = new Set(await attackSubset(ds, test, attackN, 0));
    const yp = victim.predict(test.x);
    const pv = yp.dataSync();
    yp.dispose();
    const yt = test.y.dataSync();
    const correct = Array.from(yt.keys()).filter((i) => pv[i] === yt[i]);
    const clean = tf.gather(test.x, correct) as tf.Tensor4D;
    const [, h, w, c] = clean.shape;
    const nAttacked = correct.filter((i) => rows.has(i)).length;
    console.log(`${correct.length} clean rows of ${n}; ${nAttacked} attacked`);
    return { clean, shape: [0, h, w, c], nAttacked };
  } finally {
    disposeDataset(test);
  }
}

/** One line naming the machine, Node, tfjs and the engine, with the load average at start (every bench prints it). */
export function machineLine(): string {
  return `machine: ${os.cpus()[0]?.model ?? '?'} (${os.availableParallelism()} cores), node ${process.version}, tfjs ${tf.version.tfjs}, ${engineInfo()?.summary ?? 'engine not started'}; load average (1 min) at start ${os.loadavg()[0]!.toFixed(2)}`;
}

/** A `pcl reproduce` run opened for re-scoring: its victim and clean rows (`--run`, `--dataset`, `--n`, `--attack-n`). */
export interface OpenedRun {
  run: string;
  /** The `--dataset` spec. */
  dataset: string;
  victim: Classifier;
  /** The clean rows (the caller disposes them), their shape and the attacked count: see {@link runCleanRows}. */
  clean: tf.Tensor4D;
  shape: [number, number, number, number];
  nAttacked: number;
}

/**
 * The shared start of the benches that re-score a run: reads `--run`, `--dataset`, `--n` (default 1000) and
 * `--attack-n` (default `defaults.attackN`, else 300), silences progress bars, starts the engine, prints
 * `# ${title(run)}` and the machine line, loads the run's victim and its clean rows.
 */
export async function openRun(title: (run: string) => string, defaults: { run: string; dataset: string; attackN?: number }): Promise<OpenedRun> {
  const run = benchArg('run', defaults.run);
  const ds = benchArg('dataset', defaults.dataset);
  const n = Number(benchArg('n', '1000'));
  const attackN = Number(benchArg('attack-n', String(defaults.attackN ?? 300)));
  setProgressEnabled(false);
  await initEngine();
  console.log(`# ${title(run)}`);
  console.log(machineLine());
  const victim = new Classifier((await loadClassifier(path.join(run, 'victim'))).model);
  return { run, dataset: ds, victim, ...(await runCleanRows(ds, victim, n, attackN)) };
}
