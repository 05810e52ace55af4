import { LatentDefender } from '../defense/latent/latent-defender.js';
import { PCLDetector, type FusionRule } from '../defense/pcl.js';
import { initEngine } from '../engine/backend.js';
import { readImages } from './images.js';

/** One row of `pcl detect`'s output (INTERFACE.md). */
export interface DetectRow {
  index: number;
  name: string;
  predicted: number;
  adversarial: boolean;
  scores: { latent: Record<string, number>; inputPsnr?: number; inputNoiseDb?: number; outputMargin?: number; twinProbability?: number; fused?: number };
}

/** `pcl detect`'s output: one row per image, with raw scores always included. */
export interface DetectOutput {
  results: DetectRow[];
  flagged: number;
  total: number;
  /** The nominal security parameter (percent). */
  sp: number;
  fusion: FusionRule;
  /**
   * The measured false-alarm rate of this rule at `sp` on the bundle's held-out clean images (percent;
   * compare with `sp`), and their number; absent for bundles without held-out scores.
   */
  cleanFalseAlarmRate?: number;
  cleanSamples?: number;
}

/**
 * Loads a detector bundle (verifying it) and checks the images in `input` (IDX file, PNG, or a
 * folder of PNGs). Raw scores: latent log-likelihood per checkpoint layer, input PSNR in dB.
 */
export async function detectImages(defender: string, input: string, opts: { sp?: number; fusion?: FusionRule } = {}): Promise<DetectOutput> {
  await initEngine();
  const det = await PCLDetector.load(defender);
  try {
    const { x, names } = await readImages(input, det.victim.inputShape);
    try {
      const sp = opts.sp ?? det.params.sp;
      const fusion = opts.fusion ?? det.params.fusion;
      const r = await det.detect(x, { sp, fusion });
      // raw scores: log-likelihood of each latent checkpoint under the victim's class, input PSNR
      const logLik = det.defenders.map((d) => (d instanceof LatentDefender ? d.logLikelihood(x, r.yPred) : undefined));
      const results: DetectRow[] = names.map((name, i) => {
        const latent: Record<string, number> = {};
        let inputPsnr: number | undefined;
        let inputNoiseDb: number | undefined;
        let outputMargin: number | undefined;
        let twinProbability: number | undefined;
        det.defenders.forEach((d, j) => {
          if (d.kind === 'InputDefender') inputPsnr = d.rawFromScore(r.scores[j][i]);
          else if (d.kind === 'NoiseDefender') inputNoiseDb = d.rawFromScore(r.scores[j][i]);
          else if (d.kind === 'MarginDefender') outputMargin = d.rawFromScore(r.scores[j][i]);
          else if (d.kind === 'TwinDefender') twinProbability = d.rawFromScore(r.scores[j][i]);
          else latent[d.label.replace(/^latent:/, '')] = logLik[j]?.[i] ?? d.rawFromScore(r.scores[j][i]);
        });
        return {
          index: i,
          name,
          predicted: r.yPred[i],
          adversarial: r.adversarial[i] === 1,
          scores: { latent, ...(inputPsnr !== undefined ? { inputPsnr } : {}), ...(inputNoiseDb !== undefined ? { inputNoiseDb } : {}), ...(outputMargin !== undefined ? { outputMargin } : {}), ...(twinProbability !== undefined ? { twinProbability } : {}), ...(r.fused ? { fused: r.fused[i] } : {}) },
        };
      });
      const clean = r.report.cleanFalseAlarmRate !== undefined ? { cleanFalseAlarmRate: 100 * r.report.cleanFalseAlarmRate, cleanSamples: r.report.cleanSamples } : {};
      return { results, flagged: results.filter((q) => q.adversarial).length, total: results.length, sp, fusion, ...clean };
    } finally {
      x.dispose();
    }
  } finally {
    det.dispose();
  }
}
