import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ArgumentError, assert } from '../errors.js';
import { PCLDetector, type FusionRule } from '../defense/pcl.js';
import { writeDirAtomic } from '../io/atomic.js';
import { initEngine } from '../engine/backend.js';
import { loadDataset, disposeDataset } from '../data/index.js';
import { writeIdx } from '../io/idx.js';
import { Rng } from '../util/rng.js';
import {
  CHALLENGE_FILES,
  CHALLENGE_FORMAT,
  CHALLENGE_FORMAT_VERSION,
  CHALLENGE_MANIFEST,
  GENERATED_BY,
  challengeId,
  hashFolder,
  type ChallengeManifest,
} from './manifest.js';

/** Options of {@link packChallenge}. */
export interface PackOptions {
  /** Detector bundle folder (`pcl defend`); its victim copy is the challenge's victim. */
  defender: string;
  /** Dataset spec whose test split the rows come from. */
  dataset: string;
  /** Rows: correctly classified test images, taken in a seeded random order. */
  n: number;
  /** L2 budget per row (> 0). */
  l2: number;
  /** Optional L∞ budget per row (> 0). */
  linf?: number;
  /** Security parameter (percent) at which submissions are judged. */
  sp: number;
  /** Decision rule; default the bundle's own (`params.fusion`). */
  fusion?: FusionRule;
  /** Seed of the row order. Default 0. */
  seed?: number;
  /** Output folder, written atomically. */
  out: string;
  /** Progress messages (stderr in the CLI). */
  log?: (msg: string) => void;
}

/**
 * Freezes a PCL challenge (see `manifest.ts` for the folder): verifies and copies the detector
 * bundle, draws the rows (the first `n` test images, in a seeded random order, that the bundle's
 * victim classifies correctly), measures the detector's clean false-alarm rate on them at `sp`,
 * and writes every file with its sha256 into `challenge.json`. Returns the manifest.
 */
export async function packChallenge(opts: PackOptions): Promise<ChallengeManifest> {
  assert(Number.isInteger(opts.n) && opts.n >= 1, () => `challenge pack: expected n a positive integer, got ${opts.n}`, ArgumentError);
  assert(Number.isFinite(opts.l2) && opts.l2 > 0, () => `challenge pack: expected l2 a positive number, got ${opts.l2}`, ArgumentError);
  assert(opts.linf === undefined || (Number.isFinite(opts.linf) && opts.linf > 0), () => `challenge pack: expected linf a positive number, got ${opts.linf}`, ArgumentError);
  assert(Number.isFinite(opts.sp) && opts.sp >= 0 && opts.sp <= 100, () => `challenge pack: expected sp a percentage in [0, 100], got ${opts.sp}`, ArgumentError);
  const seed = opts.seed ?? 0;
  assert(Number.isInteger(seed) && seed >= 0, () => `challenge pack: expected seed a non-negative integer, got ${seed}`, ArgumentError);
  await initEngine();
  const det = await PCLDetector.load(opts.defender);
  try {
    const fusion = opts.fusion ?? det.params.fusion;
    const ds = await loadDataset(opts.dataset, { split: 'test' });
    let x: tf.Tensor4D | undefined;
    try {
      const [total, h, w, c] = ds.x.shape;
      const [vh, vw, vc] = det.victim.inputShape;
      assert(h === vh && w === vw && c === vc, () => `challenge pack: dataset images are ${h}×${w}×${c}, the victim takes ${vh}×${vw}×${vc}`, ArgumentError);
      const order = new Rng(seed).shuffle(Int32Array.from({ length: total }, (_, i) => i));
      const labels = Int32Array.from(await ds.y.data());
      // predict in chunks along the seeded order until n correct rows are found
      const rows: number[] = [];
      const chunk = Math.max(256, opts.n * 2);
      for (let s = 0; s < total && rows.length < opts.n; s += chunk) {
        const idx = order.subarray(s, Math.min(total, s + chunk));
        const pred = tf.tidy(() => det.victim.predict(tf.gather(ds.x, tf.tensor1d(idx, 'int32')) as tf.Tensor4D));
        const p = await pred.data();
        pred.dispose();
        for (let i = 0; i < idx.length && rows.length < opts.n; i++) if (p[i] === labels[idx[i]]) rows.push(idx[i]);
      }
      assert(rows.length === opts.n, () => `challenge pack: the victim classifies only ${rows.length} test images correctly, fewer than n = ${opts.n}`, ArgumentError);
      x = tf.tidy(() => tf.gather(ds.x, tf.tensor1d(rows, 'int32')) as tf.Tensor4D);
      opts.log?.(`challenge pack: ${opts.n} rows drawn; measuring the clean false-alarm rate at SP ${opts.sp} % (${fusion})`);
      const r = await det.detect(x, { sp: opts.sp, fusion });
      const flagged = r.adversarial.reduce((a, b) => a + b, 0);
      const xData = (await x.data()) as Float32Array;
      const yRows = Uint8Array.from(rows, (i) => labels[i]);
      const base: Omit<ChallengeManifest, 'id' | 'sha256' | 'createdAt'> = {
        format: CHALLENGE_FORMAT,
        formatVersion: CHALLENGE_FORMAT_VERSION,
        generatedBy: GENERATED_BY,
        dataset: opts.dataset,
        seed,
        n: opts.n,
        imageShape: [h, w, c],
        numClasses: det.victim.numClasses,
        budget: { l2: opts.l2, linf: opts.linf ?? null },
        sp: opts.sp,
        fusion,
        cleanFalseAlarmRate: flagged / opts.n,
      };
      let manifest: ChallengeManifest | undefined;
      await writeDirAtomic(opts.out, async (tmp) => {
        await fs.cp(path.resolve(opts.defender), path.join(tmp, CHALLENGE_FILES.detector), { recursive: true });
        await writeIdx(path.join(tmp, CHALLENGE_FILES.xClean), xData, [opts.n, h, w, c]);
        await writeIdx(path.join(tmp, CHALLENGE_FILES.yTrue), yRows, [opts.n]);
        await writeIdx(path.join(tmp, CHALLENGE_FILES.cleanIndex), Int32Array.from(rows), [opts.n]);
        const sha256 = await hashFolder(tmp);
        const m = { ...base, sha256, createdAt: new Date().toISOString() };
        manifest = { ...m, id: challengeId(m) } as ChallengeManifest;
        await fs.writeFile(path.join(tmp, CHALLENGE_MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
      });
      return manifest!;
    } finally {
      x?.dispose();
      disposeDataset(ds);
    }
  } finally {
    det.dispose();
  }
}
